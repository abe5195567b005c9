"""Every store an upgrade can meet reaches the head with every row as it was (#15): a store of
each kept schema snapshot below the head, on both back ends, and every shape of TMWS file.

Rows are written through the models before the upgrade (besides TMWS's own), and compared
raw before and after: on SQLite each value with its storage class, on PostgreSQL as the
driver reads it.
"""

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from tmws_store import (
    SCHEMA_VERSION,
    Agent,
    LicenseKey,
    LicenseKeyUsage,
    Memory,
    Store,
    Task,
    TierEnum,
    TMWSModel,
)
from tmws_store.backends.postgresql import stamp_text
from tmws_store.migrations.v2 import NEW_INDEXES

from .helpers import (
    add_through_models,
    adopt_with_v1_chain,
    identity,
    make_v1_postgres,
    make_v1_store,
    names_of,
    pg_catalog,
    pg_rows,
    reference_row_data,
    shape_34,
    shape_40,
    shape_42,
    shape_alembic,
    shape_old_memories,
    table_columns,
    typed_rows,
)

NEW_INDEX_NAMES = {name for name, _, _ in NEW_INDEXES}


# --- a store of each kept snapshot below the head: version 1 ---------------------------------


def test_a_v1_sqlite_store_with_rows_reaches_the_head_unchanged(tmp_path: Path) -> None:
    path = make_v1_store(tmp_path / "tmws.db")
    with Store(path) as store:
        assert add_through_models(store, reference_row_data(tmp_path / "reference")) == 89
    before = typed_rows(path)
    assert all(before.values()), "a table without a row"

    with Store(path) as store:
        report = store.init()
        assert (report.action, report.schema_version, report.migrations_run) == (
            "upgraded",
            SCHEMA_VERSION,
            (2,),
        )
        check = store.verify()
        assert check.ok, check.problems()
    assert identity(path)[1] == SCHEMA_VERSION
    assert names_of(path, "index") >= NEW_INDEX_NAMES
    assert typed_rows(path) == before
    assert report.backup is not None and typed_rows(report.backup) == before


def test_a_v1_postgresql_store_with_rows_reaches_the_head_unchanged(
    postgres_url: str, tmp_path: Path
) -> None:
    make_v1_postgres(postgres_url)
    with Store(url=postgres_url) as store:
        assert add_through_models(store, reference_row_data(tmp_path)) == 89
    before = pg_rows(postgres_url)
    assert all(before.values()), "a table without a row"

    with Store(url=postgres_url) as store:
        report = store.init()
        assert (report.action, report.schema_version, report.migrations_run) == (
            "upgraded",
            SCHEMA_VERSION,
            (2,),
        )
        check = store.verify()
        assert check.ok, check.problems()
    stamp, _, indexes = pg_catalog(postgres_url)
    assert stamp == stamp_text(SCHEMA_VERSION)
    assert {name for name, _ in indexes} >= NEW_INDEX_NAMES
    assert pg_rows(postgres_url) == before


# --- every shape of TMWS file ---------------------------------------------------------------

SHAPES: dict[str, Callable[[Path], Path]] = {
    "34-tables": shape_34,
    "40-tables": shape_40,
    "42-tables": shape_42,
    "with-alembic_version": shape_alembic,
    "memories-missing-two-columns": shape_old_memories,
}

AGENT = "upgrade-agent"
WRITTEN_AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def rows_through_models(path: Path) -> list[tuple[type[TMWSModel], dict[str, Any]]]:
    """Rows as tmws_store writes them, in the tables the migration touches: an agent, its
    memory and task (new indexes), and a use of one of the file's licence keys (the table
    that references the rebuilt one). Only those whose table in the file has every column of
    the model: an older table cannot take the model's rows until it is completed."""
    con = sqlite3.connect(path)
    try:
        (licence,) = con.execute("SELECT id FROM license_keys ORDER BY id LIMIT 1").fetchone()
    finally:
        con.close()
    rows: list[tuple[type[TMWSModel], dict[str, Any]]] = [
        (Agent, {"agent_id": AGENT, "display_name": "Upgrade"}),
        (Memory, {"content": "kept", "agent_id": AGENT, "namespace": "upgrade"}),
        (Task, {"title": "t", "description": "d", "assigned_agent_id": AGENT}),
        (LicenseKeyUsage, {"license_key_id": licence, "used_at": WRITTEN_AT}),
    ]
    columns = table_columns(path)
    return [
        (model, values)
        for model, values in rows
        if _column_names(model) <= set(columns.get(model.__tablename__, ()))
    ]


def _column_names(model: type[TMWSModel]) -> set[str]:
    return {column.name for column in TMWSModel.metadata.tables[model.__tablename__].columns}


def new_licence_key() -> tuple[type[TMWSModel], dict[str, Any]]:
    return LicenseKey, {
        "agent_id": "b" * 32,
        "tier": TierEnum.PRO,
        "license_key_hash": "new-after-upgrade",
        "issued_at": WRITTEN_AT,
    }


def licence_key_references(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [row[2] for row in con.execute("PRAGMA foreign_key_list(license_keys)")]
    finally:
        con.close()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_tmws_file_before_version_2_refuses_new_licence_keys(shape: str, tmp_path: Path) -> None:
    """What version 2 fixes: adopted by the version-1 chain alone, the file keeps TMWS's key
    from license_keys.agent_id to agents.id, which no licence row can satisfy."""
    path = adopt_with_v1_chain(SHAPES[shape](tmp_path))
    assert licence_key_references(path) == ["agents"]
    with Store(path) as store, pytest.raises(IntegrityError, match="FOREIGN KEY"):
        add_through_models(store, [new_licence_key()])  # on the store's engine: keys enforced


@pytest.mark.parametrize("shape", SHAPES)
def test_every_tmws_shape_reaches_the_head_with_every_row(shape: str, tmp_path: Path) -> None:
    path = SHAPES[shape](tmp_path)
    with Store(path) as store:
        assert add_through_models(store, rows_through_models(path)) >= 3
    columns = table_columns(path)
    before = typed_rows(path)

    with Store(path) as store:
        report = store.init()
        assert (report.action, report.schema_version, report.migrations_run) == (
            "adopted",
            SCHEMA_VERSION,
            (2,),
        )
        check = store.verify()
        assert check.ok, check.problems()
        assert typed_rows(path, columns) == before  # every value, every storage class
        assert licence_key_references(path) == []
        with store.session() as session:
            session.add(LicenseKey.model_validate(new_licence_key()[1]))
    assert names_of(path, "index") >= NEW_INDEX_NAMES
    con = sqlite3.connect(path)
    try:
        count = con.execute("SELECT count(*) FROM license_keys").fetchone()[0]
    finally:
        con.close()
    assert count == len(before["license_keys"]) + 1
