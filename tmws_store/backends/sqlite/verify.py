"""``verify()`` of a store file: compare it with the models, read-only.

Reports missing and extra tables, columns and indexes, triggers and views we did not make,
SQLite's ``quick_check`` and every
foreign-key violation. The connection cannot create the file or write to it (see
``connection.connect_read_only``).
"""

import sqlite3
from pathlib import Path

from ...errors import NotADatabaseError
from ...reports import VerifyReport
from ..model_compare import compare_with_models
from .connection import (
    connect_read_only,
    foreign_triggers_and_views,
    read_identity,
    schema_objects,
    store_error,
)

__all__ = ["TMWS_FOREIGN_KEY_DEFECTS", "verify_file"]

# (child table, parent table) of foreign keys that TMWS declares but can never satisfy.
# license_keys.agent_id holds the agent's uuid as 32-char hex while agents.id is the dashed
# 36-char form, so in a file written by TMWS every licence row "violates" its key.
TMWS_FOREIGN_KEY_DEFECTS = frozenset({("license_keys", "agents")})


def verify_file(path: Path, *, busy_timeout: float) -> VerifyReport:
    """Inspect ``path`` read-only and compare it with the models."""
    if not path.is_file():
        raise NotADatabaseError(f"{path} does not exist or is not a file", path=path)
    try:
        con = connect_read_only(path, busy_timeout)
    except sqlite3.Error as exc:
        raise store_error(exc, path, "opening") from exc
    try:
        return _inspect(con, path)
    except sqlite3.Error as exc:
        raise store_error(exc, path, "verifying") from exc
    finally:
        con.close()


def _inspect(con: sqlite3.Connection, path: Path) -> VerifyReport:
    app_id, version = read_identity(con)
    journal = con.execute("PRAGMA journal_mode").fetchone()[0]
    report = VerifyReport(
        path=path, application_id=app_id, schema_version=version, journal_mode=journal
    )
    objects = schema_objects(con)
    tables = {name for name, kind in objects.items() if kind == "table"}
    indexes = {name for name, kind in objects.items() if kind == "index"}
    compare_with_models(
        report,
        tables,
        indexes,
        lambda table: {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')},
    )
    report.foreign_triggers_and_views = foreign_triggers_and_views(con)
    report.quick_check = [row[0] for row in con.execute("PRAGMA quick_check")]
    for table, rowid, parent, _ in con.execute("PRAGMA foreign_key_check"):
        line = f"{table} row {rowid} -> {parent}"
        if (table, parent) in TMWS_FOREIGN_KEY_DEFECTS:
            report.tolerated_violations.append(line)
        else:
            report.foreign_key_violations.append(line)
    return report
