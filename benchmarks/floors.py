"""The same tables without SQLModel: the floors under two of #16's targets.

Two targets compare tmws_store with a yardstick that has no tables at all: importing the
models against ``import sqlmodel``, and the newest 100 memories as objects against a
hand-written sqlite3 query. What any SQLAlchemy mapping of the same tables costs is in
both ratios too; these give it, measured in the same run:

- ``write_plain_modules``: two modules declaring the 42 tables as plain SQLAlchemy
  declarative classes (same columns, keys, foreign keys, indexes and constraints; generic
  column types; no relationships) and as plain Pydantic models (the same field names; enums
  as ``str``).
  Importing both is what the 42 tables cost with no SQLModel in between.
- ``plain_memory_class``: a plain SQLAlchemy class on the ``memories`` table reflected from
  a store file, so with SQLAlchemy's own types and none of ours.
"""

import enum
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.orm import DeclarativeBase

from tmws_store import TMWSModel

PLAIN_TABLES = "plain_sqlalchemy_tables"
PLAIN_SCHEMAS = "plain_pydantic_schemas"


def _column_type(column_type: sqltypes.TypeEngine[Any]) -> str:
    """The generic SQLAlchemy type standing for one of ours (a TypeDecorator: its base)."""
    column_type = getattr(column_type, "impl", column_type)
    for generic in (Boolean, Integer, Float, DateTime):
        if isinstance(column_type, generic):
            return f"sa.{generic.__name__}()"
    length = getattr(column_type, "length", None)
    if isinstance(column_type, String) and length:
        return f"sa.String({length})"
    return "sa.Text()"


def _tables_source(metadata: MetaData) -> str:
    lines = [
        "import sqlalchemy as sa",
        "from sqlalchemy.orm import DeclarativeBase",
        "",
        "class Base(DeclarativeBase):",
        "    pass",
    ]
    for number, table in enumerate(metadata.sorted_tables):
        arguments = [
            f"sa.Index({index.name!r}, {', '.join(repr(c.name) for c in index.columns)}"
            f"{', unique=True' if index.unique else ''})"
            for index in table.indexes
        ]
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint):
                columns = ", ".join(repr(c.name) for c in constraint.columns)
                arguments.append(f"sa.UniqueConstraint({columns}, name={constraint.name!r})")
            elif isinstance(constraint, CheckConstraint):
                check = str(constraint.sqltext)
                arguments.append(f"sa.CheckConstraint({check!r}, name={constraint.name!r})")
        lines += [
            f"class Table{number}(Base):",
            f"    __tablename__ = {table.name!r}",
            f"    __table_args__ = ({''.join(f'{argument}, ' for argument in arguments)})",
        ]
        for column in table.columns:
            extra = [f"sa.ForeignKey({fk.target_fullname!r})" for fk in column.foreign_keys]
            if column.primary_key:
                extra.append("primary_key=True")
            if not column.nullable:
                extra.append("nullable=False")
            # "metadata" is taken by declarative classes (our models map it the same way)
            attribute = f"{column.name}_" if column.name == "metadata" else column.name
            arguments = ", ".join([repr(column.name), _column_type(column.type), *extra])
            lines.append(f"    {attribute} = sa.Column({arguments})")
    return "\n".join(lines) + "\n"


def _annotation(hint: Any) -> str:
    """``hint`` written with builtins only: enums as ``str``, containers of ``Any``."""
    origin = typing.get_origin(hint)
    if hint in (int, str, float, bool, bytes):
        return str(hint.__name__)
    if hint is datetime:
        return "datetime.datetime"
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "str"
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(_annotation(arg) for arg in typing.get_args(hint))
    if origin is list:
        return "list[typing.Any]"
    if origin is dict:
        return "dict[str, typing.Any]"
    return "typing.Any"


def _schemas_source(models: list[type[TMWSModel]]) -> str:
    lines = [
        "import datetime",
        "import typing",
        "from pydantic import BaseModel, ConfigDict",
        "",
        "class Base(BaseModel):",
        "    model_config = ConfigDict(defer_build=True, allow_inf_nan=False, extra='forbid')",
    ]
    for number, model in enumerate(models):
        lines.append(f"class Schema{number}(Base):")
        for name, info in model.model_fields.items():
            lines.append(f"    {name}: {_annotation(info.annotation)} = None")
    return "\n".join(lines) + "\n"


def write_plain_modules(folder: Path) -> list[str]:
    """Write the two plain modules into ``folder``; returns their module names."""
    models = [m for m in TMWSModel.__subclasses__() if hasattr(m, "__table__")]
    assert len(models) == len(TMWSModel.metadata.tables) == 42, len(models)
    (folder / f"{PLAIN_TABLES}.py").write_text(_tables_source(TMWSModel.metadata))
    (folder / f"{PLAIN_SCHEMAS}.py").write_text(_schemas_source(models))
    return [PLAIN_TABLES, PLAIN_SCHEMAS]


class _PlainBase(DeclarativeBase):
    pass


def plain_memory_class(engine: Engine) -> type[DeclarativeBase]:
    """A plain SQLAlchemy class on the ``memories`` table as reflected through ``engine``."""
    reflected = Table("memories", _PlainBase.metadata, autoload_with=engine)
    return type("PlainMemory", (_PlainBase,), {"__table__": reflected})
