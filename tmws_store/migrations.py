"""Schema migrations between tmws_store versions: an ordered list, read top to bottom.

Version 1 is the TMWS 2.4.18 schema, created whole or completed by adoption, so the list is
empty. When a release changes the schema: bump ``schema.SCHEMA_VERSION``, append a
``Migration`` whose ``version`` is the new number, and regenerate the schema snapshot that
the drift test compares against (see ``tests/test_schema_drift.py``). Each migration runs in
its own transaction together with its ``user_version`` bump, after a backup of the file; a
migration only adds (tables, columns, indexes) or rewrites values it owns, and never drops a
user's data.
"""

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration"]


@dataclass(frozen=True)
class Migration:
    """One step: ``apply`` brings a file from ``version - 1`` to ``version``."""

    version: int
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: tuple[Migration, ...] = ()
