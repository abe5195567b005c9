"""Move every row of one store into another, empty one, and check that each row arrived.

``copy_store(source, destination)`` is what ``tmws-store copy --from A --to B`` runs; either
side is a SQLite file or a PostgreSQL database, so it moves a team from one to the other in
both directions. The rules:

- The source is never created or changed. A SQLite file is opened read-only as it is: no
  ``init()``, no switch to WAL, no new permissions, no file made beside it (a WAL file that
  no one has open is read as immutable, and refused if it changed meanwhile). A TMWS file
  is not adopted: its rows are completed on the way, as adoption would complete them (a
  column it lacks takes the model's default; a table it lacks is copied as empty). A
  PostgreSQL source must be a stamped, current store. A missing source is an error.
- The destination is brought current with ``init()`` and must hold no row at all: a copy
  never merges into, or overwrites, data that is already there. A SQLite file holding rows
  is refused before ``init()``, so that a refused copy changes nothing there either.
- The source is read in one read-only transaction, a consistent snapshot even while agents
  keep writing to it. The destination is written in ONE transaction: a failure anywhere (a
  value the destination refuses, a full disk, a kill) leaves it as empty as it was.
- Errors name the store they belong to: a full destination raises ``StorageFullError`` for
  the destination, a locked source ``DatabaseLockedError`` for the source, and so on; what
  is neither (a row the destination refuses) is a ``CopyError`` naming the table.
- Values travel as Python values through the models' column types, so each side keeps its
  own formats (UTC text and JSON text on SQLite; ``timestamptz``, ``jsonb`` and ``uuid`` on
  PostgreSQL). Enum columns travel as the stored strings, so a value TMWS wrote that is not a
  member today is copied as it is instead of stopping the copy.
- Tables go parents first. A table that refers to itself (a memory's parent memory, a task's
  parent task) is written with those references empty, then they are filled in, so the
  order of its rows never matters.
- Before the commit every row is read back from the destination by its primary key and
  compared, column by column, with the source row; the first difference stops the copy.
"""

import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Select,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.pool import NullPool

from . import schema
from .errors import MigrationError, NotADatabaseError, StoreError, from_sqlite
from .paths import ServerLocation
from .types import StrEnumType

if TYPE_CHECKING:
    from .store import Store

__all__ = ["CopyError", "CopyReport", "Progress", "copy_store"]

# Called with (step, rows done, rows in all); step is "copy" or "check".
Progress = Callable[[str, int, int], None]

# Turns a database error into the StoreError that names its store, or None when the error
# is not one of those (a refused row, say).
Translate = Callable[[DBAPIError], StoreError | None]

BATCH_ROWS = 500  # rows per INSERT and per read-back; composite keys stay far below any limit
_SQLITE_HEADER = b"SQLite format 3\x00"


class CopyError(StoreError):
    """A copy that could not be finished; the destination was left as it was."""


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_store`` moved: rows per table, each read back and found equal."""

    source: str
    destination: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> str:
        """One line for people."""
        tables = sum(1 for count in self.rows.values() if count)
        return (
            f"copied {self.total} rows of {tables} tables from {self.source} to "
            f"{self.destination}; every row read back and checked"
        )


def _transfer_table(table: Table) -> Table:
    """``table`` with enum columns as plain strings, and no defaults or foreign keys.

    Nothing is added on the way (no default, no ``onupdate`` timestamp): a row arrives as it
    was stored, and an enum value that is no longer a member is not refused.
    """
    columns = [
        Column(
            column.name,
            String() if isinstance(column.type, StrEnumType) else column.type,
            key=column.key,
            primary_key=column.primary_key,
        )
        for column in table.columns
    ]
    return Table(table.name, MetaData(), *columns)


def _self_references(table: Table) -> list[str]:
    """Keys of the columns by which ``table`` refers to its own rows."""
    keys = [fk.parent.key for fk in table.foreign_keys if fk.column.table is table]
    for key in keys:
        if not table.c[key].nullable:
            # Cannot be written empty first; no TMWS table has such a column.
            raise CopyError(f"{table.name}.{key} refers to its own table and is NOT NULL")
    return keys


# --- errors ---------------------------------------------------------------------------------


def _translator(store: "Store", doing: str) -> Translate:
    """How an error of ``store``'s database becomes the StoreError naming it (or None)."""
    location = store.location
    if isinstance(location, ServerLocation):
        from .postgres import from_postgres

        def on_server(exc: DBAPIError) -> StoreError | None:
            found = from_postgres(exc, location, doing)
            return found if isinstance(found, StoreError) else None

        return on_server

    def on_file(exc: DBAPIError) -> StoreError | None:
        return from_sqlite(exc.orig, location.path, doing)

    return on_file


