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
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from tmws_store import (
    Agent,
    CopyError,
    DatabaseLockedError,
    Memory,
    NotADatabaseError,
    ServerUnavailableError,
    StorageFullError,
    Store,
)
from tmws_store.cli import main
from tmws_store.transfer import copy_store

from ._procs import Workers
from .helpers import (
    INIT_WORKER,
    REF34,
    TMWS_TABLES,
    agents_and_memories,
    all_empty,
    copy_reference,
    counts,
    grow,
    psql,
    raw_counts,
    rows_by_key,
    shape_old_memories,
    table_names,
)

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


# --- 1. the source is never created or changed ---------------------------------------------


def test_a_missing_source_is_an_error_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, out = tmp_path / "nonexist.db", tmp_path / "out.db"
    with pytest.raises(NotADatabaseError, match=f"{missing} does not exist"):
        copy(missing, out)
    assert main(["copy", "--from", str(missing), "--to", str(out)]) == 2  # an error, one line
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1
    assert f"{missing} does not exist" in printed.err
    assert os.listdir(tmp_path) == []  # neither the source nor the destination was made


def test_a_tmws_file_is_copied_without_being_adopted(tmp_path: Path) -> None:
    source = in_a_folder_of_its_own(tmp_path, lambda folder: copy_reference(REF34, folder))
    source.chmod(0o644)  # adoption would make it 0600
    before, counted = fingerprint(source), row_counts(source)
    destination = tmp_path / "copy.db"

    report = copy(source, destination)

    assert fingerprint(source) == before  # same bytes, same mode, no backup beside it
    # The 8 tables the old file lacks are copied as empty.
    assert report.rows == dict.fromkeys(TMWS_TABLES, 0) | counted and report.total > 0
    with Store(destination) as copied:
        assert rows_by_key(copied.engine)["agents"]  # rows, through the models
        assert raw_counts(destination) == report.rows


def test_columns_a_tmws_file_lacks_take_the_models_defaults(tmp_path: Path) -> None:
    source = in_a_folder_of_its_own(tmp_path, shape_old_memories)
    before = fingerprint(source)
    destination = tmp_path / "copy.db"

    report = copy(source, destination)

    assert fingerprint(source) == before
    assert report.rows["memories"] == row_counts(source)["memories"] > 0
    with Store(destination) as copied, copied.session(readonly=True) as session:
        memories = session.exec(select(Memory)).scalars().all()
    # What adoption adds to the existing rows (tests/test_existing_files.py): 1.0 and [].
    assert {(m.learning_weight, tuple(m.pattern_ids)) for m in memories} == {(1.0, ())}


def wal_source(folder: Path, kind: str) -> Path:
    """A WAL-mode source with agents: a tmws_store file, or a TMWS file switched to WAL."""
    if kind == "stamped":
        path = agents_and_memories(folder / "tmws.db")
    else:
        path = copy_reference(REF34, folder)
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode = WAL")
        con.close()
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("kind", ["stamped", "TMWS file"])
def test_a_wal_source_is_read_with_the_commits_still_in_its_wal(tmp_path: Path, kind: str) -> None:
    source = in_a_folder_of_its_own(tmp_path, lambda folder: wal_source(folder, kind))
    holder = sqlite3.connect(source)  # open all along: nothing checkpoints the -wal
    try:
        holder.execute("UPDATE agents SET display_name = display_name || ' (in the WAL)'")
        holder.commit()
        names = sorted(r[0] for r in holder.execute("SELECT display_name FROM agents"))
        assert names and all(name.endswith(" (in the WAL)") for name in names)
        in_the_file = immutable(source, "SELECT display_name FROM agents")
        assert not any(name.endswith(" (in the WAL)") for (name,) in in_the_file)
        wal = Path(f"{source}-wal")
        before, wal_bytes = fingerprint(source), wal.read_bytes()

        report = copy(source, tmp_path / "copy.db")

        assert fingerprint(source) == before and wal.read_bytes() == wal_bytes
    finally:
        holder.close()
    assert report.rows["agents"] == len(names)
    with Store(tmp_path / "copy.db") as copied:
        arrived = sorted(
            row["display_name"] for row in rows_by_key(copied.engine)["agents"].values()
        )
    assert arrived == names


def test_a_closed_wal_store_is_read_without_leaving_files_beside_it(tmp_path: Path) -> None:
    source = in_a_folder_of_its_own(tmp_path, lambda folder: wal_source(folder, "stamped"))
    before = fingerprint(source)
    assert before[2] == ["tmws.db"]  # no -wal: every commit is in the file

    report = copy(source, tmp_path / "copy.db")

    assert fingerprint(source) == before  # no -wal or -shm left behind
    assert report.rows["memories"] == 3 and report.rows["agents"] == 2


