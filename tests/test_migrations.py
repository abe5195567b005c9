"""The migration chain: a store of schema version 1 reaches the current version on both back
ends, and an adopted TMWS file goes through the chain (completed to version 1, then
migrated), which drops TMWS's licence key that no row can satisfy."""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tmws_store import (
    SCHEMA_VERSION,
    LicenseKey,
    MigrationError,
    Store,
    TierEnum,
    TMWSModel,
    schema,
)
from tmws_store.backends.postgresql import STAMP_TABLE, stamp_text
from tmws_store.backends.sqlite import startup
from tmws_store.migrations.v2 import NEW_INDEXES
from tmws_store.paths import resolve_location

from .helpers import (
    REF42,
    copy_reference,
    identity,
    make_v1_store,
    names_of,
    pg_query,
    shape_34,
)

NEW_LICENCE_ROW = (
    "INSERT INTO license_keys (id, agent_id, tier, license_key_hash, issued_at, is_active) "
    "VALUES ('c0ffee00c0ffee00c0ffee00c0ffee00', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'PRO', 'x', "
    "'2026-12-03 00:00:00.000000', 1)"
)


def new_licence_key() -> LicenseKey:
    return LicenseKey(
        agent_id="b" * 32, tier=TierEnum.PRO, license_key_hash="x", issued_at=datetime.now(UTC)
    )


def test_a_postgresql_store_of_version_1_is_upgraded(postgres_url: str) -> None:
    with Store(url=postgres_url) as store:
        store.init()
        with store.session() as session:
            session.add(new_licence_key())
    # Version 1 is version 2 without the new indexes.
    drops = [f"DROP INDEX {name}" for name, _, _ in NEW_INDEXES]
    pg_query(postgres_url, *drops, f"COMMENT ON TABLE {STAMP_TABLE} IS '{stamp_text(1)}'")

    with Store(url=postgres_url) as store:
        report = store.init()
        assert (report.action, report.migrations_run) == ("upgraded", (2,))
        assert store.init().action == "current"
        assert store.verify().ok
    names = {row[0] for row in pg_query(postgres_url, "SELECT indexname FROM pg_indexes")}
    assert {name for name, _, _ in NEW_INDEXES} <= names
    assert pg_query(postgres_url, "SELECT count(*) FROM license_keys") == [(1,)]


def test_a_sqlite_store_of_version_1_is_upgraded_after_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    con = sqlite3.connect(path)
    for name, _, _ in NEW_INDEXES:
        con.execute(f"DROP INDEX {name}")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()

    with Store(path) as store:
        report = store.init()
        assert (report.action, report.migrations_run) == ("upgraded", (2,))
        assert report.backup is not None and report.backup.name.endswith("before-upgrade-from-v1")
        assert store.verify().ok
    assert {name for name, _, _ in NEW_INDEXES} <= names_of(path, "index")


def test_an_adopted_tmws_file_takes_new_licence_keys(tmp_path: Path) -> None:
    # Adopted at version 1 only (no migration), TMWS's licence key refuses every new row.
    (tmp_path / "stuck").mkdir()
    stuck = copy_reference(REF42, tmp_path / "stuck")
    startup.initialise(resolve_location(stuck), busy_timeout=5, migrations=(), target=1)
    con = sqlite3.connect(stuck)
    con.execute("PRAGMA foreign_keys = ON")  # as every connection of the store runs
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        con.execute(NEW_LICENCE_ROW)
    con.close()

    path = copy_reference(REF42, tmp_path)
    before = (
        sqlite3.connect(path)
        .execute("SELECT *, typeof(id), typeof(agent_id) FROM license_keys ORDER BY id")
        .fetchall()
    )
    with Store(path) as store:
        report = store.init()
        assert (report.action, report.schema_version, report.migrations_run) == (
            "adopted",
            SCHEMA_VERSION,
            (2,),
        )
        with store.session() as session:
            session.add(new_licence_key())
        assert store.verify().ok
    con = sqlite3.connect(path)
    after = con.execute(
        "SELECT *, typeof(id), typeof(agent_id) FROM license_keys WHERE license_key_hash != 'x' "
        "ORDER BY id"
    ).fetchall()
    ddl = con.execute("SELECT sql FROM sqlite_master WHERE name = 'license_keys'").fetchone()[0]
    con.close()
    assert after == before  # every value and storage class as it was
    assert "FOREIGN KEY" not in ddl and "id UUID NOT NULL" in ddl  # TMWS's declared types kept


def test_our_stamp_with_version_0_is_completed_as_a_tmws_file(tmp_path: Path) -> None:
    """Our application id with user_version 0 (another tool's doing, or a hand's) says nothing
    about the tables: the file is adopted (completed to version 1), then migrated, never
    stamped current with tables missing."""
    path = shape_34(tmp_path)  # a TMWS file of 34 tables
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    con.commit()
    con.close()
    with Store(path) as store:
        report = store.init()
        assert report.action == "adopted" and len(report.tables_created) == 42 - 34
        assert store.verify().ok
    assert names_of(path, "table") >= set(TMWSModel.metadata.tables)


def test_a_version_1_store_that_lost_a_table_fails_its_upgrade_with_a_store_error(
    tmp_path: Path,
) -> None:
    """The migration to version 2 reads license_keys: a file without it is a MigrationError
    naming the table (SQLAlchemy's NoSuchTableError before), and stays at version 1."""
    path = make_v1_store(tmp_path / "tmws.db")
    con = sqlite3.connect(path)
    con.execute("DROP TABLE license_keys")
    con.commit()
    con.close()
    with pytest.raises(MigrationError, match="table license_keys is missing"):
        Store(path).init()
    assert identity(path) == (schema.APPLICATION_ID, 1)
