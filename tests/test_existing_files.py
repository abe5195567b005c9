"""Existing files: adopt every TMWS shape without losing a row; refuse what is not ours.

Every test works on copies of the shared reference files, never on the originals.
"""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.operations import Operations

from tmws_store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    ForeignDatabaseError,
    MigrationError,
    NewerSchemaError,
    NotADatabaseError,
    Store,
)
from tmws_store.backends.sqlite import startup
from tmws_store.migrations import MIGRATIONS, Migration
from tmws_store.paths import resolve_location

from .helpers import (
    REF34,
    REF42,
    REFERENCE,
    TMWS_TABLES,
    add_mood,
    altered_copy,
    copy_reference,
    file_digest,
    names_of,
    run_sql,
    shape_34,
    shape_40,
    shape_42,
    shape_alembic,
    shape_old_memories,
)

TMWS_DDL = (REFERENCE / "tmws-2.4.18-schema.sql").read_text()


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def snapshot_rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, original columns only, in rowid order (or key order)."""
    con = connect(path)
    try:
        result = {}
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'SELECT {cols} FROM "{name}"').fetchall()
            result[name] = sorted(rows, key=repr)
        return result
    finally:
        con.close()


def rows_of(path: Path, original: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The rows of ``original``'s tables in ``path``, restricted to the original columns."""
    con = connect(path)
    try:
        result = {}
        for name, rows in original.items():
            width = len(rows[0]) if rows else None
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
            columns = columns[:width] if width is not None else columns
            cols = ", ".join(f'"{c}"' for c in columns)
            result[name] = sorted(con.execute(f'SELECT {cols} FROM "{name}"').fetchall(), key=repr)
        return result
    finally:
        con.close()


def pragma(path: Path, name: str) -> object:
    con = connect(path)
    try:
        return con.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        con.close()


# --- the shapes found on users' machines ------------------------------------------------


def shape_half_made(tmp: Path) -> Path:
    """What TMWS's autocommit create_all() leaves when it dies part-way: 20 tables, no stamp."""
    ref = sqlite3.connect(f"{REF42.resolve().as_uri()}?immutable=1", uri=True)
    first = [r[0] for r in ref.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 20"
    )]  # fmt: skip
    marks = ", ".join("?" * len(first))
    ddl = [r[0] for r in ref.execute(
        f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({marks}) AND sql IS NOT NULL "
        "ORDER BY type DESC, name",  # tables before their indexes
        first,
    )]  # fmt: skip
    ref.close()
    path = tmp / "half.db"
    con = connect(path)
    for statement in ddl:
        con.execute(statement)
    con.execute(
        "INSERT INTO agents (agent_id, display_name, namespace, capabilities, config, "
        "default_access_level, status, health_score, total_memories, total_tasks, "
        "successful_tasks, trust_score, total_verifications, accurate_verifications, tier, id) "
        "VALUES ('a', 'A', 'default', '{}', '{}', 'private', 'active', 1.0, 0, 0, 0, 0.5, 0, 0, "
        "'FREE', '00000000-0000-4000-8000-000000000000')"
    )
    con.commit()
    con.close()
    return path


SHAPES = {
    "34-tables": shape_34,
    "40-tables": shape_40,
    "42-tables": shape_42,
    "with-alembic_version": shape_alembic,
    "memories-missing-two-columns": shape_old_memories,
    "half-made": shape_half_made,
}


@pytest.mark.parametrize("shape", SHAPES)
def test_adopt_every_shape_without_losing_a_row(shape: str, tmp_path: Path) -> None:
    path = SHAPES[shape](tmp_path)
    before_tables = names_of(path, "table")
    before = snapshot_rows(path)
    assert pragma(path, "application_id") == 0

    with Store(path) as store:
        report = store.init()

    assert report.action == "adopted"
    assert names_of(path, "table") >= TMWS_TABLES
    assert names_of(path, "table") - TMWS_TABLES == before_tables - set(
        TMWS_TABLES
    )  # e.g. alembic_version
    assert set(report.tables_created) == TMWS_TABLES - before_tables
    assert rows_of(path, before) == before
    assert (pragma(path, "application_id"), pragma(path, "user_version")) == (
        APPLICATION_ID,
        SCHEMA_VERSION,
    )
    assert pragma(path, "integrity_check") == "ok"

    # The backup holds the original content, and says what it is.
    assert report.backup is not None and report.backup.parent == path.parent
    assert "backup" in report.backup.name and "before-adopt" in report.backup.name
    assert snapshot_rows(report.backup) == before
    assert pragma(report.backup, "application_id") == 0

    # The next start takes the one-query path and changes nothing.
    schema_version = pragma(path, "schema_version")
    with Store(path) as store:
        assert store.init().action == "current"
        assert store.verify().ok, store.verify().problems()
    assert pragma(path, "schema_version") == schema_version