@contextmanager
def _named(translate: Translate) -> Iterator[None]:
    """Raise a database error that ``translate`` knows as its StoreError; others pass."""
    try:
        yield
    except DBAPIError as exc:
        found = translate(exc)
        if found is None:
            raise
        raise found from exc


# What reading or writing one value can raise: the database's refusal, or a stored value the
# column type cannot read (JSON that is not JSON, a date that is not a date) or write.
_VALUE_ERRORS = (StatementError, ValueError, TypeError)


def _one_line(exc: BaseException) -> str:
    # The original error alone: SQLAlchemy's text would add the statement and every bound
    # value of the batch (password hashes among them) to the message.
    detail = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    return " ".join(str(detail).split())


@contextmanager
def _failing_names(table: Table, step: str, written: Translate) -> Iterator[None]:
    """Turn an error met while ``step``-ing ``table`` into a CopyError that names the table.

    Unless the destination's own translation knows it (a full disk, a lock held too long):
    then it is that error, naming the destination.
    """
    try:
        with _named(written):
            yield
    except _VALUE_ERRORS as exc:
        raise CopyError(
            f"{step} table {table.name} failed, so nothing was written: {_one_line(exc)}"
        ) from exc


# --- the source, read-only ------------------------------------------------------------------


@dataclass
class _Source:
    """The source in one read-only transaction: how to read each table, and a last check.

    ``reads`` gives, per table name, the query whose rows are the table's rows in the
    destination's schema, or None for a table the source does not have.
    """

    conn: Connection
    reads: dict[str, Select[Any] | None]
    translate: Translate
    confirm_unchanged: Callable[[], None] = lambda: None


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


def _in_wal_mode(path: Path) -> bool:
    """Whether the file's header says WAL (read and write versions 2), read as bytes."""
    with path.open("rb") as file:
        header = file.read(20)
    return header.startswith(_SQLITE_HEADER) and header[18:20] == b"\x02\x02"


def _read_only_uri(path: Path) -> tuple[str, bool]:
    """The URI that reads ``path`` without creating anything beside it; True if immutable.

    A read-only connection to a WAL file needs its ``-wal`` and ``-shm``: when they exist (the
    file is open somewhere, or was when a process died) ``mode=ro`` reads through them, the
    last commits included. When there is no ``-wal``, every commit is in the file itself, and
    ``mode=ro`` would create both files and, being read-only, could not delete them; the file
    is then read as immutable, and ``_unchanged`` refuses the copy if it changed meanwhile.
    """
    real = Path(os.path.realpath(path))  # a symlink's -wal and -shm are beside its target
    uri = f"{real.as_uri()}?mode=ro"
    if not _in_wal_mode(real):
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


def _read_only_engine(uri: str, busy_timeout: float) -> Engine:
    """An engine whose connections open ``uri`` read-only and read in one transaction."""

    def connect() -> sqlite3.Connection:
        # isolation_level None: the driver never begins by itself; the "begin" event does.
        con = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
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

    As ``schema.plan_completion`` adds it: NULL when the column may be empty, else its
    constant default (MigrationError when it has none; ``plan_completion`` refuses first).
    """
    original = model.c[column.key]
    sql = "NULL" if original.nullable else schema._constant_default_sql(original, model.name)
    return literal_column(sql, type_=column.type).label(column.key)


def _columns_of(con: sqlite3.Connection, tables: Sequence[Table]) -> dict[str, set[str]]:
    """The column names of each of ``tables`` that the file has.

    Only our own table names reach the PRAGMA's text, never a name read from the file.
    """
    found = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
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
    from .models import TMWSModel
    from .startup import IDENTITY_QUERIES, _classify

    app_id, version = (con.execute(query).fetchone()[0] for query in IDENTITY_QUERIES)
    target = schema.SCHEMA_VERSION
    if _classify(con, path, app_id, version, target) == "upgrade":
        raise MigrationError(
            f"{path} has schema version {version}, older than {target}: run `tmws-store init` "
            "on it first (copy reads its source as it is). Nothing was changed.",
            path=path,
        )
    schema.plan_completion(con)  # raises, as adoption would, for what cannot be completed
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
) -> _Source:
    """A connection in its read transaction, and the reads of the file's tables."""
    try:
        with _named(translate):
            conn = engine.connect()
        try:
            with _named(translate):
                conn.begin()
                reads = _file_reads(conn.connection.driver_connection, path, tables)
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:  # from the checks, run on the driver's connection
        raise from_sqlite(exc, path, "reading") or StoreError(f"{path}: {exc}", path=path) from exc
    return _Source(conn, reads, translate)


