"""The bulk path: validate many rows, then insert them with one ``executemany``.

(On SQLite the rows are turned into TMWS's stored formats here and sent as they are; on
PostgreSQL the column types convert them.)

``session.add_all`` builds an ORM object per row and tracks it; for thousands of rows the
bookkeeping dominates. ``Store.insert_many`` keeps what matters (every row is validated by
the model's own field definitions before anything is written, defaults are applied, values
are stored in TMWS's formats) and skips the rest: no identity map, no per-row events.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import Boolean, Column, Engine, Table, inspect
from sqlalchemy.dialects import sqlite

from .errors import StoreError
from .models import TMWSModel
from .models._base import VALUE_CONFIG, per_model, value_annotation
from .types import HexUUID, JSONValue, StrEnumType, UTCDateTime, as_utc, checked_json_text

__all__ = ["insert_many"]

_DIALECT = sqlite.dialect()


@per_model
def _row_model(model: type[TMWSModel]) -> type[BaseModel]:
    """A plain Pydantic model with the table model's fields: validation without the ORM."""
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        # The constraints and validators (max_length, ..., and JSON's NaN check) are kept.
        default = (
            Field(default_factory=field.default_factory)
            if field.default_factory is not None
            else Field(default=field.default)
        )
        fields[name] = (value_annotation(model, name), default)
    config: ConfigDict = {**VALUE_CONFIG, "arbitrary_types_allowed": True}
    return create_model(model.__name__, __config__=config, **fields)


def _datetime_text(value: datetime | None) -> str | None:
    """UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``, as ``UTCDateTime`` stores it."""
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = as_utc(value)
    # isoformat is much faster than strftime; its first 26 characters leave out a "+00:00"
    # (the year always has four digits).
    return value.isoformat(" ", timespec="microseconds")[:26]


def _json_text(value: Any) -> str | None:
    """``json_text`` (refusing NaN and the infinities), as ``JSONValue`` stores it."""
    if value is None:
        return None
    if not value and type(value) in (dict, list):
        # Most JSON columns of a new row hold their empty default: these two characters
        # need no encoder.
        return "{}" if type(value) is dict else "[]"
    return checked_json_text(value)  # validated: json_problem found nothing


def _converter(column: Column[Any]) -> Callable[[Any], Any] | None:
    """The function turning a validated value into what TMWS stores (None: as it is)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _datetime_text
    if isinstance(kind, JSONValue) or isinstance(getattr(kind, "impl_instance", None), JSONValue):
        return _json_text
    if isinstance(kind, StrEnumType):
        stored = {m: (m.name if kind.store_names else str(m.value)) for m in kind.enum_class}
        return stored.get  # validated values are members (or None, which maps to None)
    if isinstance(kind, HexUUID):
        bind = kind.process_bind_param
        return lambda value: bind(value, _DIALECT)
    if isinstance(kind, Boolean):
        return lambda value: None if value is None else int(value)
    return None


@per_model
def _plan(
    model: type[TMWSModel],
) -> tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]:
    """The INSERT statement and, per column, the attribute holding it and its converter."""
    mapper = inspect(model)
    table = mapper.local_table
    assert isinstance(table, Table)  # a model maps one table
    columns = list(table.columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
    plan = tuple((mapper.get_property_by_column(c).key, _converter(c)) for c in columns)
    return sql, plan


@per_model
def _sqlite_params(model: type[TMWSModel]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The function turning one validated row into the parameters of ``_plan``'s INSERT.

    Prepared once per model: one C-level ``itemgetter`` takes the values in column order,
    and only the columns that need one run their converter (a third of Memory's columns).
    """
    _, plan = _plan(model)
    take = itemgetter(*(attr for attr, _ in plan))
    conversions = tuple((index, convert) for index, (_, convert) in enumerate(plan) if convert)

    def params(values: Mapping[str, Any]) -> tuple[Any, ...]:
        row = list(take(values))
        for index, convert in conversions:
            value = row[index]
            if value is not None:  # every converter keeps None as it is
                row[index] = convert(value)
        return tuple(row)  # SQLAlchemy takes a list of tuples for executemany

    return params


def _table(model: type[TMWSModel]) -> Table:
    table = inspect(model).local_table
    assert isinstance(table, Table)  # a model maps one table
    return table


@per_model
def _insert_values(model: type[TMWSModel]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The function turning one validated row into ``table.insert()``'s values (PostgreSQL)."""
    _, plan = _plan(model)
    keys = [
        (column.key, attr) for column, (attr, _) in zip(_table(model).columns, plan, strict=True)
    ]
    return lambda values: {key: values[attr] for key, attr in keys}


def _refuse_related_objects(row: TMWSModel, relationships: tuple[str, ...], position: int) -> None:
    """Refuse an instance given related objects (``Task(assigned_agent=agent)``): insert_many
    writes columns only, and the foreign key such an object stands for is filled in by a
    session's flush, so the row would have been written without it (NULL)."""
    given = vars(row)
    for name in relationships:
        if given.get(name) not in (None, [], ()):
            model = type(row).__name__
            raise StoreError(
                f"row {position} given to insert_many({model}, ...) sets the relationship "
                f"{model}.{name}, which insert_many cannot write (it writes columns only): "
                "set the foreign key column instead, or add the row in a session; nothing "
                "was written"
            )


def insert_many(
    engine: Engine, model: type[TMWSModel], rows: Iterable[Mapping[str, Any] | TMWSModel]
) -> int:
    """Validate every row, then insert them all in one write transaction; returns the count.

    Rows are dicts (or model instances) keyed by attribute name (``metadata_json``, not
    ``metadata``). A bad row raises Pydantic's ``ValidationError`` naming the model and
    field, with a note giving the row's position, before anything is written.
    """
    validator = _row_model(model)
    sql, _ = _plan(model)
    on_sqlite = engine.dialect.name == "sqlite"
    prepare = _sqlite_params(model) if on_sqlite else _insert_values(model)
    # Each row is turned into its parameters as soon as it is valid, and its validated dict
    # dropped: keeping 10k of them alive made the collector walk them again and again.
    prepared: list[Any] = []
    relationships = tuple(inspect(model).relationships.keys())
    for position, row in enumerate(rows):
        data: Mapping[str, Any]
        if isinstance(row, TMWSModel):
            _refuse_related_objects(row, relationships, position)
            data = row.model_dump()
        else:
            data = row
        try:
            values = validator.model_validate(data).__dict__
        except ValidationError as exc:
            exc.add_note(f"in row {position} given to insert_many({model.__name__}, ...)")
            raise
        prepared.append(prepare(values))
    if not prepared:
        return 0  # every row is valid before anything is written: nothing was
    with engine.begin() as conn:
        if on_sqlite:
            conn.exec_driver_sql(sql, prepared)
        else:
            # Elsewhere the column types convert; psycopg batches the rows into few statements.
            conn.execute(_table(model).insert(), prepared)
    return len(prepared)
