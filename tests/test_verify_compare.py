"""verify() compares types, nullability, defaults, foreign keys and indexes with the models.

Each difference is made by real DDL on a store (SQLite: the table rebuilt from its own CREATE
TABLE with one clause changed, as SQLite changes a column; PostgreSQL: ALTER TABLE), and
verify() must name ``table.column`` (or ``table.index``) and what differs. An adopted TMWS
file shows only the deviations docs/compatibility.md documents, as tolerated. A fresh store
verifying with no difference at all is the drift guard in tests/test_schema_drift.py.
"""

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import SAWarning

from tmws_store import Store, StoreError

from .helpers import REF42, copy_reference, file_digest, run_sql

# What an adopted TMWS 2.4.18 file differs in, all documented (docs/compatibility.md).
# (Schema version 2 drops TMWS's licence key on adoption: it is not among them.)
TMWS_DEVIATIONS = [
    "license_key_usage.id: type UUID in the store, CHAR(32) in the models",
    "license_key_usage.license_key_id: type UUID in the store, CHAR(32) in the models",
    "license_keys.agent_id: type UUID in the store, CHAR(32) in the models",
    "license_keys.id: type UUID in the store, CHAR(32) in the models",
]
# TMWS's indexes that duplicate another on the same columns: extra, not wrong.
TMWS_DUPLICATE_INDEXES = [
    "idx_audit_logs_client_ip",
    "idx_execution_traces_cleanup",
    "idx_skill_suggestions_orchestration",
    "idx_tool_instances_status",
    "ix_mcp_connection_server_name",
    "ix_mcp_connection_status",
    "ix_memory_expires",
    "ix_workflow_last_executed",
]


def adopted_reference(tmp: Path) -> Path:
    """A private copy of the 42-table TMWS file, adopted by init()."""
    path = copy_reference(REF42, tmp)
    with Store(path) as store:
        assert store.init().action == "adopted"
    return path


