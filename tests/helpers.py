"""What the tests share besides fixtures: the TMWS reference files and small helpers.

Test modules import from here (``from .helpers import ...``); ``conftest.py`` keeps only
fixtures.
"""

import hashlib
import io
import os
import sqlite3
import subprocess
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString, cast

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

    import pytest
    from alembic.operations import Operations
    from sqlalchemy import Engine

    from tmws_store import Store, TMWSModel

# The shared reference files sit beside the repository (in CI too: shared/ next to the clone).
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "tmws-reference"
REF42 = REFERENCE / "tmws-2.4.18-42-tables.db"
REF34 = REFERENCE / "tmws-2.4.18-prefix-34-tables.db"

# The 42 tables of a complete TMWS 2.4.18 install, written out rather than derived from
# the package, so that a table missing from the package cannot go unnoticed.
TMWS_TABLES = frozenset(
    {
        "agent_namespaces",
        "agent_teams",
        "agents",
        "api_audit_log",
        "api_keys",
        "detected_patterns",
        "discovered_tools",
        "execution_traces",
        "learning_patterns",
        "license_key_usage",
        "license_keys",
        "mcp_connections",
        "memories",
        "memory_consolidations",
        "memory_patterns",
        "memory_sharing",
        "pattern_usage_history",
        "personas",
        "phase_templates",
        "refresh_tokens",
        "security_audit_logs",
        "skill_activations",
        "skill_mcp_tools",
        "skill_memory_filters",
        "skill_shared_agents",
        "skill_suggestions",
        "skill_versions",
        "skills",
        "task_templates",
        "tasks",
        "token_consumption",
        "tool_dependencies",
        "tool_instances",
        "tool_verification_history",
        "trust_score_history",
        "users",
        "verification_records",
        "workflow_execution_logs",
        "workflow_executions",
        "workflow_schedules",
        "workflow_step_executions",
        "workflows",
    }
)


def run_cli(*args: str) -> "subprocess.CompletedProcess[str]":
    """``tmws-store ARGS`` in this process: its exit status and what it wrote to stdout and
    stderr, shaped like ``subprocess.run``'s result.

    Everything the command decides (exit status, one-line errors, JSON) happens in ``main()``;
    a real ``python -m tmws_store`` costs a second of imports on a loaded machine, so only the
    tests of what a process adds (pipes, signals, a terminal, imports) start one, marked slow.
    """
    from tmws_store.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return subprocess.CompletedProcess(
        ["tmws-store", *args], status, out.getvalue(), err.getvalue()
    )


def copy_reference(source: Path, dest_dir: Path) -> Path:
    """A private copy of a shared reference database (never written in place)."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?immutable=1", uri=True)
    dest = dest_dir / source.name
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return dest


def all_rows(path: Path, tables: set[str]) -> dict[str, list]:
    """Every row of the named tables of a SQLite file, sorted: for before/after comparisons."""
    con = sqlite3.connect(path)
    try:
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def run_sql(path: Path, *statements: str) -> Path:
    """Run ``statements`` on the SQLite file at ``path`` (created if missing); returns it."""
    con = sqlite3.connect(path)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    return path


def altered_copy(reference: Path, tmp: Path, *statements: str) -> Path:
    """A private copy of a reference file with ``statements`` run on it."""
    return run_sql(copy_reference(reference, tmp), *statements)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_mood(op: "Operations") -> None:
    """A migration step for tests: memories get a ``mood`` column and its index."""
    op.execute("ALTER TABLE memories ADD COLUMN mood TEXT")
    op.execute("CREATE INDEX ix_memories_mood ON memories (mood)")


def trace_start_up(monkeypatch: "pytest.MonkeyPatch") -> list[str]:
    """Record every statement ``init()``'s own connection runs from now on (in this test)."""
    from tmws_store.backends.sqlite import startup

    statements: list[str] = []
    real_connect = startup.connect

    def traced_connect(path: Path, busy_timeout: float, key: Any = None) -> sqlite3.Connection:
        con = real_connect(path, busy_timeout, key)
        con.set_trace_callback(statements.append)
        return con

    monkeypatch.setattr(startup, "connect", traced_connect)
    return statements


# --- the TMWS shapes found on users' machines (test_existing_files, test_upgrade_shapes) -----


