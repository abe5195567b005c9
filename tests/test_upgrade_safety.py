"""The upgrade to schema version 2 under stress (#15): killed at every statement, run by many
processes at once, faced with a newer store, and short of disk.

Every failure is provoked for real: a child process SIGKILLs itself in the middle of
``init()``, eight processes are released at a barrier, the store is stamped by a newer
version, the file sits on a tmpfs too small for the upgrade.
"""

import json
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tmws_store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    Agent,
    NewerSchemaError,
    StorageFullError,
    Store,
)
from tmws_store.backends.postgresql import STAMP_TABLE, stamp_text
from tmws_store.migrations.v2 import NEW_INDEXES

from ._postgres import PostgresServer, fresh_database
from ._procs import INIT_IMPORTS, Workers
from .helpers import (
    REF42,
    add_through_models,
    adopt_with_v1_chain,
    copy_reference,
    file_digest,
    identity,
    integrity,
    make_v1_postgres,
    make_v1_store,
    pg_catalog,
    pg_query,
    pg_rows,
    reference_row_data,
    run_sql,
    schema_of,
    small_tmpfs,
    table_columns,
    trace_start_up,
    typed_rows,
)

Schema = frozenset[tuple[str, str, str, str | None]]

# --- 1. kill -9 at every statement of the upgrade ---------------------------------------------

# Imports everything init() loads on its way, once; then, for each line "PATH<TAB>N" on stdin,
# forks a child that runs Store(PATH).init() and SIGKILLs itself when its start-up connection
# is about to run its statement number N (counted from 0, as trace_start_up records them),
# and prints how the child ended (-9: killed; 0: init() returned first). Forking from a loaded
# interpreter makes each trial cost the init() alone, not a second of imports.
KILL_AT_STATEMENT_CHILD = textwrap.dedent(
    """
    import os, signal, sys, traceback
    import alembic.migration, alembic.operations
    import tmws_store.migrations, tmws_store.models
    from tmws_store import Store
    from tmws_store.backends.sqlite import completion, migrate, startup

    real_connect = startup.connect

    def init_killed_at(path, at):
        seen = 0

        def count(statement):
            nonlocal seen
            if seen == at:
                os.kill(os.getpid(), signal.SIGKILL)
            seen += 1

        def traced(p, t, key=None):
            con = real_connect(p, t, key)
            con.set_trace_callback(count)
            return con

        startup.connect = traced
        Store(path).init()

    print("ready", flush=True)
    for line in sys.stdin:
        path, at = line.rstrip("\\n").split("\\t")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                init_killed_at(path, int(at))
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
    """
)

# Up to this many statements, every one is a kill point; beyond, those of the migration's
# transaction (but the inside of its runs of reads) and the ones where the other transactions
# begin, write and end.
EVERY_STATEMENT_UP_TO = 60
# Statements that only read: killed before any of a run of them, the file is in the same state
# (what the transaction wrote before the run), so the first and last of each run stand for
# the rest. Anything else (a write, BEGIN, COMMIT, an unknown form) is always a kill point.
READS = ("SELECT ", "PRAGMA main.", "PRAGMA temp.", "-- ")
WRITES = ("CREATE", "DROP", "INSERT", "ALTER", "PRAGMA application_id =", "PRAGMA user_version =")
STAMPS = ("PRAGMA application_id =", "PRAGMA user_version =")


