"""Files refused before the first write: triggers or views we did not make, and damage.

A trigger's SQL runs inside the store's own writes whatever ``trusted_schema`` says, so a
TMWS file carrying one is not adopted or upgraded; a damaged file is not written into, backed
up or chmod'ed. Every test works on copies of the shared reference files, altered for real
(SQL through plain sqlite3, bytes written over a page, a file cut short), and checks that a
refused file is byte-for-byte and mode-for-mode what it was, with nothing made beside it.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import NotADatabaseError, Store

from .conftest import REF34, REF42, copy_reference
from .test_existing_files import file_digest


def state(path: Path) -> tuple[str, int, list[str]]:
    """The file's digest and mode, and every name in its folder: all a refusal must keep."""
    return file_digest(path), path.stat().st_mode, sorted(p.name for p in path.parent.iterdir())


# --- damaged files -------------------------------------------------------------------------


def truncated(tmp: Path) -> Path:
    """The first 3 pages of a real TMWS file, as a copy cut short leaves it."""
    path = tmp / "truncated.db"
    path.write_bytes(copy_reference(REF42, tmp).read_bytes()[: 3 * 4096])
    return path


def header_only(tmp: Path) -> Path:
    """Only the 100-byte SQLite header of a real TMWS file."""
    path = tmp / "header.db"
    path.write_bytes(copy_reference(REF34, tmp).read_bytes()[:100])
    return path


@pytest.mark.parametrize("make", [truncated, header_only])
def test_a_file_cut_short_raises_not_a_database(make, tmp_path: Path) -> None:
    path = make(tmp_path)
    before = state(path)
    with pytest.raises(NotADatabaseError, match="is damaged") as refused:
        Store(path).init()
    assert str(path) in str(refused.value)
    assert state(path) == before

    result = subprocess.run(
        [sys.executable, "-m", "tmws_store", "--db", str(path), "init"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tmws-store init: {path} is damaged (")
    assert state(path) == before