def shape_34(tmp: Path) -> Path:
    return copy_reference(REF34, tmp)


def shape_40(tmp: Path) -> Path:
    """TMWS's server start-up path, which misses mcp_connections and phase_templates."""
    return altered_copy(REF42, tmp, "DROP TABLE mcp_connections", "DROP TABLE phase_templates")


def shape_42(tmp: Path) -> Path:
    return copy_reference(REF42, tmp)


def shape_alembic(tmp: Path) -> Path:
    return altered_copy(
        REF34,
        tmp,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('571948cc671b')",
    )


def shape_old_memories(tmp: Path) -> Path:
    """An older memories table that lacks two of today's columns (rows and keys kept)."""
    path = copy_reference(REF42, tmp)
    con = sqlite3.connect(path)
    dropped = ("learning_weight", "pattern_ids")
    (ddl,) = con.execute("SELECT sql FROM sqlite_master WHERE name = 'memories'").fetchone()
    old_ddl = "\n".join(
        line for line in ddl.splitlines() if line.strip().split(" ")[0] not in dropped
    ).replace("CREATE TABLE memories", "CREATE TABLE memories_old")
    keep = [r[1] for r in con.execute("PRAGMA table_info(memories)") if r[1] not in dropped]
    indexes = [
        sql
        for (sql,) in con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'memories' "
            "AND sql IS NOT NULL"
        )
    ]
    cols = ", ".join(keep)
    con.executescript(
        f"""
        BEGIN;
        {old_ddl};
        INSERT INTO memories_old ({cols}) SELECT {cols} FROM memories;
        DROP TABLE memories;
        ALTER TABLE memories_old RENAME TO memories;
        {";".join(indexes)};
        COMMIT;
        """
    )
    con.close()
    return path


# --- schema versions, raw rows and schemas: for the upgrade tests ---------------------------


def make_v1_store(path: Path) -> Path:
    """A store of schema version 1 as tmws_store made one: ``ddl/v1.sql`` run in one
    transaction, stamped with the application id and version 1. In WAL mode, as every store
    the package creates (the mode is set before the stamp and stays in the file)."""
    from tmws_store import schema

    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("BEGIN IMMEDIATE")
        for statement in schema.snapshot_statements(1):
            con.execute(statement)
        con.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        con.execute("PRAGMA user_version = 1")
        con.execute("COMMIT")
    finally:
        con.close()
    return path


def adopt_with_v1_chain(path: Path) -> Path:
    """Adopt the TMWS file at ``path`` as the version-1 chain did: completed and stamped 1,
    no migration run (its licence key to agents still there)."""
    from tmws_store.backends.sqlite import startup
    from tmws_store.paths import Location

    startup.initialise(Location(path, "argument"), busy_timeout=5, migrations=(), target=1)
    return path


def identity(path: Path) -> tuple[int, int]:
    """``(application_id, user_version)`` of a SQLite file."""
    con = sqlite3.connect(path)
    try:
        return (
            con.execute("PRAGMA application_id").fetchone()[0],
            con.execute("PRAGMA user_version").fetchone()[0],
        )
    finally:
        con.close()


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check``'s findings, one line each ("ok" when there are none)."""
    con = sqlite3.connect(path)
    try:
        return "\n".join(row[0] for row in con.execute("PRAGMA integrity_check"))
    finally:
        con.close()


def names_of(path: Path, kind: str) -> set[str]:
    """The names of a SQLite file's schema objects of one ``kind``: "table", "index", ..."""
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))}
    finally:
        con.close()