def rebuild(path: Path, table: str, old: str, new: str) -> Path:
    """Rebuild ``table`` with ``old`` replaced by ``new`` in its CREATE TABLE, keeping its rows
    and indexes: SQLite's own way to change a column's type, nullability, default or keys."""
    con = sqlite3.connect(path)
    (sql,) = con.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    assert sql.count(old) == 1, f"{old!r} is not in {table}'s CREATE TABLE exactly once"
    indexes = [
        row[0]
        for row in con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        )
    ]
    con.execute("PRAGMA foreign_keys = OFF")
    # The name is quoted once the table was renamed: CREATE TABLE "memories" (...
    con.execute(
        re.sub(rf'^CREATE TABLE "?{table}"?', "CREATE TABLE rebuilt", sql.replace(old, new))
    )
    kept = {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')}
    columns = ", ".join(
        f'"{row[1]}"' for row in con.execute("PRAGMA table_info(rebuilt)") if row[1] in kept
    )
    con.executescript(
        f"""
        BEGIN;
        INSERT INTO rebuilt ({columns}) SELECT {columns} FROM "{table}";
        DROP TABLE "{table}";
        ALTER TABLE rebuilt RENAME TO "{table}";
        {";".join(indexes)};
        COMMIT;
        """
    )
    con.close()
    return path


def verify(path: Path) -> tuple[bool, list[str]]:
    """verify()'s verdict and problems, checking that it left the file as it was."""
    before = file_digest(path)
    with Store(path) as store:
        report = store.verify()
    assert file_digest(path) == before
    return report.ok, report.problems()


# --- SQLite ---------------------------------------------------------------------------------


def test_an_adopted_tmws_file_shows_only_the_documented_deviations(tmp_path: Path) -> None:
    path = adopted_reference(tmp_path)
    with Store(path) as store:
        report = store.verify()
    assert report.ok, report.problems()
    assert report.differences == []
    assert report.tolerated_differences == TMWS_DEVIATIONS
    assert sorted(report.extra_indexes) == TMWS_DUPLICATE_INDEXES


def test_the_command_line_notes_the_tolerated_and_names_each_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tmws_store.cli import main

    path = adopted_reference(tmp_path)
    assert main(["verify", "--db", str(path)]) == 0
    assert (
        "note: 4 differences from the models that TMWS files have, as documented in "
        "docs/compatibility.md (tolerated; --json lists them)\n"
    ) in capsys.readouterr().out
    run_sql(
        path, "DROP INDEX ix_api_key_prefix", "CREATE INDEX ix_api_key_prefix ON api_keys (name)"
    )
    assert main(["verify", "--db", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}: 1 problem\n"
        "api_keys.ix_api_key_prefix: index on (name) in the store, index on (key_prefix) in the "
        "models\n"
    )


SQLITE_TABLE_CHANGES = {
    "type": (
        ("api_keys", "key_prefix VARCHAR(8) NOT NULL", "key_prefix VARCHAR(16) NOT NULL"),
        "api_keys.key_prefix: type VARCHAR(16) in the store, VARCHAR(8) in the models",
    ),
    "not-null-dropped": (
        ("api_keys", "name VARCHAR(128) NOT NULL", "name VARCHAR(128)"),
        "api_keys.name: NULL allowed in the store, NOT NULL in the models",
    ),
    "json-default": (
        ("api_keys", "metadata JSON DEFAULT '{}' NOT NULL", "metadata JSON DEFAULT '[]' NOT NULL"),
        "api_keys.metadata: default '[]' in the store, default '{}' in the models",
    ),
    "boolean-default": (
        ("phase_templates", "is_active BOOLEAN DEFAULT '1'", "is_active BOOLEAN DEFAULT '0'"),
        "phase_templates.is_active: default '0' in the store, default '1' in the models",
    ),
    "default-dropped": (
        ("agents", "role TEXT DEFAULT 'viewer' NOT NULL", "role TEXT NOT NULL"),
        "agents.role: no default in the store, default 'viewer' in the models",
    ),
    "foreign-key-dropped": (
        ("api_keys", ", \n\tFOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE", ""),
        "api_keys.user_id: no foreign key in the store, "
        "foreign key to users.id ON DELETE CASCADE in the models",
    ),
    "foreign-key-added": (
        # A key that every row satisfies: the only problem is that the models have none.
        (
            "api_keys",
            "PRIMARY KEY (id), ",
            "PRIMARY KEY (id), FOREIGN KEY(key_id) REFERENCES api_keys (key_id), ",
        ),
        "api_keys.key_id: foreign key to api_keys.key_id in the store, "
        "no foreign key in the models",
    ),
}


@pytest.mark.parametrize("change", SQLITE_TABLE_CHANGES)
def test_sqlite_a_changed_column_or_key_is_a_problem(change: str, tmp_path: Path) -> None:
    (table, old, new), expected = SQLITE_TABLE_CHANGES[change]
    path = rebuild(adopted_reference(tmp_path), table, old, new)
    assert verify(path) == (False, [expected])


SQLITE_INDEX_CHANGES = {
    "columns": (
        "CREATE INDEX ix_api_key_prefix ON api_keys (name)",
        "api_keys.ix_api_key_prefix: index on (name) in the store, index on (key_prefix) in "
        "the models",
    ),
    "uniqueness": (
        "CREATE INDEX ix_api_keys_key_id ON api_keys (key_id)",
        "api_keys.ix_api_keys_key_id: index on (key_id) in the store, unique index on (key_id) "
        "in the models",
    ),
}


@pytest.mark.parametrize("change", SQLITE_INDEX_CHANGES)
def test_sqlite_an_index_recreated_otherwise_is_a_problem(change: str, tmp_path: Path) -> None:
    create, expected = SQLITE_INDEX_CHANGES[change]
    name = create.split()[2]
    path = run_sql(adopted_reference(tmp_path), f"DROP INDEX {name}", create)
    assert verify(path) == (False, [expected])


def test_sqlite_extra_indexes_are_listed_and_an_extra_unique_one_is_a_problem(
    tmp_path: Path,
) -> None:
    path = run_sql(adopted_reference(tmp_path), "CREATE INDEX mine ON api_keys (name)")
    with Store(path) as store:
        report = store.verify()
    assert report.ok and "mine" in report.extra_indexes
    # A unique one refuses rows that the models accept.
    run_sql(path, "CREATE UNIQUE INDEX mine_unique ON api_keys (description)")
    assert verify(path) == (
        False,
        ["api_keys.mine_unique: unique index on (description) in the store, none in the models"],
    )


def test_sqlite_a_default_given_by_adoption_is_tolerated_and_no_other(tmp_path: Path) -> None:
    # memories as TMWS had it before learning_weight: adoption adds the column to the rows
    # already there with DEFAULT 1.0, the models' Python default; the models declare none.
    path = rebuild(
        copy_reference(REF42, tmp_path), "memories", "learning_weight FLOAT NOT NULL, ", ""
    )
    with Store(path) as store:
        assert store.init().columns_added == ("memories.learning_weight",)
        report = store.verify()
    assert report.ok, report.problems()
    assert (
        "memories.learning_weight: default 1.0 in the store, no default in the models (given "
        "by adoption to the rows already there)"
    ) in report.tolerated_differences
    # The same column with a default adoption would not give it is wrong.
    rebuild(
        path, "memories", "learning_weight FLOAT DEFAULT 1.0", "learning_weight FLOAT DEFAULT 2.0"
    )
    assert verify(path) == (
        False,
        ["memories.learning_weight: default 2.0 in the store, no default in the models"],
    )


def test_sqlite_a_table_the_comparison_cannot_read_is_a_store_error(tmp_path: Path) -> None:
    # memory_sharing turned into a virtual table of a module this SQLite lacks (its indexes
    # removed, which a virtual table cannot have): sqlite_master reads fine, but reflecting the
    # table fails inside SQLAlchemy. That must come out as a StoreError naming the file, not
    # as SQLAlchemy's OperationalError.
    path = run_sql(
        adopted_reference(tmp_path),
        "PRAGMA writable_schema = ON",
        "DELETE FROM sqlite_master WHERE type = 'index' AND tbl_name = 'memory_sharing'",
        "UPDATE sqlite_master SET rootpage = 0, "
        "sql = 'CREATE VIRTUAL TABLE memory_sharing USING no_such_module(a)' "
        "WHERE name = 'memory_sharing'",
    )
    with Store(path) as store, pytest.raises(StoreError) as raised:
        store.verify()
    assert raised.type is StoreError  # not a subclass: nothing more specific applies
    assert str(raised.value) == f"verifying {path}: no such module: no_such_module"


@pytest.mark.slow
def test_alembic_is_imported_by_verify_and_not_by_a_warm_start(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    code = (
        "import sys\n"
        "from tmws_store import Store\n"
        "with Store(sys.argv[1]) as store:\n"
        "    assert store.init().action == 'current'\n"
        "    print('alembic' in sys.modules)\n"
        "    store.verify()\n"
        "    print('alembic' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]


# --- PostgreSQL -----------------------------------------------------------------------------


def psql(url: str, *statements: str) -> None:
    """Run statements on a plain psycopg connection, in autocommit."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.autocommit = True
        for statement in statements:
            conn.execute(statement)


def pg_verify(url: str) -> tuple[bool, list[str]]:
    with Store(url=url) as store:
        report = store.verify()
    return report.ok, report.problems()


PG_CHANGES = {
    "type-length": (
        "ALTER TABLE api_keys ALTER COLUMN key_prefix TYPE varchar(16)",
        "api_keys.key_prefix: type VARCHAR(16) in the store, VARCHAR(8) in the models",
    ),
    "type-timestamp": (
        "ALTER TABLE api_keys ALTER COLUMN expires_at TYPE timestamp",
        "api_keys.expires_at: type TIMESTAMP WITHOUT TIME ZONE in the store, "
        "TIMESTAMP WITH TIME ZONE in the models",
    ),
    "type-json": (
        "ALTER TABLE api_keys ALTER COLUMN scopes TYPE json",
        "api_keys.scopes: type JSON in the store, JSONB in the models",
    ),
    "type-uuid": (
        "ALTER TABLE license_key_usage ALTER COLUMN id TYPE varchar(32)",
        "license_key_usage.id: type VARCHAR(32) in the store, UUID in the models",
    ),
    "not-null-dropped": (
        "ALTER TABLE api_keys ALTER COLUMN name DROP NOT NULL",
        "api_keys.name: NULL allowed in the store, NOT NULL in the models",
    ),
    "json-default": (
        "ALTER TABLE api_keys ALTER COLUMN metadata SET DEFAULT '[]'",
        "api_keys.metadata: default '[]'::jsonb in the store, default '{}' in the models",
    ),
    "boolean-default": (
        "ALTER TABLE phase_templates ALTER COLUMN is_active SET DEFAULT false",
        "phase_templates.is_active: default false in the store, default '1' in the models",
    ),
    "default-added": (
        "ALTER TABLE api_keys ALTER COLUMN total_requests SET DEFAULT 0",
        "api_keys.total_requests: default 0 in the store, no default in the models",
    ),
    "foreign-key-dropped": (
        "ALTER TABLE api_keys DROP CONSTRAINT api_keys_user_id_fkey",
        "api_keys.user_id: no foreign key in the store, "
        "foreign key to users.id ON DELETE CASCADE in the models",
    ),
    "foreign-key-added": (
        "ALTER TABLE api_keys ADD FOREIGN KEY (name) REFERENCES agents (agent_id)",
        "api_keys.name: foreign key to agents.agent_id in the store, no foreign key in the models",
    ),
    "index-columns": (
        "DROP INDEX ix_api_key_prefix; CREATE INDEX ix_api_key_prefix ON api_keys (name)",
        "api_keys.ix_api_key_prefix: index on (name) in the store, index on (key_prefix) in "
        "the models",
    ),
    "index-uniqueness": (
        "DROP INDEX ix_api_keys_key_id; CREATE INDEX ix_api_keys_key_id ON api_keys (key_id)",
        "api_keys.ix_api_keys_key_id: index on (key_id) in the store, unique index on (key_id) "
        "in the models",
    ),
    "unique-constraint-dropped": (
        "ALTER TABLE learning_patterns DROP CONSTRAINT uq_learning_patterns_name_namespace_agent",
        "learning_patterns.(pattern_name, namespace, agent_id): not unique in the store, "
        "unique constraint in the models",
    ),
}


@pytest.mark.parametrize("change", PG_CHANGES)
def test_postgresql_a_changed_column_key_or_index_is_a_problem(
    change: str, postgres_store_url: str
) -> None:
    statement, expected = PG_CHANGES[change]
    psql(postgres_store_url, statement)
    assert pg_verify(postgres_store_url) == (False, [expected])


def test_postgresql_a_type_sqlalchemy_does_not_know_is_a_problem(postgres_store_url: str) -> None:
    # Left to Alembic, a column it cannot reflect the type of compares equal.
    psql(postgres_store_url, "ALTER TABLE api_keys ALTER COLUMN last_used_ip TYPE point USING NULL")
    with pytest.warns(SAWarning, match="Did not recognize type 'point'"):
        result = pg_verify(postgres_store_url)
    assert result == (
        False,
        [
            "api_keys.last_used_ip: type unknown to SQLAlchemy in the store, "
            "VARCHAR(45) in the models"
        ],
    )


def test_postgresql_extra_objects_are_listed_not_wrong(postgres_store_url: str) -> None:
    psql(
        postgres_store_url,
        "CREATE INDEX mine ON api_keys (name)",
        "CREATE TABLE notes (id int PRIMARY KEY, body text UNIQUE)",
        "ALTER TABLE api_keys ADD COLUMN note text",
    )
    with Store(url=postgres_store_url) as store:
        report = store.verify()
    assert report.ok, report.problems()
    assert (report.extra_indexes, report.extra_tables, report.extra_columns) == (
        ["mine"],
        ["notes"],
        ["api_keys.note"],
    )
    assert report.differences == report.tolerated_differences == []


def test_postgresql_triggers_rules_and_views_are_problems(postgres_store_url: str) -> None:
    """SQL of someone else's that would run inside the store's writes, as on SQLite."""
    psql(
        postgres_store_url,
        "CREATE FUNCTION wipe() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN DELETE FROM memories; RETURN NEW; END $$",
        "CREATE TRIGGER evil AFTER UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION wipe()",
        "CREATE RULE no_tasks AS ON INSERT TO tasks DO INSTEAD NOTHING",
        "CREATE VIEW busy AS SELECT agent_id FROM agents",
    )
    with Store(url=postgres_store_url) as store:
        report = store.verify()
    assert report.foreign_triggers_and_views == [
        "rule no_tasks on tasks",
        "trigger evil on agents",
        "view busy",
    ]
    assert not report.ok
    assert report.problems() == [
        "rule no_tasks on tasks: not made by TMWS or tmws_store",
        "trigger evil on agents: not made by TMWS or tmws_store",
        "view busy: not made by TMWS or tmws_store",
    ]
