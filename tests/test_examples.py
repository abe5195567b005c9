"""Every example runs, in a subprocess, against a temporary TMWS_HOME."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMWS_HOME": str(home), "HOME": str(home.parent)}
    env.pop("TMWS_DATABASE_URL", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("quickstart.py", ["42 tables created", "tasks of athena: ['Review the storage layer']",
                           "refused: access_level"]),
        ("async_agent_loop.py", ["step 2: newest memory is 'observation 2'"]),
        ("open_existing_tmws_file.py", ["adopted", "8 tables created", "backup of the original:",
                                        "verify: ok"]),
    ],
)  # fmt: skip
def test_example_runs(script: str, expected: list[str], tmp_path: Path) -> None:
    home = tmp_path / "tmws-home"
    result = run([sys.executable, str(EXAMPLES / script)], home)
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout
    if script != "open_existing_tmws_file.py":
        assert (home / "data" / "tmws.db").is_file()


def test_quickstart_twice_reuses_the_store(tmp_path: Path) -> None:
    home = tmp_path / "tmws-home"
    run([sys.executable, str(EXAMPLES / "quickstart.py")], home)
    second = run([sys.executable, str(EXAMPLES / "quickstart.py")], home)
    assert second.returncode == 0, second.stderr
    assert "current" in second.stdout


def test_the_fixture_example_passes_under_pytest(tmp_path: Path) -> None:
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(EXAMPLES / "test_with_fixtures.py")],
        tmp_path / "tmws-home",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    assert not (tmp_path / "tmws-home").exists()  # the fixtures never touch TMWS_HOME