@contextmanager
def _file_source(source: "Store", tables: Sequence[Table]) -> Iterator[_Source]:
    """The SQLite file of ``source``, open read-only as it is (module docstring)."""
    path = source.path
    _check_source_file(path)
    before = _file_state(path)
    uri, immutable = _read_only_uri(path)
    engine = _read_only_engine(uri, source.busy_timeout)
    try:
        opened = _connect_to_file(engine, path, _translator(source, "reading"), tables)
        if immutable:
            opened.confirm_unchanged = _unchanged(path, before)
        try:
            yield opened
        finally:
            opened.conn.close()
    finally:
        engine.dispose()


@contextmanager
def _server_source(source: "Store", tables: Sequence[Table]) -> Iterator[_Source]:
    """The PostgreSQL source, in a read-only snapshot; it must be a stamped, current store."""
    from . import postgres

    location = source.location
    assert isinstance(location, ServerLocation)
    translate = _translator(source, "reading")
    read = source.engine.execution_options(**source.readonly_options())
    try:
        with _named(translate):
            conn = read.connect()
            try:
                if postgres.read_stamp(conn) is None:
                    raise CopyError(
                        f"the source {location.shown} is not a tmws_store store (its schema has "
                        "no stamp): there is nothing to copy, and nothing was changed."
                    )
                # Raises for another program's stamp, a newer or an older schema version.
                postgres._classify(conn, location.shown, schema.SCHEMA_VERSION)
            except BaseException:
                conn.close()
                raise
    except DBAPIError as exc:
        raise postgres.as_store_error(exc, location, "reading") from exc
    try:
        yield _Source(conn, {table.name: select(table) for table in tables}, translate)
    finally:
        conn.close()


def _open_source(source: "Store", tables: Sequence[Table]) -> AbstractContextManager[_Source]:
    if source.backend == "postgresql":
        return _server_source(source, tables)
    return _file_source(source, tables)


# --- reading and checking -------------------------------------------------------------------


def _batches(src: _Source, table: Table) -> Iterator[list[dict[str, Any]]]:
    """The source's rows of ``table`` in key order, ``BATCH_ROWS`` at a time."""
    query = src.reads[table.name]
    if query is None:
        return
    query = query.order_by(*table.primary_key.columns)
    with _named(src.translate):
        result = src.conn.execution_options(yield_per=BATCH_ROWS).execute(query)
        for rows in result.mappings().partitions():
            yield [dict(row) for row in rows]


def _count(src: _Source, table: Table) -> int:
    query = src.reads[table.name]
    if query is None:
        return 0
    with _named(src.translate):
        return src.conn.execute(select(func.count()).select_from(query.subquery())).scalar() or 0


def _key_of(table: Table) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    keys = [column.key for column in table.primary_key.columns]
    return lambda row: tuple(row[k] for k in keys)


