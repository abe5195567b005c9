"""Benchmarks: every case interleaved with its baseline, round by round, in the same run.

    python benchmarks/run.py            # everything: 1 GB files, 1,000,000 rows, more rounds
    python benchmarks/run.py --quick    # 64 MB files, 20,000 and 5,000 rows, 3-11 rounds
    python benchmarks/run.py --postgres postgresql+psycopg://me@host/empty_db   # adds PostgreSQL

How long it takes on the 2-core build machine (Dec 2026, before #16's changes; the slow
cases are the very ones #16 speeds up, so both runs get shorter as its targets are met):
``--quick`` uses 50 s of CPU (about its wall time on an idle machine, which this one never
was while measuring) and took 168 s while other jobs kept the load at 7; the full run uses
432 s of CPU and took 20 min at load 10.
The encryption section (needs ``sqlcipher3-binary``, the ``encryption`` extra) adds
about 10 s of CPU to ``--quick`` (39 s to the full run, which encrypts a copy of the
1,000,000-row file): most of it is SQLCipher deriving its key, a few tenths of a second per
connection, and the bulk inserts.
Each section prints its wall and CPU time, the last line both totals.

Each round times the baseline and our case back to back, in alternating order, so that a
change in the machine's load touches both alike; a row gives both medians and the median and
smallest of the rounds' ratios (our time / the baseline's time in the same round). Target
"<= 2x" is met when the median ratio is at most 2. The fixture rows give per-test extra
milliseconds over a test that takes only ``tmp_path``, measured inside pytest.

The subprocess cases run the python of a virtual environment made for the run, which sees
this interpreter's packages (``clean_interpreter``), with ``PYTHONPATH`` pointing at the
``tmws_store`` this script imported: they measure the same code, compiled first (as pip
compiles an installed package), in a process that starts as one of a plain ``pip install .``
does. This interpreter's own start-up may not: an editable install (``pip install -e``) runs
a finder in every process it starts, the baselines' too. Nothing here asserts:
the README quotes the table and says which machine it came from. Scratch files go to a
temporary folder that is removed at the end.
"""

import argparse
import compileall
import contextlib
import json
import os
import platform
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import venv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from floors import plain_memory_class, write_plain_modules  # benchmarks/, beside this file
from sqlalchemy import create_engine
from sqlmodel import Session, select

import tmws_store
from tmws_store import Agent, Memory, ServerLocation, Store, Task, TMWSModel
from tmws_store.migrations.v2 import NEW_INDEXES

T = TypeVar("T")

# what, baseline, ours, ratio, target, met
ROWS: list[tuple[str, str, str, str, str, str]] = []


@dataclass
class Pair:
    """The times (or sizes) of one case and its baseline, one of each per round."""

    base: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)

    def ratios(self) -> list[float]:
        return [o / b for b, o in zip(self.base, self.ours, strict=True)]

    def extras(self) -> list[float]:
        return [o - b for b, o in zip(self.base, self.ours, strict=True)]


def paired(
    base: Callable[..., Any],
    ours: Callable[..., Any],
    rounds: int,
    setup: Callable[[], Any] | None = None,
) -> Pair:
    """Time ``base`` and ``ours`` once per round, back to back, in alternating order.

    With ``setup``, each timed call gets a fresh ``setup()`` result as its one argument
    (a new path, a fresh store); setting up is not timed.
    """
    pair = Pair()
    for round_ in range(rounds):
        order = ((pair.base, base), (pair.ours, ours))
        for times, fn in order if round_ % 2 == 0 else order[::-1]:
            args = () if setup is None else (setup(),)
            start = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - start)
    return pair


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def mb(size: float) -> str:
    return f"{size / 2**20:.1f} MB"


def record(
    what: str,
    base_name: str,
    pair: Pair,
    target: str,
    limit: float | None = None,
    unit: Callable[[float], str] = ms,
) -> None:
    """One row: both medians, the median and smallest ratio, the target and whether met.

    ``limit`` is the largest median ratio that meets ``target``; None for "report" rows.
    """
    ratios = pair.ratios()
    median = statistics.median(ratios)
    met = "-" if limit is None else ("yes" if median <= limit else "NO")
    ROWS.append(
        (
            what,
            f"{base_name}: {unit(statistics.median(pair.base))}",
            unit(statistics.median(pair.ours)),
            f"{median:.2f}x (min {min(ratios):.2f}x)",
            target,
            met,
        )
    )


