"""Benchmarks: medians and ratios, each against a baseline measured in the same run.

    python benchmarks/run.py            # everything (builds 1 GB files and 1,000,000 rows)
    python benchmarks/run.py --quick    # 64 MB files and 100,000 rows, in about a minute
    python benchmarks/run.py --postgres postgresql+psycopg://me@host/empty_db   # adds PostgreSQL

Prints a Markdown table. Where the two cases run interleaved, round by round, the ratio is
the median of the rounds' ratios, with the smallest in brackets. Nothing here asserts: the
README quotes the table and says which machine it came from. Scratch files go to a temporary
folder that is removed at the end.
"""

import argparse
import contextlib
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlmodel import Session, select

from tmws_store import Memory, Store, TMWSModel
from tmws_store.migrations.v2 import NEW_INDEXES
from tmws_store.schema import create_statements

ROWS: list[tuple[str, str, str, str, str]] = []  # what, baseline, ours, ratio, target


def median_seconds(
    fn: Callable[[], Any], *, repeat: int, setup: Callable[[], Any] | None = None
) -> float:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def record(what: str, base_name: str, base: float, ours: float, target: str) -> None:
    ROWS.append((what, f"{base_name}: {ms(base)}", ms(ours), f"{ours / base:.2f}x", target))


def paired(
    base: Callable[[], Any],
    ours: Callable[[], Any],
    *,
    repeat: int,
    setup: Callable[[], Any] | None = None,
) -> tuple[float, float, list[float]]:
    """Both cases interleaved, one pair per round: the medians and each round's ratio.

    Back to back, in alternating order, so that the machine's load and the page cache touch
    both cases of a round alike; the ratio of a round is then a fairer figure than the ratio
    of two medians measured minutes apart.
    """
    times: dict[str, list[float]] = {"base": [], "ours": []}
    for round_ in range(repeat):
        if setup is not None:
            setup()
        order = (("base", base), ("ours", ours))
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ratios = [o / b for b, o in zip(times["base"], times["ours"], strict=True)]
    return statistics.median(times["base"]), statistics.median(times["ours"]), ratios


def record_paired(
    what: str, base_name: str, base: str, ours: str, ratios: list[float], target: str
) -> None:
    ratio = f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}x)"
    ROWS.append((what, f"{base_name}: {base}", ours, ratio, target))


class Scratch:
    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def path(self) -> Path:
        self.count += 1
        folder = self.root / f"s{self.count}"
        folder.mkdir()
        return folder / "tmws.db"


