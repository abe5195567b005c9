"""The warm path reads the identity from the file header, and only when the header is the
whole truth: a ``-wal`` holding a newer page 1, or a hot ``-journal`` whose changes are
already in the file, make ``init()`` ask SQLite, which sees the state as committed."""

import sqlite3
from pathlib import Path

import pytest

from tmws_store import NewerSchemaError, Store
from tmws_store.backends.sqlite.connection import header_identity
from tmws_store.schema import APPLICATION_ID, SCHEMA_VERSION

from .helpers import identity, make_v1_store, trace_start_up


def test_a_current_store_starts_without_opening_sqlite(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    statements = trace_start_up(monkeypatch)  # every statement of init()'s own connection

    assert Store(path).init().action == "current"
    assert statements == []
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()


def test_a_newer_version_still_in_the_wal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        # Committed to -wal only: the open connection keeps it from being checkpointed.
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        assert Path(f"{path}-wal").stat().st_size > 0
        # The file's own header still says "current".
        assert identity_in_header(path) == (APPLICATION_ID, SCHEMA_VERSION)
        assert header_identity(path) is None

        with pytest.raises(NewerSchemaError, match=f"schema version {SCHEMA_VERSION + 1}"):
            Store(path).init()
    finally:
        writer.close()


def test_a_hot_journal_is_rolled_back_before_the_version_is_believed(tmp_path: Path) -> None:
    """The file as a crash leaves it between writing a commit's pages and deleting its
    rollback journal: the stamp is in the file, and the journal says it never happened."""
    path = make_v1_store(tmp_path / "tmws.db")
    journal = Path(f"{path}-journal")
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = DELETE")  # a rollback journal, as TMWS's own files use
    con.execute("PRAGMA synchronous = OFF")  # its header then counts every page it holds
    con.execute("BEGIN IMMEDIATE")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # page 1's old bytes: journaled
    saved = journal.read_bytes()
    con.execute("COMMIT")  # the new page 1 is written and the journal deleted...
    con.close()
    journal.write_bytes(saved)  # ...which the crash never got to
    assert identity_in_header(path) == (APPLICATION_ID, SCHEMA_VERSION)
    assert header_identity(path) is None

    report = Store(path).init()

    assert report.action == "upgraded" and report.migrations_run == (SCHEMA_VERSION,)
    assert identity(path) == (APPLICATION_ID, SCHEMA_VERSION)


def identity_in_header(path: Path) -> tuple[int, int]:
    """The two numbers as the file's own first 100 bytes hold them."""
    with path.open("rb") as file:
        header = file.read(100)
    return int.from_bytes(header[68:72], "big"), int.from_bytes(header[60:64], "big")


@pytest.mark.parametrize(
    "damage",
    ["encrypted-looking", "short", "symlink"],
)
def test_anything_but_a_plain_whole_header_is_left_to_sqlite(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    if damage == "encrypted-looking":
        data = bytearray(path.read_bytes())
        data[:16] = bytes(range(16))  # SQLCipher keeps its salt where the magic string was
        path.write_bytes(bytes(data))
    elif damage == "short":
        path.write_bytes(path.read_bytes()[:60])
    else:
        target = tmp_path / "real.db"
        path.rename(target)
        path.symlink_to(target)
    assert header_identity(path) is None
