"""Files refused before the first write: triggers or views we did not make, and damage.

A trigger's SQL runs inside the store's own writes whatever ``trusted_schema`` says, so a
TMWS file carrying one is not adopted or upgraded; a damaged file is not written into, backed
up or chmod'ed. Every test works on copies of the shared reference files, altered for real
(SQL through plain sqlite3, bytes written over a page, a file cut short), and checks that a
refused file is byte-for-byte and mode-for-mode what it was, with nothing made beside it.
"""

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import NotADatabaseError, Store

from .conftest import REF34, REF42, copy_reference
from .test_existing_files import file_digest

REFERENCES = pytest.mark.parametrize("reference", [REF42, REF34], ids=["42-tables", "34-tables"])


def state(path: Path) -> tuple[str, int, list[str]]:
    """The file's digest and mode, and every name in its folder: all a refusal must keep."""
    return file_digest(path), path.stat().st_mode, sorted(p.name for p in path.parent.iterdir())


# --- damaged files -------------------------------------------------------------------------


def overwrite_page(path: Path, page: int, seed: int) -> None:
    """Write random bytes over page ``page`` (1-based) of the file, as a failing disk might."""
    con = sqlite3.connect(path)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    with path.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(random.Random(seed).randbytes(page_size))


def root_page(path: Path, name: str) -> int:
    con = sqlite3.connect(path)
    try:
        (page,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,))
        return page[0]
    finally:
        con.close()


def quick_check(path: Path) -> list[str]:
    """What plain sqlite3's quick_check says, or the error that stopped it."""
    con = sqlite3.connect(path)
    try:
        return [row[0] for row in con.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        return [f"{exc.sqlite_errorname}: {exc}"]
    finally:
        con.close()


# The memories table's only page (quick_check stops on it: SQLITE_CORRUPT) and a page of one
# of its indexes (quick_check reports it and goes on).
DAMAGED_PAGES = {
    "table page": ("memories", "SQLITE_CORRUPT: database disk image is malformed"),
    "index page": ("ix_memories_namespace", "btreeInitPage() returns error code 11"),
}


@REFERENCES
@pytest.mark.parametrize("where", DAMAGED_PAGES)
def test_a_damaged_page_is_refused_before_any_write(
    reference: Path, where: str, tmp_path: Path
) -> None:
    path = copy_reference(reference, tmp_path)
    name, finding = DAMAGED_PAGES[where]
    overwrite_page(path, root_page(path, name), seed=len(name))
    assert finding in "\n".join(quick_check(path))  # the control: SQLite sees the damage
    path.chmod(0o644)  # adoption would tighten it to 0600 first thing
    before = state(path)
    with pytest.raises(NotADatabaseError, match=r"is damaged \(PRAGMA quick_check: ") as refused:
        Store(path).init()
    message = str(refused.value)
    assert str(path) in message and finding.split(": ")[-1] in message and "\n" not in message
    assert state(path) == before  # bytes and mode; no backup, no -wal


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
