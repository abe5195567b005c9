"""The SQLite back end: a store that is one file (``~/.tmws/data/tmws.db`` by default).

Its parts, one job each: ``connection`` (the one access layer: opening, identity, schema
objects, error translation), ``startup`` (``init()``), ``completion`` (what an old TMWS file
lacks), ``engine`` (SQLAlchemy engines), ``verify``, and ``backup``.
"""

import sqlite3
import stat
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import CopyError, NotADatabaseError, ReadOnlyStoreError, StoreError
from ...paths import Location, wide_folders
from ...reports import InitReport, StatusReport, VerifyReport
from ...schema import table_names
from .. import Backend, CopySource
from .connection import (
    connect_read_only,
    from_sqlite,
    journal_mode,
    read_identity,
    schema_objects,
    store_error,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy import Engine, Table
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SQLiteBackend"]


def _count_rows(con: sqlite3.Connection, tables: "Sequence[str]") -> dict[str, int]:
    """The rows of each of ``tables``, read on ``con`` (read-only) in one statement.

    One statement reads one snapshot, so the counts agree with each other while agents
    write. Only the schema's own tables are counted: a table of someone else's could be a
    virtual table whose module this process lacks.
    """
    if not tables:
        return {}
    counts = ", ".join(f'(SELECT count(*) FROM "{name}")' for name in tables)
    found = con.execute(f"SELECT {counts}").fetchone()
    return dict(zip(tables, map(int, found), strict=True))


class SQLiteBackend(Backend):
    """A store file, through sqlite3 (sync) and aiosqlite (async)."""

    name = "sqlite"
    label = "SQLite"
    location: Location

    @property
    def shown(self) -> str:
        return str(self.location.path)

    @property
    def path(self) -> Path:
        return self.location.path

    def _make_engine(self) -> "Engine":
        from .engine import make_sync_engine

        return make_sync_engine(self.path, busy_timeout=self.busy_timeout, key=self.location.key)

    def _make_async_engine(self) -> "AsyncEngine":
        from .engine import make_async_engine

        return make_async_engine(self.path, busy_timeout=self.busy_timeout, key=self.location.key)

    def readonly_options(self) -> dict[str, Any]:
        """A plain deferred ``BEGIN``, which never takes the write lock and reads one snapshot,
        with ``PRAGMA query_only`` on, which refuses writes (see ``engine``)."""
        from .engine import BEGIN_OPTION

        return {BEGIN_OPTION: "DEFERRED"}

    def translate(self, exc: "DBAPIError", doing: str, *, readonly: bool = False) -> BaseException:
        if readonly and getattr(exc.orig, "sqlite_errorname", "") == "SQLITE_READONLY":
            # PRAGMA query_only refused it (see engine.py), not the file's permissions.
            return ReadOnlyStoreError(
                f"a read-only session on {self.path} tried to write; nothing was changed. "
                "Write in a session opened without readonly=True.",
                path=self.path,
            )
        return from_sqlite(exc.orig, self.path, doing, statement=exc.statement) or exc

    def initialise(self) -> InitReport:
        from .startup import initialise

        return initialise(self.location, busy_timeout=self.busy_timeout)

    def verify(self) -> VerifyReport:
        from .verify import verify_file

        report = verify_file(self.path, busy_timeout=self.busy_timeout, key=self.location.key)
        report.warnings = wide_folders(self.location)
        return report

    def status(self, *, rows: bool = False) -> StatusReport:
        # Imported here, as in backup(): init() on a current file needs no backup code.
        from .backup import list_backups

        path = self.path
        if not path.exists():
            return StatusReport(path=path, exists=False)
        if not path.is_file():
            raise NotADatabaseError(f"{path} is not a regular file", path=path)
        try:
            con = connect_read_only(path, self.busy_timeout, self.location.key)
            try:
                objects = schema_objects(con)
                app_id, version = read_identity(con)
                journal = journal_mode(con, path)
                tables = {name for name, kind in objects.items() if kind == "table"}
                expected = table_names()
                counts = _count_rows(con, sorted(tables & expected)) if rows else None
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise store_error(exc, path, "reading") from exc
        file_stat, dir_stat = path.stat(), path.parent.stat()
        return StatusReport(
            path=path,
            exists=True,
            tables=len(tables & expected),
            missing_tables=tuple(sorted(expected - tables)),
            other_tables=tuple(sorted(tables - expected)),
            application_id=app_id,
            schema_version=version,
            size_bytes=file_stat.st_size,
            journal_mode=journal,
            permissions=f"{stat.S_IMODE(file_stat.st_mode):04o}",
            directory_permissions=f"{stat.S_IMODE(dir_stat.st_mode):04o}",
            backups=tuple(list_backups(path)),
            warnings=tuple(wide_folders(self.location)),
            rows=counts,
            encrypted=self.location.key is not None,
        )

    def copy_source(self, tables: "Sequence[Table]") -> AbstractContextManager[CopySource]:
        from .copy_source import open_copy_source

        return open_copy_source(
            self.path, self.busy_timeout, self._reading_error, tables, self.location.key
        )

    def _reading_error(self, exc: "DBAPIError") -> StoreError | None:
        return self.known_error(exc, "reading")

    def refuse_if_holding_rows(self, tables: "Sequence[Table]") -> None:
        """A file with rows is refused before ``init()``, which could adopt and change it."""
        from sqlalchemy import func, select

        from .copy_source import open_copy_source

        if not self.path.is_file():
            return  # init() creates it, or says what is wrong with it
        with open_copy_source(
            self.path, self.busy_timeout, self._reading_error, tables, self.location.key
        ) as source:
            for table in tables:
                query = source.reads[table.name]
                if query is None:
                    continue
                counted = select(func.count()).select_from(query.subquery())
                if source.conn.execute(counted).scalar():
                    raise CopyError(
                        f"the destination {self.path} already holds rows (table {table.name}); "
                        "a copy goes only into an empty store. Nothing was changed."
                    )

    def backup(
        self,
        dest: Path | None,
        *,
        progress: "Callable[[int, int], None] | None" = None,
    ) -> Path:
        """Copy the file as it is now, never creating, completing or changing it."""
        from .backup import backup_name, backup_to

        source = self.path
        if not source.is_file():
            what = "does not exist" if not source.exists() else "is not a regular file"
            raise NotADatabaseError(f"{source} {what}; there is nothing to back up", path=source)
        named_by_us = dest is None or dest.is_dir()
        if dest is None:
            dest = backup_name(source, reason="manual")
        elif dest.is_dir():
            dest = backup_name(source, reason="manual", folder=dest)
        try:
            return backup_to(
                source, dest, named_by_us=named_by_us, progress=progress, key=self.location.key
            )
        except sqlite3.Error as exc:
            raise store_error(exc, source, "backing up") from exc