def record_extra(what: str, base_name: str, pair: Pair, limit_ms: float) -> None:
    """One row whose target is a number of milliseconds above the baseline, per round."""
    extras = pair.extras()
    median = statistics.median(extras)
    ROWS.append(
        (
            what,
            f"{base_name}: {ms(statistics.median(pair.base))}",
            ms(statistics.median(pair.ours)),
            f"{median * 1000:+.2f} ms (min {min(extras) * 1000:+.2f} ms)",
            f"<= +{limit_ms:g} ms",
            "yes" if median * 1000 <= limit_ms else "NO",
        )
    )


class Scratch:
    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def path(self) -> Path:
        """A new, empty folder, and the store's path in it (not created)."""
        self.count += 1
        folder = self.root / f"s{self.count}"
        folder.mkdir()
        return folder / "tmws.db"


def new_store(path: Path) -> Store:
    store = Store(path)
    store.init()
    return store


def init_and_close(path: Path) -> None:
    """What a program does to get a store file ready: open, init, close."""
    with Store(path) as store:
        store.init()


def create_all(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    TMWSModel.metadata.create_all(engine)
    engine.dispose()


# --- in-process start-up ----------------------------------------------------------------


def schema_of(path: Path) -> list[str]:
    """The DDL of the store at ``path``, as SQLite keeps it: whatever ``init()`` made."""
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    con.close()
    return [sql for (sql,) in rows]


def file_image(path: Path) -> bytes:
    """The bytes of the store at ``path`` as one file (its -wal folded in)."""
    con = sqlite3.connect(path)
    image = con.serialize()
    con.close()
    return image


def bench_init(scratch: Scratch, rounds: int) -> None:
    made = scratch.path()
    init_and_close(made)  # warms the process (imports, cached DDL) and gives the schema
    statements = schema_of(made)
    image = file_image(made)

    def raw_ddl(path: Path) -> None:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("BEGIN IMMEDIATE")
        for statement in statements:
            con.execute(statement)
        con.execute("COMMIT")
        con.close()

    def write_image(path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, image)
            os.fsync(fd)
        finally:
            os.close(fd)

    pair = paired(raw_ddl, init_and_close, rounds, scratch.path)
    record("fresh `init()`", "same DDL, sqlite3, one transaction", pair, "<= 1.5x", 1.5)
    pair = paired(write_image, init_and_close, rounds, scratch.path)
    record("fresh `init()`", f"write its {mb(len(image))} image + fsync", pair, "<= 3x", 3)
    # create_all() on a new file is slow: a third of the rounds keep --quick short.
    pair = paired(create_all, init_and_close, max(3, rounds // 3), scratch.path)
    record("fresh `init()`", "`metadata.create_all()`", pair, "report")

    current = scratch.path()
    init_and_close(current)
    # A program's start-up: its engine is new too, hence create_all() with a new engine.
    pair = paired(lambda: create_all(current), lambda: init_and_close(current), rounds)
    record("warm `init()`", "`create_all()` on a current file", pair, ">= 5x faster", 0.2)


def fill(path: Path, size: int) -> None:
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
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def bench_big_file(scratch: Scratch, size_mb: int, rounds: int) -> None:
    empty, big = scratch.path(), scratch.path()
    init_and_close(empty)
    init_and_close(big)
    fill(big, size_mb * 2**20)
    size = big.stat().st_size
    pair = paired(lambda: init_and_close(empty), lambda: init_and_close(big), rounds)
    record(f"warm `init()` on a {size / 2**30:.2f} GB file", "warm `init()`, empty file", pair,
           "<= 1.2x", 1.2)  # fmt: skip


# --- new processes ----------------------------------------------------------------------


# The interpreter of every subprocess case; main() sets it to clean_interpreter's.
CHILD_PYTHON = sys.executable


def clean_interpreter(folder: Path) -> str:
    """The python of a new virtual environment in ``folder`` that sees this one's packages.

    It starts as the python of a plain ``pip install .`` does. This interpreter may be a
    development environment, where the editable install of tmws_store runs a finder in every
    process (from a ``.pth`` file), importing pathlib, re, urllib.parse and more: about 14 ms
    added to every baseline process, which a user's installed tmws_store never has. Reached
    through a ``.pth`` file of the new environment, the packages' folder is on ``sys.path``
    but its own ``.pth`` files are not run.
    """
    venv.create(folder, with_pip=False, symlinks=True)
    python = folder / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    packages = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    (Path(site_packages) / "benchmark-packages.pth").write_text("".join(f"{p}\n" for p in packages))
    return str(python)


def child_env() -> dict[str, str]:
    """The environment of the subprocesses: they import the ``tmws_store`` measured here."""
    root = str(Path(tmws_store.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def start_up_modules() -> str:
    """How many modules a bare ``python -c pass`` has loaded, here and in CHILD_PYTHON."""
    count = "import sys; print(len(sys.modules))"
    here, child = (
        subprocess.run([exe, "-c", count], capture_output=True, text=True, check=True).stdout
        for exe in (sys.executable, CHILD_PYTHON)
    )
    return (
        f"modules loaded at start-up: {child.strip()} in the processes measured, "
        f"{here.strip()} in this interpreter"
    )


def python(*args: str) -> Callable[[], None]:
    """A function that runs ``python *args`` to the end, its output discarded."""
    env = child_env()

    def run() -> None:
        subprocess.run([CHILD_PYTHON, *args], env=env, check=True, stdout=subprocess.DEVNULL)

    return run


def bench_processes(scratch: Scratch, rounds: int, *, every_command: bool) -> None:
    """New processes that start the store, against one that only opens the file with sqlite3.

    The CLI's ``path`` and ``init`` rows only with ``every_command``: ``status`` stands for
    them in --quick, which has no time for three more rows of today's start-up.
    """
    current = scratch.path()
    init_and_close(current)
    db = str(current)
    plain = python(
        "-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('pragma user_version')",
        db,
    )  # fmt: skip
    cases = {
        "process: `import tmws_store; Store(p).init()`, current file": python(
            "-c", "import sys, tmws_store; tmws_store.Store(sys.argv[1]).init()", db
        ),
        "process: `tmws-store status --db p`": python("-m", "tmws_store", "status", "--db", db),
    }
    if every_command:
        for command in ("path", "init"):
            cases[f"process: `tmws-store {command} --db p`, current file"] = python(
                "-m", "tmws_store", command, "--db", db
            )
    for what, ours in cases.items():
        pair = paired(plain, ours, rounds)
        record(what, "python: sqlite3 `user_version`", pair, "<= 2x", 2)
    # The floor under those targets for a library whose API has typed dataclasses and paths:
    # the standard library modules that alone imports, before any code of its own.
    floor = python(
        "-c", "import dataclasses, pathlib, sqlite3, sys, typing; "
        "sqlite3.connect(sys.argv[1]).execute('pragma user_version')",
        db,
    )  # fmt: skip
    record("python: the same, importing also `typing`, `pathlib` and `dataclasses`",
           "python: sqlite3 `user_version`", paired(plain, floor, rounds), "report")  # fmt: skip

    sqlmodel = python("-c", "import sqlmodel")
    pair = paired(sqlmodel, python("-c", "import tmws_store"), rounds)
    record("`import tmws_store`", "`import sqlmodel`", pair, "<= 1.5x", 1.5)
    pair = paired(sqlmodel, python("-c", "from tmws_store import Agent"), rounds)
    record("`from tmws_store import Agent` (all 42 classes)", "`import sqlmodel`", pair,
           "<= 1.4x", 1.4)  # fmt: skip
    # The floor under that target: the same tables as plain SQLAlchemy and Pydantic classes.
    folder = scratch.path().parent
    modules = write_plain_modules(folder)
    compileall.compile_dir(folder, quiet=1)
    imports = (
        f"import sys; sys.path.insert(0, {str(folder)!r}); import sqlmodel, {', '.join(modules)}"
    )
    plain_tables = python("-c", imports)
    record("the same 42 tables as plain SQLAlchemy classes + plain Pydantic models (floors.py)",
           "`import sqlmodel`", paired(sqlmodel, plain_tables, rounds), "report")  # fmt: skip

    probe = (
        "import sys, tmws_store; tmws_store.Store(sys.argv[1]).init(); "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pydantic', 'aiosqlite', "
        "'tmws_store.cli', 'tmws_store.pytest_plugin', 'bcrypt', 'psycopg', "
        "'tmws_store.models') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [CHILD_PYTHON, "-c", probe, db], env=child_env(), capture_output=True, text=True
    )
    print(f"modules loaded by `Store(p).init()` on a current file: {loaded.stdout.strip()}")


# --- pytest fixtures --------------------------------------------------------------------

FIXTURE_CONFTEST = """
import json, os, time

import pytest

TIMES = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.perf_counter()
    yield
    TIMES[item.name] = time.perf_counter() - start


def pytest_sessionfinish(session):
    with open(os.environ["TMWS_BENCH_TIMES"], "w") as out:
        json.dump(TIMES, out)
"""

FIXTURE_TEST = """
def test_base_{i}(tmp_path):
    pass


def test_store_{i}(tmws_store, tmp_path):
    pass


def test_session_{i}(tmws_session, tmp_path):
    pass
"""


def fixture_tests(count: int) -> str:
    """``count`` rounds of three tests; odd rounds in reverse order, as ``paired`` does."""
    tests = []
    for i in range(count):
        three = FIXTURE_TEST.format(i=i).strip().split("\n\n\n")
        tests.extend(three if i % 2 == 0 else three[::-1])
    return "\n\n\n".join(tests) + "\n"


def bench_fixtures(scratch: Scratch, tests: int) -> None:
    """Each test's own time inside pytest: setup, call and teardown, reports included."""
    folder = scratch.path().parent
    (folder / "conftest.py").write_text(FIXTURE_CONFTEST)
    (folder / "test_fixtures.py").write_text(fixture_tests(tests))
    (folder / "pytest.ini").write_text("[pytest]\n")  # the rootdir: no project settings
    times_file = folder / "times.json"
    env = child_env() | {
        "TMWS_BENCH_TIMES": str(times_file),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the plugin alone, however it is installed
    }
    done = subprocess.run(
        [CHILD_PYTHON, "-m", "pytest", "-q", "-p", "tmws_store.pytest_plugin",
         "-p", "no:cacheprovider", "test_fixtures.py"],
        cwd=folder, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:  # a broken plugin: say why rather than print a wrong row
        raise SystemExit(f"the fixture tests failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    times = json.loads(times_file.read_text())
    # Test 0 of each kind pays for what the session builds once (the template, imports).
    base = [times[f"test_base_{i}"] for i in range(1, tests)]
    for name, limit in (("store", 1.0), ("session", 1.5)):
        pair = Pair(base, [times[f"test_{name}_{i}"] for i in range(1, tests)])
        record_extra(f"pytest fixture `tmws_{name}`, per test ({tests} tests)",
                     "a test taking `tmp_path`", pair, limit)  # fmt: skip


# --- rows -------------------------------------------------------------------------------


def memory_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"content": f"memory {i}", "agent_id": f"agent-{i % 100}", "namespace": "bench",
         "tags": ["a", "b"], "context": {"i": i}}
        for i in range(count)
    ]  # fmt: skip


def bench_writes(scratch: Scratch, count: int, rounds: int) -> None:
    rows = memory_rows(count)
    stores: list[Store] = []

    def fresh_store() -> Store:
        stores.append(new_store(scratch.path()))
        return stores[-1]

    # The baseline: the very rows insert_many writes, as stored, straight to sqlite3.
    probe = fresh_store()
    probe.insert_many(Memory, rows)
    con = sqlite3.connect(probe.path)
    columns = [r[1] for r in con.execute("PRAGMA table_info(memories)")]
    params = con.execute(f"SELECT {', '.join(columns)} FROM memories").fetchall()
    con.close()
    sql = f"INSERT INTO memories ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def raw(store: Store) -> None:
        con = sqlite3.connect(store.path, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        con.executemany(sql, params)
        con.execute("COMMIT")
        con.close()

    def bulk(store: Store) -> None:
        store.insert_many(Memory, rows)

    def add_all(store: Store) -> None:
        with store.session() as session:
            session.add_all(Memory(**row) for row in rows)

    pair = paired(raw, bulk, rounds, fresh_store)
    record(f"insert {count:,} memories, `store.insert_many`", "`sqlite3.executemany`", pair,
           "<= 2x", 2)  # fmt: skip
    pair = paired(raw, add_all, rounds, fresh_store)
    record(f"insert {count:,} memories, `session.add_all` + commit", "`sqlite3.executemany`", pair,
           "<= 10x", 10)  # fmt: skip
    for store in stores:
        store.close()


def bench_load_all(scratch: Scratch, count: int, rounds: int) -> None:
    store = new_store(scratch.path())
    store.insert_many(Memory, memory_rows(count))
    con = sqlite3.connect(store.path)

    def raw() -> None:
        con.execute("SELECT * FROM memories").fetchall()

    def orm() -> None:
        with Session(store.engine) as session:
            session.exec(select(Memory)).all()

    pair = paired(raw, orm, rounds)
    record(f"load {count:,} memories, `session.exec(select(Memory)).all()`",
           "sqlite3 `fetchall()`, same table", pair, "<= 10x", 10)  # fmt: skip
    con.close()
    store.close()


def bench_agent_tasks(scratch: Scratch, rounds: int) -> None:
    """One agent with 5,000 tasks: loading the agent alone must not load its tasks."""
    store = new_store(scratch.path())
    name = "busy"
    store.insert_many(Agent, [{"agent_id": name, "display_name": "Busy"}])
    store.insert_many(
        Task,
        [{"title": f"task {i}", "description": "d", "assigned_agent_id": name}
         for i in range(5_000)],
    )  # fmt: skip
    table = Agent.__table__  # type: ignore[attr-defined]

    def core() -> None:
        with store.engine.connect() as conn:
            conn.execute(table.select().where(table.c.agent_id == name)).one()

    def orm() -> None:
        with Session(store.engine) as session:
            session.exec(select(Agent).where(Agent.agent_id == name)).one()

    pair = paired(core, orm, rounds)
    record("one agent with 5,000 tasks, `select(Agent)...one()`", "Core query, same row", pair,
           "<= 2x", 2)  # fmt: skip
    store.close()


NEWEST_SQL = "SELECT * FROM memories WHERE agent_id = ? ORDER BY created_at DESC LIMIT 100"


def newest_orm(store: Store, agent: str) -> None:
    """The newest 100 memories of ``agent``, as ORM objects, in a new session."""
    with Session(store.engine) as session:
        session.exec(
            select(Memory)
            .where(Memory.agent_id == agent)
            .order_by(Memory.created_at.desc())  # type: ignore[attr-defined]
            .limit(100)
        ).all()


def bench_newest(scratch: Scratch, total: int, rounds: int) -> Path:
    """The newest 100 memories of one agent on a store of the current schema (v2's index)."""
    path = scratch.path()
    store = new_store(path)
    batch = 50_000
    for start in range(0, total, batch):
        store.insert_many(Memory, memory_rows(min(batch, total - start)))
    agent = "agent-42"
    con = sqlite3.connect(path)
    plan = " / ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {NEWEST_SQL}", (agent,)))
    table = Memory.__table__  # type: ignore[attr-defined]

    def raw() -> None:
        con.execute(NEWEST_SQL, (agent,)).fetchall()

    def core() -> None:  # the same query without ORM objects: plain rows
        with store.engine.connect() as conn:
            conn.execute(
                table.select()
                .where(table.c.agent_id == agent)
                .order_by(table.c.created_at.desc())
                .limit(100)
            ).all()

    plain = plain_memory_class(store.engine)
    plain_columns: Any = plain  # its columns are class attributes only at run time

    def plain_orm() -> None:  # the floor under the target: SQLAlchemy's ORM with its own types
        with Session(store.engine) as session:
            session.scalars(
                select(plain)
                .where(plain_columns.agent_id == agent)
                .order_by(plain_columns.created_at.desc())
                .limit(100)
            ).all()

    what = f"100 newest memories of one agent among {total:,}"
    pair = paired(raw, lambda: newest_orm(store, agent), rounds)
    record(what, "hand-written sqlite3 query", pair, "<= 5x", 5)
    record("the same, as rows (`Memory.__table__.select()`)", "hand-written sqlite3 query",
           paired(raw, core, rounds), "report")  # fmt: skip
    record("the same, as objects of a plain SQLAlchemy class on the reflected table (floors.py)",
           "hand-written sqlite3 query", paired(raw, plain_orm, rounds), "report")  # fmt: skip
    con.close()
    store.close()
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


def bench_v2_indexes(current: Path, v1: Path, total: int, rounds: int) -> None:
    """The read schema v2's indexes were made for, on the same rows before and after."""
    agent = ("agent-42",)
    before, after = sqlite3.connect(v1), sqlite3.connect(current)
    plans = [
        " / ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {NEWEST_SQL}", agent))
        for con in (before, after)
    ]
    pair = paired(
        lambda: before.execute(NEWEST_SQL, agent).fetchall(),
        lambda: after.execute(NEWEST_SQL, agent).fetchall(),
        rounds,
    )
    before.close()
    after.close()
    record(f"100 newest memories of one agent among {total:,}, schema v2",
           "schema v1 (no v2 index), same rows, sqlite3", pair, "report")  # fmt: skip
    print(f"query plan, schema v1: {plans[0]}; schema v2: {plans[1]}")


# --- encryption -------------------------------------------------------------------------

# A throwaway key of this run (64 hex characters, as the key file holds): SQLCipher takes it
# as a passphrase and derives the page key with PBKDF2, 256,000 iterations, per connection.
BENCH_KEY = secrets.token_hex(32)


def new_encrypted(path: Path) -> Store:
    store = Store(path, key=BENCH_KEY)
    store.init()
    return store


def ready_stores(scratch: Scratch, count: int, make: Callable[[Path], Store]) -> list[Store]:
    """``count`` fresh stores whose engine holds its connection already: the time of a write
    is then the time of its rows, not of the connection's key derivation."""
    stores = [make(scratch.path()) for _ in range(count)]
    for store in stores:
        with store.engine.connect():
            pass
    return stores


def encrypted_copy(plain: Path, dest: Path) -> Path:
    """An encrypted copy at ``dest`` of the store ``plain``: same rows, same pages' order."""
    from tmws_store.encryption import DatabaseKey, encrypt_file

    src, dst = sqlite3.connect(plain), sqlite3.connect(dest)
    src.backup(dst)  # the rows still in -wal too
    src.close()
    dst.close()
    encrypt_file(dest, DatabaseKey(BENCH_KEY), busy_timeout=5).unlink()  # its backup
    return dest


def bench_encryption(scratch: Scratch, newest: Path, total: int, sizes: "Sizes") -> None:
    """An encrypted store against a plain one, same operation, same run: start-up, bulk
    writes and the newest-100 read. Each SQLCipher connection derives its key first (about a
    third of a second here), so start-up rows take ``sizes.slow`` rounds."""

    def init_encrypted(path: Path) -> None:
        with Store(path, key=BENCH_KEY) as store:
            store.init()

    pair = paired(init_and_close, init_encrypted, sizes.slow, scratch.path)
    record("encrypted: fresh `init()`", "plain fresh `init()`", pair, "report")

    plain, encrypted = scratch.path(), scratch.path()
    init_and_close(plain)
    init_encrypted(encrypted)
    pair = paired(lambda: init_and_close(plain), lambda: init_encrypted(encrypted), sizes.slow)
    record("encrypted: warm start, new `Store(p, key=k).init()`", "plain `Store(p).init()`",
           pair, "report")  # fmt: skip
    # The key on the command line: a throwaway one, of a file removed at the end.
    start = "import sys, tmws_store; tmws_store.Store(sys.argv[1]{}).init()"
    pair = paired(
        python("-c", start.format(""), str(plain)),
        python("-c", start.format(", key=sys.argv[2]"), str(encrypted), BENCH_KEY),
        sizes.process,
    )
    record("encrypted: process `import tmws_store; Store(p, key=k).init()`",
           "the same process, plain file", pair, "report")  # fmt: skip

    # 10,000 rows as #18 asks, in --quick too: the ratio is not per row (5,000 gave 2.1x
    # where 10,000 gave 1.5x), so fewer rows would measure something else.
    rows = memory_rows(10_000)
    plains = ready_stores(scratch, sizes.slow, new_store)
    ciphers = ready_stores(scratch, sizes.slow, new_encrypted)
    unused = {"plain": list(plains), "cipher": list(ciphers)}  # one fresh store per round
    pair = paired(
        lambda: unused["plain"].pop().insert_many(Memory, rows),
        lambda: unused["cipher"].pop().insert_many(Memory, rows),
        sizes.slow,
    )
    record("encrypted: insert 10,000 memories, `insert_many`", "plain store, same rows", pair,
           "report")  # fmt: skip
    for store in plains + ciphers:
        store.close()

    agent = "agent-42"
    plain_big = Store(newest)
    cipher_big = Store(encrypted_copy(newest, scratch.path()), key=BENCH_KEY)
    newest_orm(cipher_big, agent)  # its connection, and the key derived, before timing
    newest_orm(plain_big, agent)
    pair = paired(
        lambda: newest_orm(plain_big, agent), lambda: newest_orm(cipher_big, agent), sizes.fast * 4
    )
    record(f"encrypted: 100 newest memories of one agent among {total:,}",
           "plain store, same rows", pair, "report")  # fmt: skip
    plain_big.close()
    cipher_big.close()
    print(f"SQLCipher connections (each derives the key): {key_derivations(encrypted)}")


KEY_PROBE = """
import sys
import sqlcipher3.dbapi2 as driver
from sqlmodel import select
from tmws_store import Memory, Store

opened = []
connect = driver.connect
driver.connect = lambda *args, **kwargs: opened.append(1) or connect(*args, **kwargs)
store = Store(sys.argv[1], key=sys.argv[2])
store.init()
at_init = len(opened)
with store.session() as session:
    session.exec(select(Memory).limit(1)).all()
print(f"warm `Store(p, key=k).init()` {at_init}, then the first session {len(opened) - at_init}")
"""


def key_derivations(path: Path) -> str:
    """How many SQLCipher connections a warm start and its first session open, counted in a
    new process (the count is the point; this one's wrapped driver would skew the timings)."""
    done = subprocess.run(
        [CHILD_PYTHON, "-c", KEY_PROBE, str(path), BENCH_KEY],
        env=child_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


# --- upgrade ----------------------------------------------------------------------------


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


def bench_upgrade(scratch: Scratch, template: Path, size_mb: int, rounds: int) -> None:
    """``init()`` upgrading the version-1 file ``template``, grown to ``size_mb``, against
    copying that file. Each round upgrades a fresh copy of it."""
    fill(template, size_mb * 2**20)
    size = template.stat().st_size
    work = scratch.path()
    folder, copy = work.parent, work.parent / "copy.db"
    disk = Pair()

    def fresh_v1() -> None:
        for leftover in folder.iterdir():  # the last round's file, backup and copy
            leftover.unlink()
        shutil.copyfile(template, work)

    def copy_file(_: None) -> None:
        with peak_bytes(folder) as extra:
            shutil.copyfile(work, copy)
            fd = os.open(copy, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        disk.base.append(extra[0])
        copy.unlink()

    def upgrade(_: None) -> None:
        with peak_bytes(folder) as extra, Store(work) as store:
            report = store.init()
        if report.action != "upgraded" or report.migrations_run[0] != 2:
            raise SystemExit(f"the version-1 file was not upgraded: {report}")
        disk.ours.append(extra[0])

    pair = paired(copy_file, upgrade, rounds, fresh_v1)
    what = f"`init()` upgrading a {size / 2**30:.2f} GB file from schema v1"
    record(what, "copy the file + fsync", pair, "report")
    record("the same, peak extra disk", "the copy", disk, "report", unit=mb)


# --- PostgreSQL -------------------------------------------------------------------------


def bench_postgres(url: str, rounds: int) -> None:
    """Start-up and bulk writes on PostgreSQL; ``url`` names an empty database, left as found."""
    import psycopg
    import psycopg.types.json

    store = Store(url=url)
    if store.init().action != "created":
        raise SystemExit(f"--postgres needs an empty database; {store.where} was not")
    location = store.location
    if not isinstance(location, ServerLocation):
        raise SystemExit(f"--postgres needs a PostgreSQL URL; {store.where} is a file")
    plain = location.url.set(drivername="postgresql").render_as_string(hide_password=False)
    engine = create_engine(location.url)
    try:
        with engine.connect() as conn:  # connected once, as a long-running program is
            pair = paired(
                lambda: TMWSModel.metadata.create_all(conn),  # reflects, creates nothing
                store.init,  # the store's engine is connected too
                rounds,
            )
        record("PostgreSQL: warm `init()`", "`create_all()` on a current schema", pair, "report")

        def raw_connect() -> None:
            with psycopg.connect(plain) as pg:
                pg.execute("SELECT 1").fetchall()

        def new_store() -> None:
            with Store(url=url) as fresh:
                fresh.init()

        pair = paired(raw_connect, new_store, rounds)
        record("PostgreSQL: a new `Store(url).init()`", "psycopg connect + `SELECT 1`", pair,
               "report")  # fmt: skip

        rows = memory_rows(10_000)
        memories = Memory.__table__  # type: ignore[attr-defined]
        columns = [c.name for c in memories.columns]

        def empty() -> None:
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE memories CASCADE")  # its children are empty

        # The baseline: the same rows as stored, read back, sent with psycopg's executemany.
        store.insert_many(Memory, rows)
        with psycopg.connect(plain) as pg:
            params = pg.execute(f"SELECT {', '.join(columns)} FROM memories").fetchall()
        wrapped = [tuple(psycopg.types.json.Jsonb(v) if isinstance(v, dict | list) else v
                         for v in row) for row in params]  # fmt: skip
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO memories ({', '.join(columns)}) VALUES ({marks})"

        def raw_insert(_: None) -> None:
            with psycopg.connect(plain) as pg, pg.cursor() as cursor:
                cursor.executemany(sql, wrapped)

        def bulk(_: None) -> None:
            store.insert_many(Memory, rows)

        pair = paired(raw_insert, bulk, max(3, rounds // 3), empty)
        record("PostgreSQL: insert 10,000 memories, `insert_many`", "psycopg `executemany`",
               pair, "report")  # fmt: skip
        empty()
    finally:
        engine.dispose()
        store.close()
        with psycopg.connect(plain, autocommit=True) as pg:  # leave the database empty
            pg.execute("DROP SCHEMA public CASCADE")
            pg.execute("CREATE SCHEMA public")


# --- main -------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time of this process and of its finished subprocesses."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def section(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one case function and say how long it took: the wall time depends on the load,
    the CPU time hardly (it says what --quick would take on an idle machine)."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn(*args, **kwargs)
    print(f"{fn.__name__}: {time.perf_counter() - wall:.1f} s, CPU {cpu_seconds() - cpu:.1f} s")
    return result


@dataclass(frozen=True)
class Sizes:
    big_mb: int  # the large file of the warm-init and upgrade cases
    big_rows: int  # memories in the newest-100 case
    rows: int  # memories written and loaded in the bulk cases
    fast: int  # rounds of cases of a few milliseconds
    slow: int  # rounds of cases of a tenth of a second or more
    process: int  # rounds of the new-process cases
    fixtures: int  # rounds of the pytest fixture case: that many tests of each kind


# --quick keeps every row but with fewer rounds and rows; the ratios it measures are per row
# or per call, so they stay close to the full run's, only noisier.
QUICK = Sizes(big_mb=64, big_rows=20_000, rows=5_000, fast=11, slow=3, process=3, fixtures=200)
FULL = Sizes(big_mb=1024, big_rows=1_000_000, rows=10_000, fast=41, slow=9, process=11,
             fixtures=200)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller big cases")
    parser.add_argument("--postgres", metavar="URL", help="also measure on this empty database")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    # The subprocess cases import tmws_store as an installed package does, from compiled
    # bytecode: with PYTHONDONTWRITEBYTECODE set (or a read-only tree) every process would
    # compile its modules again, about 0.1 s of CPU on the models import.
    compileall.compile_dir(Path(tmws_store.__file__).parent, quiet=1)
    began, cpu = time.perf_counter(), cpu_seconds()
    root = Path(tempfile.mkdtemp(prefix="tmws-bench-"))
    try:
        scratch = Scratch(root)
        global CHILD_PYTHON
        CHILD_PYTHON = clean_interpreter(scratch.path().parent)
        print(start_up_modules())
        section(bench_init, scratch, sizes.fast)
        section(bench_processes, scratch, sizes.process, every_command=not args.quick)
        section(bench_fixtures, scratch, sizes.fixtures)
        section(bench_writes, scratch, sizes.rows, sizes.slow)
        section(bench_load_all, scratch, sizes.rows, sizes.slow)
        section(bench_agent_tasks, scratch, sizes.slow)
        section(bench_big_file, scratch, sizes.big_mb, sizes.fast)
        newest = section(bench_newest, scratch, sizes.big_rows, sizes.fast * 4)
        v1 = make_v1(newest, scratch.path())
        section(bench_v2_indexes, newest, v1, sizes.big_rows, sizes.fast * 4)
        section(bench_encryption, scratch, newest, sizes.big_rows, sizes)
        section(bench_upgrade, scratch, v1, sizes.big_mb, sizes.slow)
        if args.postgres:
            section(bench_postgres, args.postgres, sizes.fast)
    finally:
        shutil.rmtree(root)
    print()
    python_version, sqlite = platform.python_version(), sqlite3.sqlite_version
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python_version}, "
        f"SQLite {sqlite}; {'--quick, ' if args.quick else ''}"
        f"took {time.perf_counter() - began:.0f} s, CPU {cpu_seconds() - cpu:.0f} s"
    )
    print()
    print("| what | baseline (median) | tmws_store (median) | ratio: median (min) | target | met |")
    print("|---|---|---|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
