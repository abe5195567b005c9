"""``verify()`` of a store file: compare it with the models, read-only.

Reports missing and extra tables, columns and indexes, what differs from the models (types,
nullability, defaults, foreign keys, indexes: ``model_compare``), triggers and views we did not
make, SQLite's ``quick_check`` and every foreign-key violation. The connection cannot create
the file or write to it (see ``connection.connect_read_only``); the comparison reads through
the same connection, wrapped for SQLAlchemy.
"""

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, create_engine
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from ...errors import MigrationError, NotADatabaseError
from ...reports import VerifyReport
from ...schema import model_tables
from ..model_compare import Tolerated, compare_with_models, type_difference
from .completion import constant_default_sql
from .connection import (
    connect_read_only,
    foreign_triggers_and_views,
    journal_mode,
    read_identity,
    schema_objects,
    store_error,
)

if TYPE_CHECKING:
    from ...encryption import DatabaseKey

__all__ = ["TMWS_DECLARED_TYPES", "TMWS_FOREIGN_KEY_DEFECTS", "verify_file"]

# (child table, parent table) of foreign keys that TMWS declares but can never satisfy.
# license_keys.agent_id holds the agent's uuid as 32-char hex while agents.id is the dashed
# 36-char form, so in a file written by TMWS every licence row "violates" its key.
TMWS_FOREIGN_KEY_DEFECTS = frozenset({("license_keys", "agents")})

# (table, column): the type TMWS declares where the models declare another. TMWS's UUID has
# NUMERIC affinity, so the models say CHAR(32); adopted files keep TMWS's columns (a user's
# table is never rewritten), and the values are 32-char hex either way.
TMWS_DECLARED_TYPES = {
    ("license_keys", "id"): "UUID",
    ("license_keys", "agent_id"): "UUID",
    ("license_key_usage", "id"): "UUID",
    ("license_key_usage", "license_key_id"): "UUID",
}

_DIALECT = sqlite.dialect()


def verify_file(
    path: Path, *, busy_timeout: float, key: "DatabaseKey | None" = None
) -> VerifyReport:
    """Inspect ``path`` read-only and compare it with the models."""
    if not path.is_file():
        raise NotADatabaseError(f"{path} does not exist or is not a file", path=path)
    try:
        con = connect_read_only(path, busy_timeout, key)
    except sqlite3.Error as exc:
        raise store_error(exc, path, "opening") from exc
    try:
        return _inspect(con, path)
    except sqlite3.Error as exc:
        raise store_error(exc, path, "verifying") from exc
    except DBAPIError as exc:  # the comparison's reads, through SQLAlchemy
        raise store_error(exc.orig, path, "verifying") from exc
    finally:
        con.close()


def _inspect(con: sqlite3.Connection, path: Path) -> VerifyReport:
    app_id, version = read_identity(con)
    journal = journal_mode(con, path)
    report = VerifyReport(
        path=path, application_id=app_id, schema_version=version, journal_mode=journal
    )
    objects = schema_objects(con)
    tables = {name for name, kind in objects.items() if kind == "table"}
    _compare(con, report, tables)
    report.differences += _declared_type_differences(con, report, tables)
    report.differences.sort()
    report.tolerated_differences.sort()
    report.foreign_triggers_and_views = foreign_triggers_and_views(con)
    report.quick_check = [row[0] for row in con.execute("PRAGMA quick_check")]
    for table, rowid, parent, _ in con.execute("PRAGMA foreign_key_check"):
        line = f"{table} row {rowid} -> {parent}"
        if (table, parent) in TMWS_FOREIGN_KEY_DEFECTS:
            report.tolerated_violations.append(line)
        else:
            report.foreign_key_violations.append(line)
    return report


def _compare(con: sqlite3.Connection, report: VerifyReport, tables: set[str]) -> None:
    """The shared comparison, through ``con`` itself: read-only, and nothing else is opened."""
    # StaticPool hands out ``con`` and nothing else; the engine is dropped, ``con`` kept.
    engine = create_engine("sqlite://", creator=lambda: con, poolclass=StaticPool)
    tolerated = Tolerated(foreign_keys=TMWS_FOREIGN_KEY_DEFECTS, adoption_default=_adoption_default)
    with engine.connect() as conn:
        # Types are compared by their declared text below: SQLAlchemy reflects only affinity.
        compare_with_models(report, conn, tables, compare_types=False, tolerated=tolerated)


def _adoption_default(column: Column[Any]) -> str | None:
    """The DEFAULT adoption gives a NOT NULL column it adds to existing rows, where the models
    give none (``completion``); None for any other column."""
    if column.nullable or column.server_default is not None:
        return None
    try:
        return constant_default_sql(column, column.table.name)
    except MigrationError:  # adoption could not have added it
        return None


def _declared(type_text: str) -> str:
    """A declared type spelled one way: ``varchar ( 36 )`` is ``VARCHAR(36)``."""
    text = " ".join(type_text.upper().split())
    for inside in ("(", ","):
        text = text.replace(f" {inside}", inside).replace(f"{inside} ", inside)
    return text.replace(" )", ")")


def _declared_type_differences(
    con: sqlite3.Connection, report: VerifyReport, tables: set[str]
) -> list[str]:
    """One line per column whose declared type is not the models'; TMWS's are tolerated."""
    lines: list[str] = []
    for table in model_tables():
        if table.name not in tables:
            continue
        declared = {row[1]: row[2] for row in con.execute(f'PRAGMA table_info("{table.name}")')}
        for column in table.columns:
            if column.name not in declared:
                continue  # a missing column: reported as such
            store = _declared(declared[column.name])
            models = _declared(column.type.compile(dialect=_DIALECT))
            if store == models:
                continue
            line = type_difference(table.name, column.name, store, models)
            if TMWS_DECLARED_TYPES.get((table.name, column.name)) == store:
                report.tolerated_differences.append(line)
            else:
                lines.append(line)
    return lines
