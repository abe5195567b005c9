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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, MetaData, String, Table, bindparam, func, select, tuple_
from sqlalchemy.exc import DBAPIError, StatementError

from .backends import CopySource, Translate, named_errors
from .errors import ConstraintError, CopyError, StoreError
from .reports import CopyReport
from .types import StrEnumType

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Progress", "copy_store"]

# Called with (step, rows done, rows in all); step is "copy" or "check".
Progress = Callable[[str, int, int], None]

BATCH_ROWS = 500  # rows per INSERT and per read-back; composite keys stay far below any limit


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
        with named_errors(written):
            yield
    except _VALUE_ERRORS as exc:
        raise CopyError(
            f"{step} table {table.name} failed, so nothing was written: {_one_line(exc)}"
        ) from exc


# --- reading and checking -------------------------------------------------------------------


def _batches(src: CopySource, table: Table) -> Iterator[list[dict[str, Any]]]:
    """The source's rows of ``table`` in key order, ``BATCH_ROWS`` at a time."""
    query = src.reads[table.name]
    if query is None:
        return
    query = query.order_by(*table.primary_key.columns)
    with named_errors(src.translate):
        result = src.conn.execution_options(yield_per=BATCH_ROWS).execute(query)
        for rows in result.mappings().partitions():
            yield [dict(row) for row in rows]


def _count(src: CopySource, table: Table) -> int:
    query = src.reads[table.name]
    if query is None:
        return 0
    with named_errors(src.translate):
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


def _check_table(
    src: CopySource, dst: Connection, table: Table, tick: Callable[[int], None]
) -> int:
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

    def written(exc: DBAPIError) -> StoreError | None:  # errors that name the destination
        found = destination._backend.known_error(exc, "copying into")
        # A row the destination refuses is the copy's own CopyError, naming the table.
        return None if isinstance(found, ConstraintError) else found

    try:
        # The source first: a source that is missing or not ours stops the copy before the
        # destination is created.
        with source._backend.copy_source(tables) as src:
            destination._backend.refuse_if_holding_rows(tables)
            destination.init()
            with named_errors(written), destination.engine.begin() as dst:

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
    src: CopySource,
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
            with named_errors(written):  # a full disk is StorageFullError, not a refused row
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
