"""What the README shows runs, and what it claims is what the code does.

Every code block of README.md is run, each in a fresh process from an empty temp dir, with
HOME, TMWS_HOME and TMPDIR inside it (``environment``):

- a Python block is run as a script (``python block.py``); one that defines ``test_``
  functions is a test file, and is run under pytest, with no ini file (pytest-asyncio in its
  default strict mode);
- a bash block is run with ``bash -eu``, with this interpreter's ``python`` and
  ``tmws-store`` first on the PATH, unless it is listed in ``EXEMPT_BASH`` with the reason
  it cannot run here. That list must name exactly blocks that are present, so a new block is
  run, never skipped unnoticed.
"""

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tmws_store import TMWSModel, credentials

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def environment(tmp_path: Path) -> dict[str, str]:
    """A user's environment inside ``tmp_path``: HOME, TMWS_HOME and TMPDIR there, this tree's
    package first on the path, and the ``tmws-store`` command of this interpreter's venv."""
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "TMWS_HOME": str(tmp_path / "tmws-home"),
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    env.pop("TMWS_DATABASE_URL", None)
    return env


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``args`` in a fresh process, from ``tmp_path``, with ``environment(tmp_path)``."""
    return subprocess.run(
        args, capture_output=True, text=True, cwd=tmp_path, env=environment(tmp_path), timeout=300
    )


# Options of every inner pytest run: no cache folder, and pytest-asyncio's loop scope given,
# so that it has no default to warn about.
PYTEST_OPTIONS = ("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")


def run_pytest(test_file: Path, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """pytest on ``test_file`` in a run of its own (no ini file: pytest-asyncio is strict)."""
    return run(
        [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, *options, str(test_file)], tmp_path
    )


# --- the README's code blocks --------------------------------------------------------------

_FENCE = re.compile(
    r"^```(?P<language>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README."""

    language: str
    code: str
    line: int  # of its opening fence
    section: str  # the "## " heading it is under

    @property
    def label(self) -> str:
        return f"README.md:{self.line}"

    @property
    def first_command(self) -> str:
        """Its first line without the comment and extra spaces: how EXEMPT_BASH names it."""
        first = self.code.splitlines()[0]
        return " ".join(first.split(" #", 1)[0].split())

    @property
    def is_test_file(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.MULTILINE) is not None


def readme_blocks() -> list[Block]:
    text = README.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^## (.+)$", before, re.MULTILINE)
        blocks.append(
            Block(
                language=match["language"].strip(),
                code=match["code"],
                line=before.count("\n") + 1,
                section=headings[-1] if headings else "",
            )
        )
    return blocks


# The bash blocks that cannot run here, by first command, and why. A block not listed is run.
EXEMPT_BASH = {
    "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/tmws-store init": (
        "makes a virtual environment and installs the package and its dependencies into it: "
        "minutes, and a package index"
    ),
    'python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && .venv/bin/python -m '
    "pytest -n auto --dist worksteal": "the same, then the whole suite, this file included",
    "pip install .": "installs packages into the environment running the tests",
    'pip install ".[postgres]"': (
        "installs psycopg, then needs createdb and a PostgreSQL server at dbhost"
    ),
}

BLOCKS = readme_blocks()
PYTHON_BLOCKS = [block for block in BLOCKS if block.language == "python"]
BASH_BLOCKS_RUN = [
    block for block in BLOCKS if block.language == "bash" and block.first_command not in EXEMPT_BASH
]


def test_every_block_is_python_or_bash_and_python_blocks_are_complete() -> None:
    assert BLOCKS, "no code block found in README.md"
    assert {block.language for block in BLOCKS} <= {"python", "bash"}
    for block in PYTHON_BLOCKS:
        # Plain compile: a top-level "await" or "async with" is a SyntaxError for a reader too.
        compile(block.code, block.label, "exec", flags=0, dont_inherit=True)


def test_the_exempt_bash_blocks_are_exactly_blocks_present() -> None:
    commands = [block.first_command for block in BLOCKS if block.language == "bash"]
    for command in EXEMPT_BASH:
        # One block each: a name matching none is stale, one matching two would hide a block.
        assert commands.count(command) == 1, f"EXEMPT_BASH: {command!r} names no single block"
    assert BASH_BLOCKS_RUN, "no bash block is run at all"


def test_ci_runs_the_readme_test_command() -> None:
    # "the same test command that the README gives": the last word of .ci/run is the command
    # that closes the README's second block (run there from the venv's bin folder).
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_command = [line for line in ci_lines if line.startswith("python -m pytest")]
    assert len(ci_command) == 1, ci_command
    setup_and_test = [block for block in BLOCKS if '-e ".[test]"' in block.code]
    assert len(setup_and_test) == 1
    assert setup_and_test[0].code.strip().endswith("&& .venv/bin/" + ci_command[0])


