"""``Store.verify()``: compare a file (or a PostgreSQL schema) with the models, read-only.

Reports missing and extra tables, columns and indexes, triggers and views we did not make,
SQLite's ``quick_check`` and every foreign-key violation. (PostgreSQL enforces foreign keys
itself and has no ``quick_check``; there the check is the stamp, the tables, columns and
indexes, in a READ ONLY transaction.)
A file's connection runs with ``PRAGMA query_only``, so it cannot write. (A ``mode=ro``
connection could not remove the ``-wal`` and ``-shm`` files of a WAL database
when it closes, leaving them behind; this one tidies up like any other last reader.)
"""

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import schema
from .errors import NotADatabaseError, StoreError, from_sqlite

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

    from .paths import ServerLocation

__all__ = ["TMWS_FOREIGN_KEY_DEFECTS", "VerifyReport", "verify_file", "verify_server"]

# (child table, parent table) of foreign keys that TMWS declares but can never satisfy.
# license_keys.agent_id holds the agent's uuid as 32-char hex while agents.id is the dashed
# 36-char form, so in a file written by TMWS every licence row "violates" its key.
TMWS_FOREIGN_KEY_DEFECTS = frozenset({("license_keys", "agents")})


@dataclass
class VerifyReport:
    """What ``verify()`` found. ``ok`` is True when nothing is missing and checks pass.

    Extra tables, columns and indexes (a user's own, ``alembic_version``, TMWS's redundant
    indexes) are listed but do not make the file wrong. A trigger or view that neither TMWS
    nor tmws_store creates does: its SQL runs inside the store's own statements. For a
    PostgreSQL store ``path`` is None, ``url`` names the database, and ``journal_mode`` and
    ``quick_check`` are None (not applicable).
    """

    path: Path | None
    application_id: int
    schema_version: int
    journal_mode: str | None = "wal"
    missing_tables: list[str] = field(default_factory=list)
    extra_tables: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)  # "table.column"
    extra_columns: list[str] = field(default_factory=list)
    missing_indexes: list[str] = field(default_factory=list)
    extra_indexes: list[str] = field(default_factory=list)
    # "trigger NAME on TABLE" or "view NAME"; see schema.foreign_triggers_and_views.
    foreign_triggers_and_views: list[str] = field(default_factory=list)
    quick_check: list[str] | None = field(default_factory=list)
    foreign_key_violations: list[str] = field(default_factory=list)
    # Violations that every TMWS-written file has, listed but not counted as wrong: see
    # TMWS_FOREIGN_KEY_DEFECTS.
    tolerated_violations: list[str] = field(default_factory=list)
    url: str | None = None

    @property
    def ours(self) -> bool:
        """Stamped by tmws_store with the current schema version."""
        return (self.application_id, self.schema_version) == (
            schema.APPLICATION_ID,
            schema.SCHEMA_VERSION,
        )

    @property
    def ok(self) -> bool:
        return (
            self.journal_mode in ("wal", None)
            and not self.missing_tables
            and not self.missing_columns
            and not self.missing_indexes
            and not self.foreign_triggers_and_views
            and self.quick_check in (["ok"], None)
            and not self.foreign_key_violations
        )

    def problems(self) -> list[str]:
        """One line per problem, naming the table, column or index."""
        wal = self.journal_mode in ("wal", None)
        lines = [] if wal else [f"journal mode {self.journal_mode}, not wal"]
        lines += [f"missing table {t}" for t in self.missing_tables]
        lines += [f"missing column {c}" for c in self.missing_columns]
        lines += [f"missing index {i}" for i in self.missing_indexes]
        lines += [f"{o}: not made by TMWS or tmws_store" for o in self.foreign_triggers_and_views]
        if self.quick_check not in (["ok"], None):
            lines += [f"quick_check: {m}" for m in self.quick_check]
        lines += [f"foreign key violation: {v}" for v in self.foreign_key_violations]
        return lines


def verify_file(path: Path, *, busy_timeout: float) -> VerifyReport:
    """Inspect ``path`` read-only and compare it with the models."""
    if not path.is_file():
        raise NotADatabaseError(f"{path} does not exist or is not a file", path=path)
    try:
        con = sqlite3.connect(path, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise from_sqlite(exc, path, "opening") or StoreError(str(exc), path=path) from exc
    try:
        con.execute("PRAGMA query_only = ON")
        con.execute("PRAGMA trusted_schema = OFF")
        return _inspect(con, path)
    except sqlite3.Error as exc:
        raise from_sqlite(exc, path, "verifying") or StoreError(str(exc), path=path) from exc
    finally:
        con.close()


def _inspect(con: sqlite3.Connection, path: Path) -> VerifyReport:
    app_id, version, journal = con.execute(
        "SELECT * FROM pragma_application_id(), pragma_user_version(), pragma_journal_mode()"
    ).fetchall()[0]
    report = VerifyReport(
        path=path, application_id=app_id, schema_version=version, journal_mode=journal
    )
    objects = dict(
        con.execute(
            "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        )
    )
    tables = {name for name, kind in objects.items() if kind == "table"}
    indexes = {name for name, kind in objects.items() if kind == "index"}
    _compare(
        report,
        tables,
        indexes,
        lambda table: {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')},
    )
    report.foreign_triggers_and_views = schema.foreign_triggers_and_views(con)
    report.quick_check = [row[0] for row in con.execute("PRAGMA quick_check")]
    for table, rowid, parent, _ in con.execute("PRAGMA foreign_key_check"):
        line = f"{table} row {rowid} -> {parent}"
        if (table, parent) in TMWS_FOREIGN_KEY_DEFECTS:
            report.tolerated_violations.append(line)
        else:
            report.foreign_key_violations.append(line)
    return report


def _compare(
    report: VerifyReport,
    tables: set[str],
    indexes: set[str],
    columns_of: "Callable[[str], set[str]]",
) -> None:
    """Fill in the missing and extra tables, columns and indexes, against the models."""
    expected_indexes: set[str] = set()
    for table in schema.model_tables():
        expected_indexes |= {str(ix.name) for ix in table.indexes}
        if table.name not in tables:
            report.missing_tables.append(table.name)
            continue
        present = columns_of(table.name)
        wanted = {c.name for c in table.columns}
        report.missing_columns += [f"{table.name}.{c}" for c in sorted(wanted - present)]
        report.extra_columns += [f"{table.name}.{c}" for c in sorted(present - wanted)]
        report.missing_indexes += sorted(
            str(ix.name) for ix in table.indexes if ix.name not in indexes
        )
    report.extra_tables = sorted(tables - schema.table_names())
    report.extra_indexes = sorted(indexes - expected_indexes)


def verify_server(engine: "Engine", location: "ServerLocation") -> VerifyReport:
    """Compare the PostgreSQL schema of the store at ``location`` with the models, read-only."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    from .postgres import as_store_error, read_stamp

    try:
        with engine.connect().execution_options(postgresql_readonly=True) as conn:
            app_id, version = read_stamp(conn) or (0, 0)
            report = VerifyReport(
                path=None,
                url=location.shown,
                application_id=app_id,
                schema_version=version,
                journal_mode=None,
                quick_check=None,
            )
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            indexes = {
                str(index["name"])
                for table in tables
                for index in inspector.get_indexes(table)
                if index["name"]
            }
            _compare(
                report, tables, indexes, lambda t: {c["name"] for c in inspector.get_columns(t)}
            )
    except DBAPIError as exc:
        raise as_store_error(exc, location, "verifying") from exc
    return report