def bench_init(scratch: Scratch, repeat: int) -> None:
    statements = create_statements()

    def raw_ddl() -> None:
        con = sqlite3.connect(scratch.path(), isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("BEGIN IMMEDIATE")
        for statement in statements:
            con.execute(statement)
        con.execute("COMMIT")
        con.close()

    def ours_fresh() -> None:
        Store(scratch.path()).init()

    def create_all_fresh() -> None:
        engine = create_engine(f"sqlite:///{scratch.path()}")
        TMWSModel.metadata.create_all(engine)
        engine.dispose()

    Store(scratch.path()).init()  # warm the process: imports, cached DDL
    raw = median_seconds(raw_ddl, repeat=repeat)
    fresh = median_seconds(ours_fresh, repeat=repeat)
    create_all = median_seconds(create_all_fresh, repeat=repeat)
    record("fresh `init()`", "same DDL, sqlite3, one transaction", raw, fresh, "<= 1.5x")
    record("fresh `init()`", "`metadata.create_all()`", create_all, fresh, "report speed-up")

    current = scratch.path()
    Store(current).init()

    def create_all_current() -> None:  # a program's start-up: its engine is new too
        engine = create_engine(f"sqlite:///{current}")
        TMWSModel.metadata.create_all(engine)
        engine.dispose()

    warm_base = median_seconds(create_all_current, repeat=repeat)
    warm = median_seconds(lambda: Store(current).init(), repeat=repeat)
    record("warm `init()`", "`create_all()` on a current file", warm_base, warm, ">= 5x faster")


def bench_big_file(scratch: Scratch, size_mb: int, repeat: int) -> None:
    empty = scratch.path()
    Store(empty).init()
    big = scratch.path()
    Store(big).init()
    con = sqlite3.connect(big, isolation_level=None)
    blob = "x" * (1024 * 1024)
    con.execute("BEGIN IMMEDIATE")
    con.executemany(
        "INSERT INTO memories (content, agent_id, namespace, embedding_model, "
        "embedding_dimension, access_level, shared_with_agents, context, tags, "
        "importance_score, relevance_score, access_count, learning_weight, pattern_ids, "
        "version, id, metadata) VALUES (?, 'a', 'n', 'm', 1024, 'private', '[]', '{}', '[]', "
        "0.5, 0.5, 0, 1.0, '[]', 1, ?, '{}')",
        ((f"{i}{blob}", f"id-{i}") for i in range(size_mb)),
    )
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = big.stat().st_size
    base = median_seconds(lambda: Store(empty).init(), repeat=repeat)
    ours = median_seconds(lambda: Store(big).init(), repeat=repeat)
    record(
        f"warm `init()` on a {size / 2**30:.2f} GB file",
        "warm `init()`, empty file",
        base,
        ours,
        "<= 1.2x",
    )


def bench_fixture(scratch: Scratch, repeat: int) -> None:
    template = scratch.path()
    Store(template).init()

    def fixture_store() -> None:  # what the pytest plugin does for each test
        path = scratch.path()
        shutil.copyfile(template, path)
        path.chmod(0o600)
        store = Store(path)
        store.init()
        store.close()

    def create_all_new() -> None:
        engine = create_engine(f"sqlite:///{scratch.path()}")
        TMWSModel.metadata.create_all(engine)
        engine.dispose()

    # create_all() on a new file takes most of a second, hundreds of times the fixture: a
    # quarter of the runs give its median, and keep --quick under a minute.
    base = median_seconds(create_all_new, repeat=max(3, repeat // 4))
    ours = median_seconds(fixture_store, repeat=repeat)
    record("fresh store per test (fixture)", "`create_all()` on a new file", base, ours, "<= 2 ms")


def bench_import(repeat: int) -> None:
    codes = {
        "base": "import sqlmodel",
        "ours": "import tmws_store",
        # The models load on first use, all 42 together: what a program using them pays.
        "models": "from tmws_store import Agent",
    }
    times: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(repeat):
        # Interleaved, so that a change in the machine's load touches all three alike.
        for name, code in codes.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times[name].append(time.perf_counter() - start)
    base, ours, models = (statistics.median(times[name]) for name in codes)
    record("`import tmws_store`", "`import sqlmodel`", base, ours, "<= 1.5x")
    record("`from tmws_store import Agent` (all 42 classes)", "`import sqlmodel`", base, models,
           "report")  # fmt: skip
    probe = (
        "import sys, tmws_store; print(sorted(m for m in ('aiosqlite', 'tmws_store.cli', "
        "'tmws_store.pytest_plugin', 'sqlalchemy.ext.asyncio', 'bcrypt', 'psycopg', "
        "'tmws_store.models') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    print(f"modules imported eagerly that a user may not need: {loaded.stdout.strip()}")


def memory_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"content": f"memory {i}", "agent_id": f"agent-{i % 100}", "namespace": "bench",
         "tags": ["a", "b"], "context": {"i": i}}
        for i in range(count)
    ]  # fmt: skip


def bench_inserts(scratch: Scratch, repeat: int) -> None:
    rows = memory_rows(10_000)
    stores: list[Store] = []

    def fresh_store() -> None:
        store = Store(scratch.path())
        store.init()
        stores.append(store)

    def bulk() -> None:
        stores[-1].insert_many(Memory, rows)

    def add_all() -> None:
        with stores[-1].session() as session:
            session.add_all(Memory(**row) for row in rows)

    # The baseline: the very rows insert_many writes, already converted, straight to sqlite3.
    probe = Store(scratch.path())
    probe.insert_many(Memory, rows)
    con = sqlite3.connect(probe.path)
    columns = [r[1] for r in con.execute("PRAGMA table_info(memories)")]
    params = con.execute(f"SELECT {', '.join(columns)} FROM memories").fetchall()
    con.close()
    probe.close()
    sql = f"INSERT INTO memories ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def raw() -> None:
        con = sqlite3.connect(stores[-1].path, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        con.executemany(sql, params)
        con.execute("COMMIT")
        con.close()

    base = median_seconds(raw, repeat=repeat, setup=fresh_store)
    ours = median_seconds(bulk, repeat=repeat, setup=fresh_store)
    orm = median_seconds(add_all, repeat=repeat, setup=fresh_store)
    record(
        "insert 10,000 memories, `store.insert_many`", "`sqlite3.executemany`", base, ours, "<= 3x"
    )
    record(
        "insert 10,000 memories, `session.add_all`", "`sqlite3.executemany`", base, orm, "report"
    )
    for store in stores:
        store.close()


NEWEST_SQL = "SELECT * FROM memories WHERE agent_id = ? ORDER BY created_at DESC LIMIT 100"


def bench_newest(scratch: Scratch, total: int, repeat: int) -> Path:
    path = scratch.path()
    store = Store(path)
    store.init()
    batch = 50_000
    for start in range(0, total, batch):
        store.insert_many(
            Memory, memory_rows(batch) if start + batch <= total else memory_rows(total - start)
        )
    agent = "agent-42"
    sql = NEWEST_SQL
    con = sqlite3.connect(path)
    plan = " / ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {sql}", (agent,)))

    def raw() -> None:
        con.execute(sql, (agent,)).fetchall()

    def orm() -> None:
        with Session(store.engine) as session:
            session.exec(
                select(Memory)
                .where(Memory.agent_id == agent)
                .order_by(Memory.created_at.desc())
                .limit(100)
            ).all()

    def core() -> None:  # the same query without ORM objects: plain rows
        with store.engine.connect() as conn:
            table = Memory.__table__  # type: ignore[attr-defined]
            conn.execute(
                table.select()
                .where(table.c.agent_id == agent)
                .order_by(table.c.created_at.desc())
                .limit(100)
            ).all()

    base = median_seconds(raw, repeat=repeat)
    ours = median_seconds(orm, repeat=repeat)
    rows_only = median_seconds(core, repeat=repeat)
    con.close()
    store.close()
    record(
        f"100 newest memories of one agent among {total:,}",
        "hand-written sqlite3 query",
        base,
        ours,
        "<= 2x, uses an index",
    )
    record(
        "the same, as rows (`Memory.__table__.select()`)",
        "hand-written sqlite3 query",
        base,
        rows_only,
        "report",
    )
    print(f"query plan: {plan}")
    return path


def make_v1(current: Path, dest: Path) -> Path:
    """A store of schema version 1 at ``dest``: a copy of ``current`` without the v2 indexes.

    Version 1 is version 2 without its indexes (a store made by tmws_store never had the
    licence key that v2 also drops).
    """
    src, dst = sqlite3.connect(current), sqlite3.connect(dest, isolation_level=None)
    src.backup(dst)  # the rows still in -wal too
    src.close()
    for name, _, _ in NEW_INDEXES:
        dst.execute(f"DROP INDEX {name}")
    dst.execute("PRAGMA user_version = 1")
    dst.execute("VACUUM")  # no free pages left by the dropped indexes
    dst.close()
    return dest


def bench_v2_indexes(current: Path, v1: Path, total: int, repeat: int) -> None:
    """The read schema v2's indexes were made for, on the same rows before and after."""
    agent = ("agent-42",)
    before, after = sqlite3.connect(v1), sqlite3.connect(current)
    plans = [
        " / ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {NEWEST_SQL}", agent))
        for con in (before, after)
    ]
    base, ours, ratios = paired(
        lambda: before.execute(NEWEST_SQL, agent).fetchall(),
        lambda: after.execute(NEWEST_SQL, agent).fetchall(),
        repeat=repeat,
    )
    before.close()
    after.close()
    record_paired(
        f"100 newest memories of one agent among {total:,}, schema v2",
        "schema v1 (no v2 index), same rows, sqlite3",
        ms(base),
        ms(ours),
        ratios,
        "report",
    )
    print(f"query plan, schema v1: {plans[0]}; schema v2: {plans[1]}")