def test_adopting_adds_missing_columns_with_their_defaults(tmp_path: Path) -> None:
    path = shape_old_memories(tmp_path)
    with Store(path) as store:
        report = store.init()
    assert set(report.columns_added) == {"memories.learning_weight", "memories.pattern_ids"}
    con = connect(path)
    values = set(con.execute("SELECT learning_weight, pattern_ids FROM memories").fetchall())
    assert values == {(1.0, "[]")}


def test_a_not_null_column_without_default_is_refused_untouched(tmp_path: Path) -> None:
    """memories.content cannot be given to rows that exist: nothing may change."""
    path = tmp_path / "old.db"
    con = connect(path)
    con.execute("CREATE TABLE memories (id VARCHAR(36) NOT NULL PRIMARY KEY, agent_id TEXT)")
    con.execute("INSERT INTO memories VALUES ('m1', 'athena')")
    con.commit()
    con.close()
    digest = file_digest(path)
    with pytest.raises(MigrationError, match=r"memories\.content"):
        Store(path).init()
    assert file_digest(path) == digest
    assert not list(tmp_path.glob("*.backup-*"))


# --- refusals: a specific error, and the file byte-for-byte unchanged --------------------


def make_other_app(tmp: Path) -> Path:
    return run_sql(tmp / "other.db", "PRAGMA application_id = 1234", "CREATE TABLE agents (x)")


def make_newer(tmp: Path) -> Path:
    path = tmp / "newer.db"
    with Store(path) as store:
        store.init()
    return run_sql(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


def make_someone_elses(tmp: Path) -> Path:
    return run_sql(
        tmp / "someone.db",
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)",
        "INSERT INTO invoices VALUES (1, 9.5)",
    )


def make_view_only(tmp: Path) -> Path:
    """No table at all, but a view named like one of ours."""
    return run_sql(tmp / "views.db", "CREATE VIEW api_keys AS SELECT 1 AS id")


def make_text_file(tmp: Path) -> Path:
    path = tmp / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    return path