def run_block(block: Block, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run one Python block as a script, or under pytest if it is a test file."""
    if block.is_test_file:
        test_file = tmp_path / "test_readme_block.py"
        test_file.write_text(block.code)
        return run_pytest(test_file, tmp_path, "-W", "error")
    script = tmp_path / "readme_block.py"
    script.write_text(block.code)
    return run([sys.executable, str(script)], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.label)
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    result = run_block(block, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    if block.is_test_file:
        assert re.search(r"\b1 passed\b", result.stdout), result.stdout
    else:
        assert result.stderr == ""
    assert not (tmp_path / "home" / ".tmws").exists()  # TMWS_HOME, never HOME


@pytest.mark.slow
def test_the_tour_runs_twice_on_the_same_store(tmp_path: Path) -> None:
    [tour, *_] = [block for block in PYTHON_BLOCKS if block.section == "A tour of the API"]
    first = run_block(tour, tmp_path)
    assert first.returncode == 0, first.stderr
    assert ": created, schema version" in first.stdout
    second = run_block(tour, tmp_path)
    assert second.returncode == 0, second.stderr
    assert ": current, schema version" in second.stdout
    assert '"content":"WAL mode is on"' in second.stdout


@pytest.mark.slow
@pytest.mark.parametrize("block", BASH_BLOCKS_RUN, ids=lambda block: block.label)
def test_bash_block_runs(block: Block, tmp_path: Path) -> None:
    result = run(["bash", "-eu", "-c", block.code], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "home" / ".tmws").exists()


# --- claims -----------------------------------------------------------------------------------


def test_every_pip_install_command_installs_from_the_clone() -> None:
    # The package is not on PyPI: "tmws-store[postgres]" would fail where ".[postgres]" works.
    commands = "\n".join(block.code for block in BLOCKS if block.language == "bash")
    targets = re.findall(r"pip install (?:-\S+ )*(\S+)", commands)
    assert targets
    for target in targets:
        assert re.fullmatch(r'"?\.(\[\w+\])?"?', target), target


def test_the_models_reference_is_linked() -> None:
    assert "(docs/models.md)" in README.read_text()
    assert (ROOT / "docs" / "models.md").is_file()


def secrets_table() -> list[dict[str, str]]:
    """The rows of the README's table of secrets, each keyed by the header's cells."""
    text = README.read_text()
    start = text.index("| secret | column |")
    lines = text[start:].split("\n\n", 1)[0].splitlines()
    header, _, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    return [dict(zip(header, row, strict=True)) for row in rows]


# What each credentials helper writes into its column, made with the helper's defaults.
HASH_MADE_BY: dict[str, Callable[[], str]] = {
    "hash_password": lambda: credentials.hash_password("correct horse"),
    "issue_agent_api_key": lambda: credentials.issue_agent_api_key().api_key_hash,
    "issue_api_key": lambda: credentials.issue_api_key().key_hash,
    "issue_refresh_token": lambda: credentials.issue_refresh_token().token_hash,
    "hash_license_key": lambda: credentials.hash_license_key("TMWS-PRO-0001"),
}

# Each form the table may claim, as the whole stored value.
CLAIMED_FORMAT = {
    "bcrypt `$2b$12$`": r"\$2b\$12\$[./A-Za-z0-9]{53}",
    "SHA-256, 64 hex digits": r"[0-9a-f]{64}",
}


def test_the_secrets_table_says_what_each_helper_writes() -> None:
    rows = secrets_table()
    helpers = {row["helper"].strip("`").removesuffix("()") for row in rows}
    assert helpers == set(HASH_MADE_BY)  # every helper that makes a stored hash, no other
    columns = {f"{t.name}.{c.name}" for t in TMWSModel.metadata.tables.values() for c in t.columns}
    for row in rows:
        helper = row["helper"].strip("`").removesuffix("()")
        assert row["column"].strip("`") in columns, row
        claim = row["helper writes"]
        assert claim in CLAIMED_FORMAT, f"{helper}: unknown claim {claim!r}"
        made = HASH_MADE_BY[helper]()
        assert re.fullmatch(CLAIMED_FORMAT[claim], made), f"{helper} wrote {made!r}, not {claim}"
        # What TMWS stores and what we write are the same kind of hash, or TMWS could not
        # check our rows.
        assert row["TMWS stores"].split()[0] == claim.split()[0].rstrip(","), row


# --- the plugin's async fixture in pytest-asyncio's strict mode ----------------------------


@pytest.mark.slow
def test_an_unmarked_async_test_is_told_to_add_the_asyncio_mark(tmp_path: Path) -> None:
    test_file = tmp_path / "test_unmarked.py"
    test_file.write_text(
        textwrap.dedent(
            """
            from tmws_store import Agent

            async def test_unmarked(tmws_async_session):
                tmws_async_session.add(Agent(agent_id="a", display_name="A"))
                await tmws_async_session.flush()
            """
        )
    )
    result = run_pytest(test_file, tmp_path, "-o", "asyncio_mode=strict")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout
    assert "is not marked @pytest.mark.asyncio" in result.stdout
    assert "not natively supported" not in result.stdout  # pytest's own, unhelpful message