def folder_bytes(folder: Path) -> int:
    total = 0
    for entry in os.scandir(folder):
        # Removed since it was listed (a -wal file, a copy given its final name): not counted.
        with contextlib.suppress(FileNotFoundError):
            total += entry.stat().st_size
    return total


@contextlib.contextmanager
def peak_bytes(folder: Path) -> Iterator[list[int]]:
    """Sample ``folder``'s bytes in a thread while the block runs; yields [peak extra bytes].

    A sample every millisecond: SQLite and the copies release the GIL while they write, so
    the thread keeps up, and what grows (a backup, the -wal file) grows for much longer.
    """
    start = folder_bytes(folder)
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], folder_bytes(folder))
            done.wait(0.001)

    thread = threading.Thread(target=sample)
    thread.start()
    extra = [0]
    try:
        yield extra
    finally:
        done.set()
        thread.join()
        extra[0] = max(peak[0], folder_bytes(folder)) - start


def bench_upgrade(scratch: Scratch, template: Path, size_mb: int, repeat: int) -> None:
    """``init()`` upgrading the version-1 file ``template``, grown to ``size_mb``, against
    copying that file. Each round upgrades a fresh copy of it."""
    pad_to(template, size_mb * 2**20)
    size = template.stat().st_size
    work = scratch.path()
    folder, copy = work.parent, work.parent / "copy.db"
    disk: dict[str, list[int]] = {"base": [], "ours": []}

    def fresh_v1() -> None:
        for leftover in folder.iterdir():  # the last round's file, backup and copy
            leftover.unlink()
        shutil.copyfile(template, work)

    def copy_file() -> None:
        with peak_bytes(folder) as extra:
            shutil.copyfile(work, copy)
            fd = os.open(copy, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        disk["base"].append(extra[0])
        copy.unlink()

    def upgrade() -> None:
        with peak_bytes(folder) as extra:
            store = Store(work)
            report = store.init()
            store.close()
        if report.action != "upgraded" or report.migrations_run[0] != 2:
            raise SystemExit(f"the version-1 file was not upgraded: {report}")
        disk["ours"].append(extra[0])

    base, ours, ratios = paired(copy_file, upgrade, repeat=repeat, setup=fresh_v1)
    what = f"`init()` upgrading a {size / 2**30:.2f} GB file from schema v1"
    record_paired(what, "copy the file + fsync", ms(base), ms(ours), ratios, "report")
    disk_ratios = [o / b for b, o in zip(disk["base"], disk["ours"], strict=True)]
    record_paired(
        "the same, peak extra disk",
        "the copy",
        mb(statistics.median(disk["base"])),
        mb(statistics.median(disk["ours"])),
        disk_ratios,
        "report",
    )


def mb(size: float) -> str:
    return f"{size / 2**20:.1f} MB"


def pad_to(path: Path, size: int) -> None:
    """Grow the store at ``path`` to about ``size`` bytes with 1 MB memories of one agent."""
    blob = "x" * 2**20
    con = sqlite3.connect(path, isolation_level=None)
    count = max(0, (size - path.stat().st_size) // len(blob))
    con.execute("BEGIN IMMEDIATE")
    con.executemany(
        "INSERT INTO memories (content, agent_id, namespace, embedding_model, "
        "embedding_dimension, access_level, shared_with_agents, context, tags, "
        "importance_score, relevance_score, access_count, learning_weight, pattern_ids, "
        "version, id, metadata) VALUES (?, 'padding', 'n', 'm', 1024, 'private', '[]', '{}', "
        "'[]', 0.5, 0.5, 0, 1.0, '[]', 1, ?, '{}')",
        ((f"{i}{blob}", f"pad-{i}") for i in range(count)),
    )
    con.execute("COMMIT")
    con.close()


def bench_postgres(url: str, repeat: int) -> None:
    """Start-up and bulk writes on PostgreSQL; ``url`` names an empty database, left as found."""
    import psycopg
    import psycopg.types.json

    store = Store(url=url)
    if store.init().action != "created":
        raise SystemExit(f"--postgres needs an empty database; {store.where} was not")
    plain = store.location.url.set(drivername="postgresql").render_as_string(hide_password=False)
    engine = create_engine(store.location.url)
    try:
        with engine.connect() as conn:  # connected once, as a long-running program is

            def create_all_current() -> None:
                TMWSModel.metadata.create_all(conn)  # reflects what exists, creates nothing

            base = median_seconds(create_all_current, repeat=repeat)
        ours = median_seconds(store.init, repeat=repeat)  # the store's engine is connected too
        record("PostgreSQL: warm `init()`", "`create_all()` on a current schema", base, ours,
               "report")  # fmt: skip

        def raw_connect() -> None:
            with psycopg.connect(plain) as conn:
                conn.execute("SELECT 1").fetchall()

        def new_store() -> None:
            with Store(url=url) as fresh:
                fresh.init()

        base = median_seconds(raw_connect, repeat=repeat)
        ours = median_seconds(new_store, repeat=repeat)
        record("PostgreSQL: a new `Store(url).init()`", "psycopg connect + `SELECT 1`", base,
               ours, "report")  # fmt: skip

        rows = memory_rows(10_000)
        memories = Memory.__table__
        columns = [c.name for c in memories.columns]

        def empty() -> None:
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE memories CASCADE")  # its children are empty

        def bulk() -> None:
            store.insert_many(Memory, rows)

        # The baseline: the same rows as stored, read back, sent with psycopg's executemany.
        bulk()
        with psycopg.connect(plain) as conn:
            params = conn.execute(f"SELECT {', '.join(columns)} FROM memories").fetchall()
        wrapped = [tuple(psycopg.types.json.Jsonb(v) if isinstance(v, dict | list) else v
                         for v in row) for row in params]  # fmt: skip
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO memories ({', '.join(columns)}) VALUES ({marks})"

        def raw_insert() -> None:
            with psycopg.connect(plain) as conn, conn.cursor() as cursor:
                cursor.executemany(sql, wrapped)

        base = median_seconds(raw_insert, repeat=max(3, repeat // 3), setup=empty)
        ours = median_seconds(bulk, repeat=max(3, repeat // 3), setup=empty)
        record("PostgreSQL: insert 10,000 memories, `insert_many`", "psycopg `executemany`",
               base, ours, "report")  # fmt: skip
        empty()
    finally:
        engine.dispose()
        store.close()
        with psycopg.connect(plain, autocommit=True) as conn:  # leave the database empty
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller big cases")
    parser.add_argument("--postgres", metavar="URL", help="also measure on this empty database")
    args = parser.parse_args()
    big_mb, big_rows, repeat = (64, 100_000, 5) if args.quick else (1024, 1_000_000, 15)
    root = Path(tempfile.mkdtemp(prefix="tmws-bench-"))
    try:
        scratch = Scratch(root)
        bench_init(scratch, repeat)
        bench_fixture(scratch, repeat * 4)
        bench_import(repeat)
        bench_inserts(scratch, max(3, repeat // 3))
        bench_big_file(scratch, big_mb, repeat * 2)
        newest = bench_newest(scratch, big_rows, repeat * 4)
        v1 = make_v1(newest, scratch.path())
        bench_v2_indexes(newest, v1, big_rows, repeat * 4)
        bench_upgrade(scratch, v1, big_mb, max(3, repeat // 3))
        if args.postgres:
            bench_postgres(args.postgres, repeat)
    finally:
        shutil.rmtree(root)
    print()
    python, sqlite = platform.python_version(), sqlite3.sqlite_version
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}, SQLite {sqlite}"
    )
    print()
    print("| what | baseline (same run) | tmws_store | ratio | target |")
    print("|---|---|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
