"""Many agents, one file: processes starting, adopting and writing at the same instant.

Every test here runs real processes released together at a barrier (tests/_procs.py); the
tables expected are those a fresh interpreter's ``TMWSModel.metadata`` holds.
"""

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import select

from tmws_store import SCHEMA_VERSION, DatabaseLockedError, Memory, Store

from ._procs import INIT_IMPORTS, Workers, model_table_names
from .helpers import REF34, all_rows, copy_reference

# Every test here runs several processes or threads against one file at once.
pytestmark = pytest.mark.slow

# Each worker starts every round's file at the barrier; the paths are in SYNC/paths.json.
INIT_WORKER = """
from tmws_store import Store
for round_, path in enumerate(json.loads((SYNC / "paths.json").read_text())):
    wait_for(f"round{round_}")
    try:
        done = Store(path).init()
        report(f"round{round_}", {"ok": True, "action": done.action,
                                  "backup": str(done.backup) if done.backup else None,
                                  "migrations_run": list(done.migrations_run)})
    except Exception as exc:
        report(f"round{round_}", {"ok": False, "error": repr(exc)})
"""


def tables_and_integrity(path: Path) -> tuple[set[str], str]:
    con = sqlite3.connect(path)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return names, con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def start_rounds(paths: list[Path], sync: Path, preload: str | None = None) -> Workers:
    sync.mkdir()
    (sync / "paths.json").write_text(json.dumps([str(p) for p in paths]))
    return Workers(INIT_WORKER, 8, sync, preload=preload)


def test_eight_processes_create_the_same_fresh_file_at_once(tmp_path: Path) -> None:
    paths = [tmp_path / f"round{r}" / "tmws.db" for r in range(5)]  # folders made by init()
    workers = start_rounds(paths, tmp_path / "sync")
    for r, path in enumerate(paths):
        workers.release(f"round{r}")
        results = workers.results(f"round{r}")
        assert all(res["ok"] for res in results), results
        assert sorted(res["action"] for res in results) == ["created"] + ["current"] * 7
        assert tables_and_integrity(path) == (model_table_names(), "ok")
    workers.finish()


def test_eight_processes_adopt_the_same_tmws_file_at_once(tmp_path: Path) -> None:
    paths, originals = [], []
    for r in range(5):
        folder = tmp_path / f"round{r}"
        folder.mkdir()
        path = copy_reference(REF34, folder)
        paths.append(path)
        originals.append(all_rows(path, tables_and_integrity(path)[0]))
    assert len(originals[0]) == 34
    # Adoption imports the models and alembic: paid once, before the fork.
    workers = start_rounds(paths, tmp_path / "sync", INIT_IMPORTS)
    for r, (path, before) in enumerate(zip(paths, originals, strict=True)):
        workers.release(f"round{r}")
        results = workers.results(f"round{r}")
        assert all(res["ok"] for res in results), results
        actions = sorted(res["action"] for res in results)
        assert actions.count("adopted") == 1, actions  # exactly one adopts...
        assert set(actions) <= {"adopted", "current", "upgraded"}, actions
        ran = [res["migrations_run"] for res in results if res["migrations_run"]]
        assert ran == [[SCHEMA_VERSION]], results  # ...and the chain's step runs once

        backups = sorted(path.parent.glob("tmws-2.4.18-prefix-34-tables.db.backup-*"))
        # The adopter's copy; and, when another process won the lock for the migration step,
        # that process's own copy, made before it wrote (every writer backs up first).
        adopted = [b for b in backups if b.name.endswith("-before-adopt")]
        assert len(adopted) == 1 and len(backups) <= 2, backups
        assert sorted(res["backup"] for res in results if res["backup"]) == list(map(str, backups))
        assert tables_and_integrity(path) == (model_table_names(), "ok")
        assert all_rows(path, set(before)) == before  # every original row, unchanged
        assert all_rows(adopted[0], set(before)) == before
    workers.finish()


# Each process writes from a thread with sync sessions and, at the same time, from its event
# loop with async sessions: contention inside a process as well as between processes. The
# store keeps its default busy timeout.
WRITE_WORKER = """
import asyncio, threading
from tmws_store import Memory, Store

path, seconds = sys.argv[3], float(sys.argv[4])
store = Store(path)
store.init()
committed, errors = [], []

def row(content):
    return Memory(content=content, agent_id=f"agent-{WORKER}", namespace="load")

def sync_writer(deadline):
    i = 0
    while time.monotonic() < deadline:
        content = f"{WORKER}-sync-{i}"
        try:
            with store.session() as session:
                session.add(row(content))
            committed.append(content)
        except Exception as exc:
            errors.append(repr(exc))
        i += 1

async def async_writer(deadline):
    i = 0
    while time.monotonic() < deadline:
        content = f"{WORKER}-async-{i}"
        try:
            async with store.async_session() as session:
                session.add(row(content))
            committed.append(content)
        except Exception as exc:
            errors.append(repr(exc))
        i += 1

async def main():
    wait_for("start")
    deadline = time.monotonic() + seconds
    thread = threading.Thread(target=sync_writer, args=(deadline,))
    thread.start()
    await async_writer(deadline)
    await asyncio.to_thread(thread.join)
    await store.aclose()

asyncio.run(main())
store.close()
report("done", {"committed": committed, "errors": errors})
"""


