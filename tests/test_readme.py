"""What the README shows runs, and what it claims is what the code does."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def run_pytest(test_file: Path, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """pytest on ``test_file`` in a run of its own (no ini file: pytest-asyncio is strict)."""
    args = [
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    ]
    return run([sys.executable, *args, *options, str(test_file)], tmp_path)


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