def test_a_source_written_during_the_copy_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    source = in_a_folder_of_its_own(tmp_path, lambda folder: wal_source(folder, "stamped"))
    destination = tmp_path / "copy.db"
    wrote = []

    def another_process_writes(step: str, done: int, total: int) -> None:
        if not wrote:  # once: an agent adds a row, and its store checkpoints on closing
            with Store(source) as agent:
                agent.insert_many(Agent, [{"agent_id": "zeus", "display_name": "Zeus"}])
            wrote.append(step)

    changed = pytest.raises(CopyError, match=f"{source} changed while it was being copied")
    with Store(source) as src, Store(destination) as dst, changed:
        copy_store(src, dst, progress=another_process_writes)
    assert wrote and all_empty(f"sqlite:///{destination}") == {}


def test_a_wal_file_without_its_shm_is_refused_untouched(tmp_path: Path) -> None:
    """A -wal copied without its -shm (say, by a file-by-file backup of a live store)."""
    live = agents_and_memories(tmp_path / "live.db")
    folder = tmp_path / "source"
    folder.mkdir()
    holder = sqlite3.connect(live)
    try:
        holder.execute("UPDATE agents SET display_name = 'changed'")
        holder.commit()
        for suffix in ("", "-wal"):
            shutil.copyfile(f"{live}{suffix}", folder / f"tmws.db{suffix}")
    finally:
        holder.close()
    source = folder / "tmws.db"
    before = fingerprint(source)
    with pytest.raises(CopyError, match="has a -wal file but no -shm"):
        copy(source, tmp_path / "copy.db")
    assert fingerprint(source) == before


def test_a_postgres_source_that_is_not_a_store_is_refused_and_left_empty(
    postgres_url: str, tmp_path: Path
) -> None:
    with pytest.raises(CopyError, match="is not a tmws_store store"):
        copy(postgres_url, tmp_path / "copy.db")
    with Store(url=postgres_url) as untouched:
        assert table_names(untouched) == set()  # not created by the copy
    assert os.listdir(tmp_path) == []


def test_a_destination_file_holding_rows_is_refused_before_it_is_adopted(
    tmp_path: Path,
) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    destination = in_a_folder_of_its_own(tmp_path, lambda folder: copy_reference(REF34, folder))
    destination.chmod(0o644)
    before = fingerprint(destination)
    with pytest.raises(CopyError, match=r"already holds rows \(table agent_namespaces\)"):
        copy(source, destination)
    assert fingerprint(destination) == before  # not adopted: no backup, no new mode


# --- 2. the right error class, naming the right store ---------------------------------------


@pytest.mark.slow
def test_a_full_destination_is_storage_full_naming_the_destination(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    source = tmp_path / "source.db"
    with Store(source) as store:
        store.init()
        rows = [
            {"agent_id": "a", "namespace": "n", "content": f"{i}:" + "x" * 20_000}
            for i in range(300)
        ]  # about 6 MB
        store.insert_many(Memory, rows)
    point = request.getfixturevalue("tmpfs")(
        "small", 4 * 1024 * 1024
    )  # room for the schema, not for the rows
    destination = point / "copy.db"

    with pytest.raises(StorageFullError) as full:
        copy(source, destination)

    message = str(full.value)
    assert f"the disk is full while copying into {destination}" in message
    assert str(source) not in message and full.value.path == destination
    grow(point, 64 * 1024 * 1024)
    with Store(destination) as written:
        assert sum(counts(written.engine).values()) == 0  # the one transaction rolled back


@pytest.mark.slow
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

    assert main(["backup", str(dest), "--db", str(source)]) == 2
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


@pytest.mark.parametrize(
    ("sqlstate", "error", "words"),
    [
        ("53100", StorageFullError, "the disk of"),
        ("53200", ServerUnavailableError, "ran out of memory"),
        ("53300", ServerUnavailableError, "has no connection free"),
    ],
    ids=["disk_full", "out_of_memory", "too_many_connections"],
)
def test_each_lack_of_server_resources_is_told_apart(
    sqlstate: str, error: type, words: str, tmp_path: Path, postgres_url: str
) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    with Store(url=postgres_url) as dst:
        dst.init()
    psql(
        postgres_url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{sqlstate}'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON memories FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    with pytest.raises(error) as refused:
        copy(source, postgres_url)
    assert type(refused.value) is error and words in str(refused.value)
    assert "copying into" in str(refused.value) and str(source) not in str(refused.value)
    assert all_empty(postgres_url) == {}


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