@contextmanager
def killing_child() -> Iterator[subprocess.Popen[str]]:
    """The forking child above, once it has loaded everything; killed at the end."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_AT_STATEMENT_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        yield child
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


def traced_upgrade(path: Path) -> list[str]:
    """The statements of one uninterrupted init() of ``path``, which it upgrades."""
    with pytest.MonkeyPatch.context() as patch:
        statements = trace_start_up(patch)
        with Store(path) as store:
            assert store.init().schema_version == SCHEMA_VERSION
            assert store.verify().ok, store.verify().problems()
    return list(statements)


def kill_points(statements: list[str]) -> list[int]:
    """Where to kill: every statement, or, for a long start-up, every statement of the last
    transaction (the migration's) but those inside a run of reads (``READS``), and a few
    before it: the first statement, and each BEGIN, first write, stamp and COMMIT of the
    others, with their neighbours."""
    count = len(statements)
    if count <= EVERY_STATEMENT_UP_TO:
        return list(range(count))
    begins = [i for i, s in enumerate(statements) if s == "BEGIN IMMEDIATE"]
    writes = [i for i, s in enumerate(statements) if s.startswith(WRITES)]
    first_writes = [min((w for w in writes if w > b), default=b) for b in begins]
    stamps = [i for i, s in enumerate(statements) if s.startswith(STAMPS)]
    commits = [i for i, s in enumerate(statements) if s == "COMMIT"]
    turning = [*begins, *first_writes, *stamps, *commits]
    around = {0} | {i + step for i in turning for step in (-1, 0, 1)}
    migration = {
        i + step
        for i in range(begins[-1], count)
        if not statements[i].lstrip().startswith(READS)
        for step in (-1, 0, 1)
    }
    return sorted(i for i in around | migration if 0 <= i < count)


def states_and_schemas(
    original: Path, upgraded: Path, folder: Path
) -> dict[tuple[int, int], Schema]:
    """The schema the file may have in each state (application id, version) it may be left
    in: as it was, at version 1 (a TMWS file as the version-1 chain adopts it, before its
    migration), and at the head."""
    head = (APPLICATION_ID, SCHEMA_VERSION)
    states = {identity(original): schema_of(original), head: schema_of(upgraded)}
    if (APPLICATION_ID, 1) not in states:
        folder.mkdir()
        adopted = folder / original.name
        adopted.write_bytes(original.read_bytes())
        adopt_with_v1_chain(adopted)
        states[identity(adopted)] = schema_of(adopted)
    return states


def make_v1_store_with_rows(folder: Path) -> Path:
    path = make_v1_store(folder / "tmws.db")
    with Store(path) as store:
        add_through_models(store, reference_row_data(folder / "reference"))
    return path


def make_tmws_file(folder: Path) -> Path:
    return copy_reference(REF42, folder)


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [make_v1_store_with_rows, make_tmws_file],
    ids=["v1 store with rows", "TMWS 42-table file adopted then migrated"],
)
def test_kill_at_every_statement_leaves_a_whole_version(
    make: Callable[[Path], Path], tmp_path: Path
) -> None:
    (tmp_path / "original").mkdir()
    original = make(tmp_path / "original")
    columns = table_columns(original)
    before = typed_rows(original)
    (tmp_path / "traced").mkdir()
    upgraded = tmp_path / "traced" / original.name
    upgraded.write_bytes(original.read_bytes())
    statements = traced_upgrade(upgraded)
    schemas = states_and_schemas(original, upgraded, tmp_path / "v1-adopted")
    points = kill_points(statements)

    landed: Counter[tuple[int, int]] = Counter()
    with killing_child() as child:
        assert child.stdin is not None and child.stdout is not None
        trials = []
        for at in [*points, len(statements)]:  # the last: never reached, init() returns
            trial = tmp_path / f"at{at}" / original.name
            trial.parent.mkdir()
            trial.write_bytes(original.read_bytes())
            trials.append((at, trial))
            child.stdin.write(f"{trial}\t{at}\n")
        child.stdin.flush()  # the child works on the next trials while this checks each one
        for at, trial in trials:
            ended = int(child.stdout.readline())
            where = (
                f"killed before statement {at} ({statements[at][:60]!r})"
                if at < len(statements)
                else "not killed"
            )
            assert ended == (-signal.SIGKILL if at < len(statements) else 0), where

            assert integrity(trial) == "ok", where
            state = identity(trial)
            assert state in schemas, f"{where}: left as {state}"
            assert schema_of(trial) == schemas[state], f"{where}: {state} with another schema"
            assert typed_rows(trial, columns) == before, where
            landed[state] += 1

            with Store(trial) as store:
                report = store.init()  # finishes the job
            assert report.action == {0: "adopted", 1: "upgraded", 2: "current"}[state[1]], where
            assert identity(trial) == (APPLICATION_ID, SCHEMA_VERSION), where
            assert schema_of(trial) == schemas[APPLICATION_ID, SCHEMA_VERSION], where
            assert typed_rows(trial, columns) == before, where
            assert not [p.name for p in trial.parent.iterdir() if p.name.endswith(".partial")]
    # Kills landed on both sides of every commit: the old version, the new, and between.
    assert set(landed) == set(schemas), landed


# --- 2. eight processes upgrading one store at once -------------------------------------------

# Each worker starts every round's store at the barrier; the stores are in SYNC/stores.json,
# each the keyword arguments of its Store (a path, or a PostgreSQL url).
UPGRADE_WORKER = """
from tmws_store import Store
for round_, where in enumerate(json.loads((SYNC / "stores.json").read_text())):
    wait_for(f"round{round_}")
    try:
        with Store(**where) as store:
            done = store.init()
        report(f"round{round_}", {"ok": True, "action": done.action,
                                  "ran": list(done.migrations_run),
                                  "backup": str(done.backup) if done.backup else None})
    except Exception as exc:
        report(f"round{round_}", {"ok": False, "error": repr(exc)})
"""
WORKERS = 8
ROUNDS = 3


def race_upgrades(stores: list[dict[str, str]], sync: Path) -> Iterator[list[dict[str, object]]]:
    """Release the eight workers at each store in turn; yields each round's reports."""
    sync.mkdir()
    (sync / "stores.json").write_text(json.dumps(stores))
    workers = Workers(UPGRADE_WORKER, WORKERS, sync, preload=INIT_IMPORTS)
    for round_ in range(len(stores)):
        workers.release(f"round{round_}")
        yield workers.results(f"round{round_}")
    workers.finish()


def assert_the_step_ran_once(results: list[dict[str, object]]) -> dict[str, object]:
    """Every process succeeded and exactly one ran the migration; returns that one's report."""
    assert all(result["ok"] for result in results), results
    runners = [result for result in results if result["ran"] == [SCHEMA_VERSION]]
    assert len(runners) == 1, results
    assert runners[0]["action"] == "upgraded"
    others = [result for result in results if result is not runners[0]]
    assert all(r["ran"] == [] and r["action"] in ("current", "upgraded") for r in others), results
    return runners[0]


@pytest.mark.slow
def test_eight_processes_upgrade_one_sqlite_file_at_once(tmp_path: Path) -> None:
    rows = reference_row_data(tmp_path)
    paths, befores = [], []
    for round_ in range(ROUNDS):
        (tmp_path / f"round{round_}").mkdir()
        path = make_v1_store(tmp_path / f"round{round_}" / "tmws.db")
        with Store(path) as store:
            add_through_models(store, rows)
        paths.append(path)
        befores.append(typed_rows(path))
    stores = [{"path": str(path)} for path in paths]
    rounds = race_upgrades(stores, tmp_path / "sync")
    for path, before, results in zip(paths, befores, rounds, strict=True):
        runner = assert_the_step_ran_once(results)
        backups = [p for p in path.parent.iterdir() if ".backup-" in p.name]
        assert [str(p) for p in backups] == [runner["backup"]]  # one copy, by the one that ran
        assert backups[0].name.endswith("before-upgrade-from-v1")
        assert typed_rows(backups[0]) == before
        assert identity(path) == (APPLICATION_ID, SCHEMA_VERSION)
        assert integrity(path) == "ok"
        assert typed_rows(path) == before
        with Store(path) as store:
            check = store.verify()
        assert check.ok, check.problems()


@pytest.mark.slow
def test_eight_processes_upgrade_one_postgresql_store_at_once(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rows = reference_row_data(tmp_path)
    with ExitStack() as stack:
        urls = [stack.enter_context(fresh_database(postgres_server)) for _ in range(ROUNDS)]
        befores = []
        for url in urls:
            make_v1_postgres(url)
            with Store(url=url) as store:
                add_through_models(store, rows)
            befores.append(pg_rows(url))
        rounds = race_upgrades([{"url": url} for url in urls], tmp_path / "sync")
        for url, before, results in zip(urls, befores, rounds, strict=True):
            runner = assert_the_step_ran_once(results)
            assert runner["backup"] is None  # the server's data is backed up by its own tools
            assert pg_catalog(url)[0] == stamp_text(SCHEMA_VERSION)
            assert pg_rows(url) == before
            with Store(url=url) as store:
                check = store.verify()
            assert check.ok, check.problems()


# --- 3. a store of a newer version is refused untouched ---------------------------------------

NEWER = SCHEMA_VERSION + 1
# What a newer version might have done to the schema: a table of its own, and one of this
# version's indexes gone, which this version's init() would want back.
NEWER_SCHEMA = (
    "CREATE TABLE future_things (id INTEGER PRIMARY KEY, note TEXT)",
    "INSERT INTO future_things VALUES (1, 'kept')",
    f"DROP INDEX {NEW_INDEXES[0][0]}",
)


def assert_refused_as_newer(store: Store, where: str) -> None:
    """init(), and a first session (which runs it), both refuse, naming store and version."""
    with pytest.raises(NewerSchemaError, match=f"schema version {NEWER}") as info:
        store.init()
    assert where in str(info.value)
    with pytest.raises(NewerSchemaError), store.session() as session:
        session.add(Agent(agent_id="never", display_name="Never"))


def test_a_newer_sqlite_store_is_refused_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
        add_through_models(store, reference_row_data(tmp_path / "reference"))
    run_sql(path, *NEWER_SCHEMA, f"PRAGMA user_version = {NEWER}")
    digest = file_digest(path)
    listing = sorted(p.name for p in tmp_path.iterdir())

    with Store(path) as store:
        assert_refused_as_newer(store, str(path))

    assert file_digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no backup, -wal or -shm


def test_a_newer_postgresql_store_is_refused_untouched(postgres_url: str, tmp_path: Path) -> None:
    with Store(url=postgres_url) as store:
        store.init()
        shown = store.where
    with Store(url=postgres_url) as store:
        add_through_models(store, reference_row_data(tmp_path))
    pg_query(
        postgres_url,
        *NEWER_SCHEMA,
        f"COMMENT ON TABLE {STAMP_TABLE} IS '{stamp_text(NEWER)}'",
    )
    catalog, rows = pg_catalog(postgres_url), pg_rows(postgres_url)

    with Store(url=postgres_url) as store:
        assert_refused_as_newer(store, shown)

    assert pg_catalog(postgres_url) == catalog  # stamp, tables, columns and indexes
    assert pg_rows(postgres_url) == rows


# --- 4. an upgrade the disk has no room for ---------------------------------------------------


@pytest.mark.slow
def test_an_upgrade_without_room_for_its_rebuild_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    """A TMWS file adopted at version 1 still has the licence key that version 2 rebuilds
    its table to drop. The upgrade needs room for a backup and a rebuild, twice the file:
    with room beside the file for one copy and a half, it is refused before anything is
    written (without the check, the backup would fit and be written)."""
    (tmp_path / "adopted").mkdir()
    adopted = adopt_with_v1_chain(copy_reference(REF42, tmp_path / "adopted"))
    size = adopted.stat().st_size
    with small_tmpfs(tmp_path / "small", size + size + size // 2) as point:
        path = point / "tmws.db"
        path.write_bytes(adopted.read_bytes())  # closed cleanly: no -wal beside it
        assert identity(path) == (APPLICATION_ID, 1)
        digest = file_digest(path)
        listing = sorted(p.name for p in point.iterdir())

        with pytest.raises(StorageFullError) as info, Store(path) as store:
            store.init()

        message = str(info.value)
        assert f"{path}: upgrading from version 1 needs about {2 * size:,} bytes" in message
        assert "nothing was changed" in message and "\n" not in message
        assert file_digest(path) == digest
        assert sorted(p.name for p in point.iterdir()) == listing  # no backup, partial or -wal