def _same(a: Any, b: Any) -> bool:
    """Equal, counting NaN as equal to NaN (a float column may hold it on PostgreSQL)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _refuse_if_not_empty(
    counts: Callable[[Table], int], tables: Sequence[Table], where: str
) -> None:
    for table in tables:
        if counts(table):
            raise CopyError(
                f"the destination {where} already holds rows (table {table.name}); a copy "
                "goes only into an empty store. Nothing was changed."
            )


def _refuse_a_file_holding_rows(destination: "Store", tables: Sequence[Table]) -> None:
    """Refuse a destination file with rows before ``init()`` could adopt or change it."""
    if destination.backend != "sqlite" or not destination.path.is_file():
        return  # init() creates it, or says what is wrong with it
    with _file_source(destination, tables) as dst:
        _refuse_if_not_empty(lambda table: _count(dst, table), tables, destination.where)


def _check_table(src: _Source, dst: Connection, table: Table, tick: Callable[[int], None]) -> int:
    """Compare every source row with the destination row of the same key; returns the count."""
    key_of = _key_of(table)
    key_columns = list(table.primary_key.columns)
    checked = 0
    for rows in _batches(src, table):
        keys = [key_of(row) for row in rows]
        found = {
            key_of(dict(row)): dict(row)
            for row in dst.execute(select(table).where(tuple_(*key_columns).in_(keys))).mappings()
        }
        for key, row in zip(keys, rows, strict=True):
            arrived = found.get(key)
            if arrived is None:
                raise CopyError(f"{table.name} row {key} is missing from the destination")
            for name, value in row.items():
                if not _same(arrived[name], value):
                    raise CopyError(
                        f"{table.name} row {key}: column {name} arrived as {arrived[name]!r}, "
                        f"not {value!r}"
                    )
        checked += len(rows)
        tick(len(rows))
    copied = dst.execute(select(func.count()).select_from(table)).scalar()
    if copied != checked:
        raise CopyError(f"{table.name}: {copied} rows in the destination, {checked} in the source")
    return checked


def copy_store(
    source: "Store", destination: "Store", *, progress: Progress | None = None
) -> CopyReport:
    """Copy every row of ``source`` into the empty ``destination`` (module docstring)."""
    from .models import TMWSModel

    tables = [_transfer_table(table) for table in TMWSModel.metadata.sorted_tables]
    self_refs = {table.name: _self_references(table) for table in TMWSModel.metadata.sorted_tables}
    src_where, dst_where = source.where, destination.where
    report = CopyReport(src_where, dst_where)
    written = _translator(destination, "copying into")
    try:
        # The source first: a source that is missing or not ours stops the copy before the
        # destination is created.
        with _open_source(source, tables) as src:
            _refuse_a_file_holding_rows(destination, tables)
            destination.init()
            with _named(written), destination.engine.begin() as dst:

                def dst_count(table: Table) -> int:
                    return dst.execute(select(func.count()).select_from(table)).scalar() or 0

                _refuse_if_not_empty(dst_count, tables, dst_where)
                total = sum(_count(src, table) for table in tables)
                done = 0

                def tick(step: str, rows: int) -> None:
                    nonlocal done
                    done += rows
                    if progress is not None:
                        progress(step, done, total)

                for table in tables:
                    with _failing_names(table, "copying", written):
                        refs = self_refs[table.name]
                        _copy_table(src, dst, table, refs, written, lambda n: tick("copy", n))
                done = 0
                for table in tables:
                    with _failing_names(table, "checking", written):
                        checked = _check_table(src, dst, table, lambda n: tick("check", n))
                    report.rows[table.name] = checked
                src.confirm_unchanged()  # before the commit: a refused copy writes nothing
    except DBAPIError as exc:
        raise CopyError(
            f"copying {src_where} to {dst_where} failed, so nothing was written: {_one_line(exc)}"
        ) from exc
    return report


def _copy_table(
    src: _Source,
    dst: Connection,
    table: Table,
    self_refs: list[str],
    written: Translate,
    tick: Callable[[int], None],
) -> None:
    """Insert every row of ``table``; its references to its own rows are filled in after."""
    patches: list[dict[str, Any]] = []
    key_names = [column.key for column in table.primary_key.columns]
    for rows in _batches(src, table):
        if self_refs:
            for row in rows:
                if any(row[ref] is not None for ref in self_refs):
                    patch = {f"k_{k}": row[k] for k in key_names}
                    patch.update({f"v_{ref}": row[ref] for ref in self_refs})
                    patches.append(patch)
                    row.update(dict.fromkeys(self_refs))
        try:
            with _named(written):  # a full disk is StorageFullError, not a refused row
                dst.execute(table.insert(), rows)
        except _VALUE_ERRORS as exc:
            raise CopyError(
                f"a row of {table.name} could not be written (between keys "
                f"{_key_of(table)(rows[0])} and {_key_of(table)(rows[-1])}): "
                f"{_one_line(exc)}. Nothing was written."
            ) from exc
        tick(len(rows))
    if patches:
        update = (
            table.update()
            .where(*(table.c[k] == bindparam(f"k_{k}") for k in key_names))
            .values({ref: bindparam(f"v_{ref}") for ref in self_refs})
        )
        dst.execute(update, patches)
