"""Every example runs, in a subprocess, against a temporary TMWS_HOME and HOME, and leaves no
folder of its own behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import SCHEMA_VERSION, TMWSModel
from tmws_store.backends.sqlite.backup import list_backups

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ALL = len(TMWSModel.metadata.tables)


def run(args: list[str], tmp_path: Path, *, tmws_home: bool = True) -> subprocess.CompletedProcess:
    """Run ``args`` with HOME (and, unless told otherwise, TMWS_HOME) inside ``tmp_path``."""
    # TMPDIR too: the scratch folders the examples make then stay inside this test's tmp_path.
    env = {**os.environ, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path)}
    env.pop("TMWS_DATABASE_URL", None)
    env.pop("TMWS_HOME", None)
    if tmws_home:
        env["TMWS_HOME"] = str(tmp_path / "tmws-home")
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def example(name: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *args]


# The examples and what each must print; a new example must be added here to be tested.
EXPECTED = {
    "quickstart.py": [
        f"created, schema version {SCHEMA_VERSION}; {ALL} tables created",
        "important memory: The team prefers small, reviewed commits. ['process']\ntasks",
        "tasks of athena: ['Review the storage layer']",
        'as JSON: {"',
        '"content":"The team prefers small, reviewed commits."',
        "refused: access_level - Input should be",
    ],
    "async_agent_loop.py": [
        "step 0: newest memory is 'observation 0'",
        "step 2: newest memory is 'observation 2'",
    ],
    "relationships.py": [
        "athena alone: ",
        "none of her 1000 tasks loaded",
        "touching alone.tasks: Agent.tasks was not loaded: ",
        "select(Agent).options(selectinload(Agent.tasks))",
        "athena with her tasks: ",
        "1000 tasks loaded",
        "after Task(assigned_agent=athena): 1001 tasks",
        "async, after athena.tasks.append(...): 1002 tasks",
    ],
    "open_existing_tmws_file.py": [
        "action: adopted",
        f"{ALL - 34} tables created",
        "backup of the original: ",
        "verify: ok",
        "agents kept: ['Hestia']",
    ],
}


def test_every_example_is_tested() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts == {*EXPECTED, "test_with_fixtures.py"}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, tmp_path: Path) -> None:
    result = run(example(script), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for text in EXPECTED[script]:
        assert text in result.stdout
    # The examples that use Store() wrote to TMWS_HOME (relationships.py keeps its file in a
    # scratch folder whatever the environment), and none went near HOME.
    made = (tmp_path / "tmws-home" / "data" / "tmws.db").is_file()
    assert made == (script in {"quickstart.py", "async_agent_loop.py"})
    assert not (tmp_path / "home" / ".tmws").exists()


@pytest.mark.slow
def test_quickstart_a_second_time_finds_the_store_current(tmp_path: Path) -> None:
    assert run(example("quickstart.py"), tmp_path).returncode == 0
    second = run(example("quickstart.py"), tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"current, schema version {SCHEMA_VERSION}" in second.stdout
    assert "tasks of athena: ['Review the storage layer', 'Review the storage layer']" in (
        second.stdout
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_without_tmws_home_the_examples_use_a_scratch_folder_and_leave_none(
    script: str, tmp_path: Path
) -> None:
    # No TMWS_HOME: each example makes its scratch folder in TMPDIR (this tmp_path), and
    # must delete it, with the store and the backups in it. (One run serves both checks:
    # they were two tests running the same examples the same way.)
    result = run(example(script), tmp_path, tmws_home=False)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "home" / ".tmws").exists()
    if script == "quickstart.py":  # its first line names the store it used: under TMPDIR
        used = Path(result.stdout.split(":", 1)[0])
        assert used.parent.parent.parent == tmp_path, result.stdout
        assert used.name == "tmws.db" and not used.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == []


@pytest.mark.slow
def test_open_existing_completes_the_file_given(ref34_copy: Path, tmp_path: Path) -> None:
    result = run(example("open_existing_tmws_file.py", str(ref34_copy)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "action: adopted" in result.stdout and "verify: ok" in result.stdout
    [backup] = list_backups(ref34_copy)
    assert f"backup of the original: {backup}" in result.stdout


@pytest.mark.slow
def test_open_existing_refuses_a_missing_or_foreign_file(tmp_path: Path) -> None:
    missing = run(example("open_existing_tmws_file.py", str(tmp_path / "nope.db")), tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert not (tmp_path / "nope.db").exists()
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 20)
    foreign = run(example("open_existing_tmws_file.py", str(text)), tmp_path)
    assert foreign.returncode == 1 and "refused:" in foreign.stderr
    assert "Traceback" not in foreign.stderr
    assert text.read_text() == "not a database\n" * 20


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_fixture_example_passes_under_pytest(mode: str, tmp_path: Path) -> None:
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         f"asyncio_mode={mode}", "-W", "error", str(EXAMPLES / "test_with_fixtures.py")],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    # The fixtures keep their stores in pytest's temp dirs: TMWS_HOME and HOME stay empty.
    assert not (tmp_path / "tmws-home").exists()
    assert not (tmp_path / "home" / ".tmws").exists()


@pytest.mark.slow
def test_the_fixture_example_run_as_a_script_runs_its_tests(tmp_path: Path) -> None:
    result = run(example("test_with_fixtures.py"), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    assert "warning" not in result.stdout
    assert not (EXAMPLES / ".pytest_cache").exists()


@pytest.mark.slow
def test_the_fixture_example_run_as_a_script_fails_when_a_test_fails(tmp_path: Path) -> None:
    # Its exit status is pytest's: a copy with one failing test exits 1, not 0.
    copy = tmp_path / "test_copy.py"
    source = (EXAMPLES / "test_with_fixtures.py").read_text()
    copy.write_text(source.replace('== ["hello"]', '== ["goodbye"]', 1))
    result = run([sys.executable, str(copy)], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 3 passed" in result.stdout