REFUSALS = {
    "other application_id": (make_other_app, ForeignDatabaseError, "another program"),
    "newer user_version": (make_newer, NewerSchemaError, "newer tmws_store"),
    "someone else's tables": (make_someone_elses, ForeignDatabaseError, "invoices"),
    "only a view named like ours": (make_view_only, ForeignDatabaseError, "api_keys"),
    "not SQLite": (make_text_file, NotADatabaseError, "not a SQLite database"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_leave_the_file_byte_for_byte(case: str, tmp_path: Path) -> None:
    make, error, words = REFUSALS[case]
    path = make(tmp_path)
    digest = file_digest(path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error, match=words) as info:
        Store(path).init()
    assert str(path) in str(info.value)
    assert file_digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no backup, no -wal left


def test_a_view_named_like_a_missing_table_is_refused_untouched(tmp_path: Path) -> None:
    """create_all() would skip such a table and inserts would fail later; we refuse."""
    path = altered_copy(REF34, tmp_path, "CREATE VIEW skills AS SELECT 1 AS id")
    digest = file_digest(path)
    with pytest.raises(MigrationError, match="'skills' exists in this file as a view"):
        Store(path).init()
    assert file_digest(path) == digest
    assert not list(tmp_path.glob("*.backup-*"))


def test_a_directory_at_the_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    path.mkdir()
    with pytest.raises(NotADatabaseError, match="is a directory"):
        Store(path).init()
    assert list(path.iterdir()) == []


UNREADABLE_CHILD = """
import sys
from tmws_store import Store, NotADatabaseError
try:
    Store(sys.argv[1]).init()
except NotADatabaseError as exc:
    print("refused:", exc)
"""


@pytest.mark.slow
def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    digest = file_digest(path)
    path.chmod(0o000)
    command = [sys.executable, "-c", UNREADABLE_CHILD, str(path)]
    if os.geteuid() == 0:
        # root reads any file: run the child as root without the capabilities that let it.
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *command]
    out = subprocess.run(command, capture_output=True, text=True)
    path.chmod(0o600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused:") and str(path) in out.stdout
    assert file_digest(path) == digest


# --- later versions of tmws_store: ordered migrations -------------------------------------


# A version after this one: the chain as it is, and one more step.
NEXT = SCHEMA_VERSION + 1
NEXT_CHAIN = (*MIGRATIONS, Migration(NEXT, add_mood))


def test_a_next_migration_on_a_file_with_rows(tmp_path: Path) -> None:
    path = copy_reference(REF42, tmp_path)
    with Store(path) as store:
        store.init()  # adopted, then migrated to the current version
    before = snapshot_rows(path)
    location = resolve_location(path)

    report = startup.initialise(location, busy_timeout=5, migrations=NEXT_CHAIN, target=NEXT)

    assert (report.action, report.migrations_run) == ("upgraded", (NEXT,))
    assert pragma(path, "user_version") == NEXT
    con = connect(path)
    assert "mood" in {r[1] for r in con.execute("PRAGMA table_info(memories)")}
    assert (
        con.execute(
            "SELECT count(*) FROM pragma_index_list('memories') WHERE name = 'ix_memories_mood'"
        ).fetchone()[0]
        == 1
    )
    con.close()
    assert rows_of(path, before) == before
    assert report.backup is not None and snapshot_rows(report.backup) == before
    # Current now: the next start does nothing; this version refuses the newer file.
    again = startup.initialise(location, busy_timeout=5, migrations=NEXT_CHAIN, target=NEXT)
    assert again.action == "current"
    digest = file_digest(path)
    with pytest.raises(NewerSchemaError):
        Store(path).init()
    assert file_digest(path) == digest


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()

    def broken(op: Operations) -> None:
        op.execute("ALTER TABLE memories ADD COLUMN half TEXT")
        op.execute("ALTER TABLE no_such_table ADD COLUMN x TEXT")

    location = resolve_location(path)
    chain = (*MIGRATIONS, Migration(NEXT, broken))
    with pytest.raises(MigrationError, match="no_such_table"):
        startup.initialise(location, busy_timeout=5, migrations=chain, target=NEXT)
    assert pragma(path, "user_version") == SCHEMA_VERSION
    con = connect(path)
    assert "half" not in {r[1] for r in con.execute("PRAGMA table_info(memories)")}


def test_rows_a_missing_unique_index_would_refuse_stop_adoption_before_any_write(
    tmp_path: Path,
) -> None:
    """Two users sharing an email, the unique index on it missing: CREATE INDEX failed after
    the backup, the switch to WAL and the tightened mode, and the message spoke of a refused
    row. Now a MigrationError naming the index, with the file as it was and no backup."""
    path = run_sql(
        copy_reference(REF42, tmp_path),
        "DROP INDEX ix_users_email",
        "UPDATE users SET email = 'same@example.com'",  # the reference's two users
    )
    before = (file_digest(path), path.stat().st_mode, sorted(p.name for p in tmp_path.iterdir()))
    for _ in range(2):  # a retry changes nothing either
        with pytest.raises(MigrationError, match=r"unique index ix_users_email on users\(email\)"):
            Store(path).init()
    after = (file_digest(path), path.stat().st_mode, sorted(p.name for p in tmp_path.iterdir()))
    assert after == before


@pytest.mark.parametrize(
    "statements",
    [("ALTER TABLE phase_templates RENAME TO renamed",  # SQLite refuses a case-only rename
      "ALTER TABLE renamed RENAME TO PHASE_TEMPLATES"),
     ("ALTER TABLE memories RENAME COLUMN summary TO Summary",)],
    ids=["table", "column"],
)  # fmt: skip
def test_a_name_that_differs_only_in_case_is_ours(
    statements: tuple[str, ...], tmp_path: Path
) -> None:
    """SQLite's names are case-insensitive: the completion took PHASE_TEMPLATES (or a column
    Summary) for one missing, and its CREATE failed after the backup."""
    path = run_sql(copy_reference(REF42, tmp_path), *statements)
    with Store(path) as store:
        report = store.init()
        assert report.action == "adopted"
        assert report.tables_created == () and report.columns_added == ()
