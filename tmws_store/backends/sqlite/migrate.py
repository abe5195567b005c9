"""Run one migration step on the start-up connection, inside the transaction it holds.

The step is written against Alembic's ``Operations``, which need a SQLAlchemy connection.
The start-up connection is lent to SQLAlchemy as it is: same file lock, same ``BEGIN
IMMEDIATE`` transaction, foreign keys off (so a table can be rebuilt: SQLite's own recipe for
what ALTER TABLE cannot do). The caller bumps ``user_version`` and commits in that same
transaction, so a crash leaves the old version whole or the new one.
"""

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from ...errors import MigrationError
from ...migrations import Migration, operations
from .connection import from_sqlite

__all__ = ["run_step"]


class _Lent:
    """The start-up connection, lent to SQLAlchemy for one step; the transaction stays ours.

    SQLAlchemy would commit or roll back on its own when its connection closes; those calls
    do nothing here, so the caller's COMMIT (with the stamp) or ROLLBACK decides.
    """

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def run_step(con: sqlite3.Connection, path: Path, migration: Migration) -> None:
    """Apply ``migration`` on ``con``, inside the transaction the caller began.

    A database error is the ``StoreError`` it means (a full disk...) or a MigrationError
    naming the step; the caller's ROLLBACK then keeps nothing of it.
    """
    engine = create_engine("sqlite://", creator=lambda: _Lent(con), poolclass=StaticPool)
    try:
        with engine.connect() as connection:
            migration.upgrade(operations(connection))
    except DBAPIError as exc:
        raise from_sqlite(exc.orig, path, f"migrating to version {migration.version}") or (
            _failed(path, migration, str(exc.orig))
        ) from exc
    except NoSuchTableError as exc:  # reflection of a table the file has lost
        raise _failed(path, migration, f"table {exc} is missing") from exc
    except SQLAlchemyError as exc:  # any other error of SQLAlchemy's own, before SQL ran
        raise _failed(path, migration, str(exc)) from exc
    finally:
        engine.dispose()


def _failed(path: Path, migration: Migration, reason: str) -> MigrationError:
    return MigrationError(
        f"{path}: the migration to schema version {migration.version} failed "
        f"({reason}); the file was left at the version before it.",
        path=path,
    )