def test_four_processes_write_at_once_without_a_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    script = WRITE_WORKER.replace("sys.argv[3]", repr(str(path))).replace("sys.argv[4]", "5")
    workers = Workers(script, 4, tmp_path / "sync", preload=INIT_IMPORTS)
    workers.release("start")
    results = workers.results("done", timeout=90)
    workers.finish()
    assert [r["errors"] for r in results] == [[], [], [], []]  # no "database is locked"
    for r in results:  # every process really wrote, both ways
        assert sum("-sync-" in c for c in r["committed"]) > 10
        assert sum("-async-" in c for c in r["committed"]) > 10
    committed = sorted(c for r in results for c in r["committed"])
    with Store(path) as store, store.session(readonly=True) as session:
        stored = sorted(m.content for m in session.exec(select(Memory)).all())
    assert stored == committed  # every reported commit is there, and nothing else
    assert tables_and_integrity(path)[1] == "ok"


# Another process takes the write lock and keeps it until its stdin closes.
LOCK_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    con = sqlite3.connect(sys.argv[1], isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()
    con.execute("ROLLBACK")
    """
)


def hold_write_lock(path: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def release(holder: subprocess.Popen) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(10) == 0


async def write_async(store: Store) -> None:
    try:
        async with store.async_session() as session:
            session.add(Memory(content="blocked", agent_id="a", namespace="n"))
    finally:
        await store.aclose()  # inside the loop that opened the aiosqlite connections


@pytest.mark.parametrize("busy_timeout", [0.2, 0.6])
@pytest.mark.parametrize("how", ["sync session", "async session", "init adopting a file"])
def test_a_writer_blocked_past_the_busy_timeout_gets_a_clear_error(
    tmp_path: Path, how: str, busy_timeout: float
) -> None:
    if how == "init adopting a file":
        path = copy_reference(REF34, tmp_path)
        before = all_rows(path, tables_and_integrity(path)[0])
    else:
        path = tmp_path / "tmws.db"
        Store(path).init()
    holder = hold_write_lock(path)
    try:
        store = Store(path, busy_timeout=busy_timeout)
        started = time.monotonic()
        with pytest.raises(DatabaseLockedError, match="longer than the busy timeout") as caught:
            if how == "sync session":
                with store.session() as session:
                    session.add(Memory(content="blocked", agent_id="a", namespace="n"))
            elif how == "async session":
                asyncio.run(write_async(store))
            else:
                store.init()
        waited = time.monotonic() - started
        store.close()
    finally:
        release(holder)
    assert caught.value.path == path
    # The wait is bounded by the configured timeout (with slack for a loaded 2-core machine).
    assert busy_timeout * 0.9 <= waited < busy_timeout + 3
    if how == "init adopting a file":  # refused before any change: no backup, same rows
        assert tables_and_integrity(path)[0] == set(before)
        assert all_rows(path, set(before)) == before
        assert not list(tmp_path.glob("*.backup-*"))
    else:
        assert all_rows(path, {"memories"}) == {"memories": []}


def test_a_writer_waits_for_a_lock_released_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    holder = hold_write_lock(path)
    timer = threading.Timer(0.3, release, args=(holder,))
    timer.start()
    started = time.monotonic()
    with Store(path, busy_timeout=5) as store:
        with store.session() as session:
            session.add(Memory(content="waited", agent_id="a", namespace="n"))
        assert time.monotonic() - started >= 0.25  # it really waited for the other process
        with store.session(readonly=True) as session:
            assert [m.content for m in session.exec(select(Memory)).all()] == ["waited"]
    timer.join()


BACKUP_WRITER = """
from tmws_store import Memory, Store
store = Store(sys.argv[3])
wait_for("start")
i, deadline = 0, time.monotonic() + 60
while not (SYNC / "stop").exists() and time.monotonic() < deadline:
    with store.session() as session:
        session.add(Memory(content=f"{WORKER}-{i}", agent_id="a", namespace="n"))
    i += 1
store.close()
report("done", {"written": i, "stopped_by_deadline": not (SYNC / "stop").exists()})
"""


def test_backup_is_consistent_while_other_processes_write(tmp_path: Path) -> None:
    """Big enough that a copy takes many steps: a backup that restarted at every commit of
    the writers would only finish after they stopped by their deadline."""
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        seed = [{"content": f"seed-{i}-" + "x" * 1000, "agent_id": "a", "namespace": "n"}
                for i in range(10_000)]  # fmt: skip
        store.insert_many(Memory, seed)
    script = BACKUP_WRITER.replace("sys.argv[3]", repr(str(path)))
    workers = Workers(script, 2, tmp_path / "sync", preload=INIT_IMPORTS)
    workers.release("start")
    with Store(path) as store:
        copies = [store.backup(tmp_path / f"copy{i}.db") for i in range(3)]
    (tmp_path / "sync" / "stop").touch()
    results = workers.results("done", timeout=90)
    workers.finish()
    assert [r["stopped_by_deadline"] for r in results] == [False, False]
    written = sum(r["written"] for r in results)
    assert written > 0
    counts = []
    for copy in copies:
        con = sqlite3.connect(copy)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts.append(con.execute("SELECT count(*) FROM memories").fetchone()[0])
        con.close()
    assert all(10_000 <= c <= 10_000 + written for c in counts)
    assert counts == sorted(counts)  # each copy is a later snapshot than the one before
