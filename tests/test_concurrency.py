"""Many agents, one file: processes starting, adopting and writing at the same instant."""

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlmodel import select

from tmws_store import DatabaseLockedError, Memory, Store

from ._procs import Workers
from .conftest import REF34, TMWS_TABLES, copy_reference

INIT_WORKER = """
from tmws_store import Store
for round_ in range(int(sys.argv[3])):
    path = SYNC / f"round{round_}.db"
    wait_for(f"round{round_}")
    try:
        done = Store(path).init()
        report(f"round{round_}", {"ok": True, "action": done.action,
                                  "backup": str(done.backup) if done.backup else None})
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


def test_eight_processes_create_the_same_fresh_file_at_once(tmp_path: Path) -> None:
    rounds = 5
    workers = Workers(INIT_WORKER.replace("sys.argv[3]", str(rounds)), 8, tmp_path)
    for r in range(rounds):
        workers.release(f"round{r}")
        results = workers.results(f"round{r}")
        assert all(res["ok"] for res in results), results
        assert sorted(res["action"] for res in results) == ["created"] + ["current"] * 7
        names, integrity = tables_and_integrity(tmp_path / f"round{r}.db")
        assert (names, integrity) == (TMWS_TABLES, "ok")
    workers.finish()


def all_rows(path: Path, tables: set[str]) -> dict[str, list]:
    con = sqlite3.connect(path)
    try:
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def test_eight_processes_adopt_the_same_tmws_file_at_once(tmp_path: Path) -> None:
    rounds = 3
    originals = {}
    for r in range(rounds):
        folder = tmp_path / f"r{r}"
        folder.mkdir()
        source = copy_reference(REF34, folder)
        source.rename(tmp_path / f"round{r}.db")
        originals[r] = all_rows(
            tmp_path / f"round{r}.db", tables_and_integrity(tmp_path / f"round{r}.db")[0]
        )
    workers = Workers(INIT_WORKER.replace("sys.argv[3]", str(rounds)), 8, tmp_path)
    for r in range(rounds):
        workers.release(f"round{r}")
        results = workers.results(f"round{r}")
        assert all(res["ok"] for res in results), results
        assert sorted(res["action"] for res in results) == ["adopted"] + ["current"] * 7
        path = tmp_path / f"round{r}.db"
        backups = list(tmp_path.glob(f"round{r}.db.backup-*"))
        assert len(backups) == 1
        assert [res["backup"] for res in results if res["backup"]] == [str(backups[0])]
        names, integrity = tables_and_integrity(path)
        assert (names, integrity) == (TMWS_TABLES, "ok")
        before = originals[r]
        assert all_rows(path, set(before)) == before
        assert all_rows(backups[0], set(before)) == before
    workers.finish()


WRITE_WORKER = """
import asyncio
from sqlmodel import select
from tmws_store import Memory, Store

store = Store(sys.argv[3], busy_timeout=30)
committed, errors = [], []

async def write_async(content):
    async with store.async_session() as session:
        session.add(Memory(content=content, agent_id=f"agent-{WORKER}", namespace="load"))

async def main():
    wait_for("start")
    deadline = time.monotonic() + float(sys.argv[4])
    i = 0
    while time.monotonic() < deadline:
        content = f"{WORKER}-{i}"
        try:
            if i % 2:
                await write_async(content)
            else:
                with store.session() as session:  # a sync write from the same process
                    session.add(Memory(content=content, agent_id=f"agent-{WORKER}",
                                       namespace="load"))
            committed.append(content)
        except Exception as exc:
            errors.append(repr(exc))
        i += 1
    await store.aclose()

asyncio.run(main())
store.close()
report("done", {"committed": committed, "errors": errors})
"""


def test_four_processes_write_for_ten_seconds_without_a_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    script = WRITE_WORKER.replace("sys.argv[3]", repr(str(path))).replace("sys.argv[4]", "10")
    workers = Workers(script, 4, tmp_path / "sync")
    workers.release("start")
    results = workers.results("done", timeout=90)
    workers.finish()
    assert [r["errors"] for r in results] == [[], [], [], []]
    committed = sorted(c for r in results for c in r["committed"])
    assert all(len(r["committed"]) > 10 for r in results)  # every process really wrote
    with Store(path) as store, store.session(readonly=True) as session:
        stored = sorted(m.content for m in session.exec(select(Memory)).all())
    assert stored == committed
    assert tables_and_integrity(path)[1] == "ok"


def test_a_writer_blocked_past_the_busy_timeout_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    try:
        with pytest.raises(DatabaseLockedError, match="busy timeout"):  # noqa: SIM117
            with Store(path, busy_timeout=0.3) as store, store.session() as session:
                session.add(Memory(content="x", agent_id="a", namespace="n"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_writer_waits_for_a_lock_released_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    with Store(path, busy_timeout=5) as store:
        with store.session() as session:
            session.add(Memory(content="waited", agent_id="a", namespace="n"))
        with store.session(readonly=True) as session:
            assert [m.content for m in session.exec(select(Memory)).all()] == ["waited"]
    release.join()
    holder.close()


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
    workers = Workers(script, 2, tmp_path / "sync")
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
