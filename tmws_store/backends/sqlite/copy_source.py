"""A store file opened as the source of a copy: read-only, as it is, never created or changed.

No ``init()``, no switch to WAL, no new permissions, no file made beside it. A WAL file that
no one has open is read as immutable (and the copy refused if it changed meanwhile); one
that is open is read through its ``-wal`` and ``-shm``. A TMWS file is not adopted: its rows
are completed on the way as adoption would complete them (a column it lacks takes the
model's default; a table it lacks reads as empty). What ``init()`` would refuse is refused.
"""

import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Select,
    Table,
    create_engine,
    event,
    literal_column,
    select,
)
from sqlalchemy.pool import NullPool

from ... import schema
from ...errors import CopyError, MigrationError, NotADatabaseError
from .. import CopySource, Translate, named_errors
from .connection import in_wal_mode, open_database, read_identity, schema_objects, store_error

if TYPE_CHECKING:
    from ...encryption import DatabaseKey

__all__ = ["open_copy_source"]


def _check_source_file(path: Path) -> None:
    if not path.exists():
        raise NotADatabaseError(
            f"{path} does not exist; there is nothing to copy (and copy never creates it)",
            path=path,
        )
    if not path.is_file():
        raise NotADatabaseError(
            f"{path} is not a regular file; there is nothing to copy", path=path
        )


def _in_wal_mode(path: Path, encrypted: bool) -> bool:
    """Whether the file's header says WAL (read and write versions 2), read as bytes.

    An encrypted file's header cannot be read so; it is in WAL mode, as ``init()`` and
    ``tmws-store encrypt`` leave every encrypted store.
    """
    return encrypted or in_wal_mode(path)


def _read_only_uri(path: Path, encrypted: bool = False) -> tuple[str, bool]:
    """The URI that reads ``path`` without creating anything beside it; True if immutable.

    A read-only connection to a WAL file needs its ``-wal`` and ``-shm``: when they exist (the
    file is open somewhere, or was when a process died) ``mode=ro`` reads through them, the
    last commits included. When there is no ``-wal``, every commit is in the file itself, and
    ``mode=ro`` would create both files and, being read-only, could not delete them; the file
    is then read as immutable, and ``_unchanged`` refuses the copy if it changed meanwhile.
    """
    real = Path(os.path.realpath(path))  # a symlink's -wal and -shm are beside its target
    uri = f"{real.as_uri()}?mode=ro"
    if not _in_wal_mode(real, encrypted):
        return uri, False
    if Path(f"{real}-wal").exists():
        if not Path(f"{real}-shm").exists():
            raise CopyError(
                f"{path} has a -wal file but no -shm (left by a process that died?): it cannot "
                "be read without creating one. Open it once with `tmws-store init` or "
                "sqlite3, then copy again. Nothing was changed."
            )
        return uri, False
    return f"{uri}&immutable=1", True


def _read_only_engine(
    uri: str, busy_timeout: float, path: Path, key: "DatabaseKey | None"
) -> Engine:
    """An engine whose connections open ``uri`` (naming ``path``) read-only and read in one
    transaction; keyed with ``key`` for an encrypted file."""

    def connect() -> sqlite3.Connection:
        # Autocommit: the driver never begins by itself; the "begin" event does.
        con = open_database(path, key, busy_timeout=busy_timeout, uri=uri, check_same_thread=False)
        con.execute("PRAGMA trusted_schema = OFF")  # a crafted schema runs no SQL function
        con.execute("PRAGMA query_only = ON")
        return con

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")  # deferred: a snapshot from the first read, no lock held

    return engine


def _file_state(path: Path) -> tuple[int, int, int]:
    status = os.stat(path)
    return status.st_ino, status.st_size, status.st_mtime_ns


def _unchanged(path: Path, before: tuple[int, int, int]) -> Callable[[], None]:
    """A check that the file read as immutable is still as it was when the copy began."""

    def confirm() -> None:
        if _file_state(path) != before:
            raise CopyError(
                f"{path} changed while it was being copied (another process wrote to it); "
                "nothing was written. Copy again once no agent writes to it."
            )

    return confirm


def _default_of(model: Table, column: Column[Any]) -> ColumnElement[Any]:
    """The value adoption gives the rows of a table that lacks ``column``, as SQL.

    As ``plan_completion`` adds it: NULL when the column may be empty, else its
    constant default (MigrationError when it has none; ``plan_completion`` refuses first).
    """
    from .completion import constant_default_sql

    original = model.c[column.key]
    sql = "NULL" if original.nullable else constant_default_sql(original, model.name)
    return literal_column(sql, type_=column.type).label(column.key)


def _columns_of(con: sqlite3.Connection, tables: Sequence[Table]) -> dict[str, set[str]]:
    """The column names of each of ``tables`` that the file has.

    Only our own table names reach the PRAGMA's text, never a name read from the file.
    """
    found = {name for name, kind in schema_objects(con).items() if kind == "table"}
    return {
        table.name: {r[1] for r in con.execute(f'PRAGMA table_info("{table.name}")')}
        for table in tables
        if table.name in found
    }


def _file_reads(
    con: sqlite3.Connection, path: Path, tables: Sequence[Table]
) -> dict[str, Select[Any] | None]:
    """Classify the file as ``init()`` would, then say how to read each table of it.

    Raises for what ``init()`` would refuse (another program's file, a newer schema, a
    completion that cannot be made), and for an older stamped file, which needs migrations.
    """
    from ...models import TMWSModel
    from .completion import plan_completion
    from .startup import classify

    app_id, version = read_identity(con)
    target = schema.SCHEMA_VERSION
    if classify(con, path, app_id, version, target) == "upgrade":
        raise MigrationError(
            f"{path} has schema version {version}, older than {target}: run `tmws-store init` "
            "on it first (copy reads its source as it is). Nothing was changed.",
            path=path,
        )
    plan_completion(con)  # raises, as adoption would, for what cannot be completed
    present = _columns_of(con, tables)
    reads: dict[str, Select[Any] | None] = {}
    for table in tables:
        columns = present.get(table.name)
        if columns is None:
            reads[table.name] = None
            continue
        model = TMWSModel.metadata.tables[table.name]
        reads[table.name] = select(
            *(
                column if column.name in columns else _default_of(model, column)
                for column in table.columns
            )
        ).select_from(table)
    return reads


def _connect_to_file(
    engine: Engine, path: Path, translate: Translate, tables: Sequence[Table]
) -> CopySource:
    """A connection in its read transaction, and the reads of the file's tables."""
    try:
        with named_errors(translate):
            conn = engine.connect()
        try:
            with named_errors(translate):
                conn.begin()
                driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
                reads = _file_reads(driver, path, tables)
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:  # from the checks, run on the driver's connection
        raise store_error(exc, path, "reading") from exc
    return CopySource(conn, reads, translate)


@contextmanager
def open_copy_source(
    path: Path,
    busy_timeout: float,
    translate: Translate,
    tables: Sequence[Table],
    key: "DatabaseKey | None" = None,
) -> Iterator[CopySource]:
    """The file at ``path``, open read-only as it is (module docstring); ``key`` for an
    encrypted one."""
    _check_source_file(path)
    before = _file_state(path)
    uri, immutable = _read_only_uri(path, key is not None)
    engine = _read_only_engine(uri, busy_timeout, path, key)
    try:
        opened = _connect_to_file(engine, path, translate, tables)
        if immutable:
            opened.confirm_unchanged = _unchanged(path, before)
        try:
            yield opened
        finally:
            opened.conn.close()
    finally:
        engine.dispose()