def schema_of(path: Path) -> frozenset[tuple[str, str, str, str | None]]:
    """Every schema entry of a SQLite file as (type, name, table, SQL): equal schemas compare
    equal whatever pages they sit on (``rootpage`` left out)."""
    con = sqlite3.connect(path)
    try:
        return frozenset(con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        con.close()


def table_columns(path: Path) -> dict[str, list[str]]:
    """Every table of a SQLite file and its columns, in declared order."""
    con = sqlite3.connect(path)
    try:
        names = [
            row[0]
            for row in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: [row[1] for row in con.execute(f'PRAGMA table_info("{name}")')] for name in names
        }
    finally:
        con.close()


def typed_rows(
    path: Path, columns: "Mapping[str, Sequence[str]] | None" = None
) -> dict[str, list[tuple[object, ...]]]:
    """Every row of a SQLite file, each value followed by its storage class (``typeof``),
    sorted: equal only if no value and no storage class changed.

    ``columns`` names the tables and columns to read (a file's ``table_columns`` before a
    change, so that columns added since are left out); by default all of them.
    """
    wanted = table_columns(path) if columns is None else columns
    con = sqlite3.connect(path)
    try:
        result = {}
        for table, names in wanted.items():
            values = ", ".join(f'"{name}", typeof("{name}")' for name in names)
            rows = con.execute(f'SELECT {values} FROM "{table}"').fetchall()
            result[table] = sorted(rows, key=repr)
        return result
    finally:
        con.close()


def reference_rows_by_table(folder: Path) -> "dict[str, list[dict[str, Any]]]":
    """Every row of the complete TMWS reference read through its model, as field values, per
    table, tables parents first. Read from a private copy made in ``folder``."""
    from sqlmodel import Session, create_engine, select

    from tmws_store import TMWSModel

    folder.mkdir(parents=True, exist_ok=True)
    models = {m.class_.__tablename__: m.class_ for m in TMWSModel._sa_registry.mappers}  # type: ignore[attr-defined]
    engine = create_engine(f"sqlite:///{copy_reference(REF42, folder)}")
    try:
        with Session(engine) as session:
            return {
                table.name: [row.model_dump() for row in session.exec(select(models[table.name]))]
                for table in TMWSModel.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def reference_row_data(folder: Path) -> "list[tuple[type[TMWSModel], dict[str, Any]]]":
    """Every row of the complete TMWS reference as (model, values), parents before children."""
    from tmws_store import TMWSModel

    models = {m.class_.__tablename__: m.class_ for m in TMWSModel._sa_registry.mappers}  # type: ignore[attr-defined]
    return [
        (models[table], row)
        for table, rows in reference_rows_by_table(folder).items()
        for row in rows
    ]


def add_through_models(
    store: "Store", rows: "Iterable[tuple[type[TMWSModel], dict[str, Any]]]"
) -> int:
    """Write ``rows`` through their models on the store's own engine, in one transaction,
    without ``init()`` (which would first upgrade the store they are meant to be in).

    Flushed row by row in the order given, parents first: foreign keys are enforced.
    """
    from sqlmodel import Session

    count = 0
    with Session(store.engine) as session:
        for model, values in rows:
            session.add(model.model_validate(values))
            session.flush()
            count += 1
        session.commit()
    return count


@contextmanager
def small_tmpfs(point: Path, size: int) -> "Iterator[Path]":
    """A tmpfs of ``size`` bytes mounted on the new folder ``point``, unmounted at the end.

    As in test_disk_full.py: mounting needs root and a kernel that lets us; elsewhere the
    test is skipped, since the feature it needs is absent (CI runs as root, and runs it).
    """
    import pytest

    if os.geteuid() != 0:
        pytest.skip(
            "mounting a tmpfs needs root, which this run lacks (test_disk_full.py still fills "
            "files with RLIMIT_FSIZE; this test's own case runs only where it can mount)"
        )
    point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"this kernel or sandbox refuses to mount a tmpfs: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


# --- PostgreSQL, read and changed behind the store's back -----------------------------------


def pg_query(url: str, *statements: str) -> list[tuple[object, ...]]:
    """Run ``statements`` with psycopg in one transaction; the rows of the last one."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cursor = conn.execute(cast("LiteralString", statement))  # the tests' own SQL
            rows = cursor.fetchall() if cursor.description else []
        return rows


def pg_tables(url: str) -> list[str]:
    """The tables of the database's current schema, by name."""
    rows = pg_query(
        url,
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
    )
    return [str(row[0]) for row in rows]


def pg_rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, as psycopg reads them (typed values), sorted."""
    return {
        table: sorted(pg_query(url, f'SELECT * FROM "{table}"'), key=repr)
        for table in pg_tables(url)
    }


def pg_catalog(url: str) -> tuple[object, list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The stamp comment, every column (table, name, type) and every index with its
    definition: what a refusal must leave as it was."""
    from tmws_store.backends.postgresql import STAMP_TABLE

    stamp = pg_query(url, f"SELECT obj_description('{STAMP_TABLE}'::regclass)")[0][0]
    columns = pg_query(
        url,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY 1, 2",
    )
    indexes = pg_query(
        url,
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
    )
    return stamp, columns, indexes


def make_v1_postgres(url: str) -> str:
    """A PostgreSQL store of schema version 1: the current schema without version 2's new
    indexes, stamped 1 (version 2 added nothing else to a store made by tmws_store)."""
    from tmws_store import Store
    from tmws_store.backends.postgresql import STAMP_TABLE, stamp_text
    from tmws_store.migrations.v2 import NEW_INDEXES

    with Store(url=url) as store:
        store.init()
    drops = [f"DROP INDEX {name}" for name, _, _ in NEW_INDEXES]
    pg_query(url, *drops, f"COMMENT ON TABLE {STAMP_TABLE} IS '{stamp_text(1)}'")
    return url


# --- moving rows between stores, and the worker that races start-ups --------------------

INIT_WORKER = """
from tmws_store import Store
for round_, target in enumerate(json.loads((SYNC / "targets.json").read_text())):
    wait_for(f"round{round_}")
    try:
        store = Store(url=target) if "://" in target else Store(target)
        report(f"round{round_}", {"ok": True, "action": store.init().action})
        store.close()
    except Exception as exc:
        report(f"round{round_}", {"ok": False, "error": repr(exc)})
"""


def table_names(store: "Store") -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(store.engine).get_table_names())


def psql(url: str, *statements: str) -> list:
    """Run statements on a plain psycopg connection (autocommit); the last one's rows."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        rows: list = []
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
        return rows


def grow(point: Path, size: int) -> None:
    """Free space, as a user would: here by enlarging the file system."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True)


def rows_by_key(
    engine: "Engine", names: "Collection[str] | None" = None
) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row of every model table, as Python values, keyed by table and primary key.

    Read through the models' own column types, not as stored text: jsonb keeps JSON objects
    in its own key order and a timestamptz is not the text TMWS wrote (``12:00:00`` against
    ``12:00:00.000000``), yet both are the same values. Comparing values is what "the row
    arrived" means; comparing text would fail on differences that are not differences.
    """
    from sqlalchemy import select

    from tmws_store import TMWSModel

    found = {}
    with engine.connect() as conn:
        for table in TMWSModel.metadata.sorted_tables:
            if names is not None and table.name not in names:
                continue
            key = [column.key for column in table.primary_key.columns]
            found[table.name] = {
                tuple(row[k] for k in key): dict(row)
                for row in conn.execute(select(table)).mappings()
            }
    return found


def counts(engine: "Engine") -> dict[str, int]:
    """Rows per model table."""
    from sqlalchemy import func, select

    from tmws_store import TMWSModel

    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in TMWSModel.metadata.sorted_tables
        }


def raw_counts(path: Path) -> dict[str, int]:
    """Rows per table of a SQLite file, read with plain sqlite3 (no tmws_store involved)."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}
    finally:
        con.close()


def all_empty(url: str) -> dict[str, int]:
    """The tables of the store at ``url`` that hold rows (empty dict: none does)."""
    from tmws_store import Store

    with Store(url=url) as store:
        return {name: n for name, n in counts(store.engine).items() if n}


def agents_and_memories(path: Path, memories: int = 3) -> Path:
    """A new store file: two agents and ``memories`` memories; "memory 1"'s parent is "memory 0"."""
    from sqlalchemy import select

    from tmws_store import Agent, Memory, Store

    with Store(path) as store:
        store.init()
        store.insert_many(
            Agent,
            [
                {"agent_id": "athena", "display_name": "Athena"},
                {"agent_id": "hera", "display_name": "Hera"},
            ],
        )
        rows = [
            {"agent_id": "athena", "namespace": "team", "content": f"memory {i}", "tags": [i]}
            for i in range(memories)
        ]
        store.insert_many(Memory, rows)
        memories_table = Memory.__table__
        with store.engine.begin() as conn:  # a real self-reference: memory 1 answers memory 0
            parent = conn.execute(
                select(memories_table.c.id).where(memories_table.c.content == "memory 0")
            ).scalar_one()
            conn.execute(
                memories_table.update()
                .where(memories_table.c.content == "memory 1")
                .values(parent_memory_id=parent)
            )
    return path
