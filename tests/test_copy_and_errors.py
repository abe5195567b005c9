"""``copy`` never touches its source; errors name the right store with the right class;
PostgreSQL's start-up lock is held only while the server runs prepared DDL.

Every failure here is provoked for real: a missing file, a TMWS file, a WAL file whose last
commits sit in its ``-wal`` while another connection holds it open, a writer that changes a
file during the copy, a full tmpfs, a PostgreSQL role with one connection slot, triggers
that raise the server's own SQLSTATEs, a write lock held by another connection, and eight
processes starting at once.
"""

import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from tmws_store import (
    Agent,
    DatabaseLockedError,
    StorageFullError,
    Store,
)
from tmws_store.cli import main
from tmws_store.errors import ServerUnavailableError
from tmws_store.transfer import copy_store

from ._procs import Workers
from .conftest import TMWS_TABLES
from .test_backends import INIT_WORKER, psql, table_names
from .test_disk_full import grow, tmpfs  # noqa: F401  (the fixture, asked for by name)
from .test_transfer import agents_and_memories

# --- helpers --------------------------------------------------------------------------------


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """The file's bytes (as a hash), its permission bits, and its folder's listing."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, stat.S_IMODE(path.stat().st_mode), sorted(os.listdir(path.parent))


def immutable(path: Path, sql: str) -> list[tuple]:
    """Rows from the main file alone, opened so that nothing is made beside it.

    What is still in a -wal file is not seen. (``mode=ro`` would leave a -wal and a -shm
    beside a WAL file, as the TMWS reference files are.)
    """
    con = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def row_counts(path: Path) -> dict[str, int]:
    """Rows per table of a file, read as ``immutable``."""
    names = [r[0] for r in immutable(path, "SELECT name FROM sqlite_master WHERE type='table'")]
    return {name: immutable(path, f'SELECT count(*) FROM "{name}"')[0][0] for name in names}


def copy(source: Path | str, destination: Path | str):
    """``copy_store`` between two paths or URLs, closing both stores."""

    def open_(where: Path | str) -> Store:
        return Store(url=str(where)) if "://" in str(where) else Store(where)

    with open_(source) as src, open_(destination) as dst:
        return copy_store(src, dst)


def in_a_folder_of_its_own(tmp_path: Path, make) -> Path:
    """A source made by ``make(folder)`` alone in a folder, so its listing is its own."""
    folder = tmp_path / "source"
    folder.mkdir()
    return make(folder)


# --- 2. the right error class, naming the right store ---------------------------------------


def test_a_backup_to_a_full_disk_names_the_backup(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    point = request.getfixturevalue("tmpfs")("tiny", 512 * 1024)  # the schema alone is about 1.3 MB
    dest = point / "backup.db"
    with Store(source) as store, pytest.raises(StorageFullError) as full:
        store.backup(dest)
    assert str(full.value).startswith(
        f"the disk is full (or over a file size limit) while writing the backup {dest} of {source}"
    )
    assert full.value.path == dest and os.listdir(point) == []

    assert main(["backup", str(dest), "--db", str(source)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"tmws-store backup: the disk is full (or over a file size limit) "
        f"while writing the backup {dest}"
    )
    assert os.listdir(point) == []


@pytest.fixture
def one_slot_role(postgres_url: str) -> Iterator[str]:
    """The store's URL as a new role that may hold one connection at a time."""
    with Store(url=postgres_url) as store:
        store.init()
    role = f"one_{postgres_url.rsplit('_', 1)[-1]}"  # roles are per server: one per test
    psql(postgres_url, f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1")
    try:
        yield postgres_url.replace("//tmws@", f"//{role}@")
    finally:
        psql(postgres_url, f"DROP ROLE {role}")


def test_too_many_connections_at_start_up_is_not_a_full_disk(one_slot_role: str) -> None:
    plain = one_slot_role.replace("postgresql+psycopg://", "postgresql://")
    taken = psycopg.connect(plain)  # the role's one slot
    with taken, Store(url=one_slot_role) as store, pytest.raises(ServerUnavailableError) as refused:
        store.init()
    assert "too many connections" in str(refused.value)
    assert str(refused.value).startswith("could not connect to ")
    assert not isinstance(refused.value, StorageFullError | DatabaseLockedError)


def test_too_many_connections_in_a_second_session_is_not_a_raw_error(one_slot_role: str) -> None:
    with Store(url=one_slot_role) as store, store.session() as first:
        first.connection()  # holds the role's only connection
        refused = pytest.raises(ServerUnavailableError, match="too many connections")
        with refused, store.session() as second:
            second.connection()


def test_a_lock_held_in_this_process_is_not_blamed_on_another_process(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as holder, holder.session() as holding:
        holding.connection()  # BEGIN IMMEDIATE: the write lock, held until the block ends
        other = Store(path, busy_timeout=0.1)
        with other, pytest.raises(DatabaseLockedError) as locked, other.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
    message = str(locked.value)
    assert "another connection" in message and "another process" not in message
    with Store(path) as store, store.session(readonly=True) as session:
        assert session.exec(select(Agent)).all() == []  # nothing was written


# --- 3. PostgreSQL's start-up lock covers only the prepared statements ----------------------

# Prepended to test_backends' INIT_WORKER: each process that takes init()'s advisory lock
# reports whether the models were already imported (the DDL compiled) when it asked for the
# lock, and the CPU time it spent holding it.
LOCK_PROBE = """
from sqlalchemy import Engine, event

_held = {}

@event.listens_for(Engine, "before_cursor_execute")
def _asking(conn, cursor, statement, *args):
    if "pg_advisory_xact_lock" in statement:
        _held["prepared"] = "tmws_store.models" in sys.modules

@event.listens_for(Engine, "after_cursor_execute")
def _taken(conn, cursor, statement, *args):
    if "pg_advisory_xact_lock" in statement:
        _held["cpu"] = time.process_time()

@event.listens_for(Engine, "commit")
def _released(conn):
    if "cpu" in _held:
        cpu = time.process_time() - _held.pop("cpu")
        report("lock", {"prepared": _held["prepared"], "cpu": cpu})
"""


@pytest.mark.slow
def test_eight_fresh_starts_create_once_and_hold_the_lock_only_to_run_ddl(
    postgres_url: str, tmp_path: Path
) -> None:
    sync = tmp_path / "sync"
    sync.mkdir()
    (sync / "targets.json").write_text(json.dumps([postgres_url]))
    workers = Workers(LOCK_PROBE + INIT_WORKER, 8, sync)
    workers.release("round0")
    results = workers.results("round0")
    workers.finish()
    assert all(res["ok"] for res in results), results
    assert sorted(res["action"] for res in results) == ["created"] + ["current"] * 7
    with Store(url=postgres_url) as store:
        assert table_names(store) == TMWS_TABLES
    held = [json.loads(p.read_text()) for p in sync.glob("result-lock-*.json")]
    assert held and all(h["prepared"] for h in held), held  # compiled before the lock
    # Inside the lock a process only sends prepared text: 0.03-0.07 s of CPU for the one that
    # creates (CPU time, not wall time, so a busy machine does not make it fail). Importing
    # the models and compiling the DDL there, as before, took about 0.35 s.
    assert max(h["cpu"] for h in held) < 0.2, held
