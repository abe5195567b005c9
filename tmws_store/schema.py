"""The schema as data: its identity stamp, its DDL, and what an existing file lacks of it.

A file is ours when ``PRAGMA application_id`` is ``APPLICATION_ID``; ``PRAGMA user_version``
is then its schema version. Both live in the file header, so stamping them inside the
transaction that creates the tables makes "stamped" and "complete" the same fact, and
TMWS users, who count tables to check an install, see no bookkeeping table.
"""

import json
import re
import sqlite3
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import Column, Table, literal
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

from .errors import MigrationError

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "Completion",
    "model_tables",
    "snapshot_tables",
    "compile_statements",
    "create_statements",
    "ddl_text",
    "foreign_triggers_and_views",
    "plan_completion",
    "table_names",
]

APPLICATION_ID = 0x544D5753  # "TMWS" in ASCII
SCHEMA_VERSION = 1

_DIALECT = sqlite.dialect()


def model_tables() -> list[Table]:
    """The models' tables, parents before children. Imports the 42 model classes."""
    # Imported here, not at the top: building the classes is most of the cost of importing
    # the package, and start-up on a current or a fresh file needs none of them.
    from . import models

    return list(models.TMWSModel.metadata.sorted_tables)


_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \(")


@cache
def snapshot_tables() -> tuple[str, ...]:
    """The schema's tables in creation order (parents first), read from the DDL snapshot.

    No model is imported for this. ``tests/test_schema_drift.py`` proves the snapshot is
    exactly what the models compile to, so these are the models' tables.
    """
    return tuple(
        match[1] for statement in create_statements() if (match := _CREATE_TABLE.match(statement))
    )


def table_names() -> frozenset[str]:
    """Names of every table of the schema (see ``snapshot_tables``)."""
    return frozenset(snapshot_tables())


_CREATE_SCHEMA_CODE = re.compile(r"CREATE (?:TRIGGER|VIEW) (?:IF NOT EXISTS )?(\w+)")


@cache
def _own_triggers_and_views() -> frozenset[str]:
    """Names of the triggers and views the schema creates, read from the DDL snapshot.

    None in version 1: TMWS 2.4.18 creates no trigger and no view either. Read rather than
    written down, so that a later version adding one cannot be refused by its own check.
    """
    return frozenset(
        match[1]
        for statement in create_statements()
        if (match := _CREATE_SCHEMA_CODE.match(statement))
    )


def foreign_triggers_and_views(con: sqlite3.Connection) -> list[str]:
    """Each trigger and view in the file on ``con`` that the schema does not create.

    Given as ``"trigger NAME on TABLE"`` or ``"view NAME"``. Their SQL runs inside the
    store's own statements (a trigger on every write it matches), so whoever wrote them
    decides what our writes do: a trigger can empty a table when an agent is renamed.
    Only ``sqlite_master`` is read.
    """
    rows = con.execute(
        "SELECT type, name, tbl_name FROM sqlite_master "
        "WHERE type IN ('trigger', 'view') ORDER BY type, name"
    ).fetchall()
    own = _own_triggers_and_views()
    return [
        f"trigger {name} on {table}" if kind == "trigger" else f"view {name}"
        for kind, name, table in rows
        if name not in own
    ]


def _create_table_sql(table: Table) -> str:
    return str(CreateTable(table).compile(dialect=_DIALECT)).strip()


def _index_sqls(table: Table) -> list[tuple[str, str]]:
    return [
        (ix.name, str(CreateIndex(ix).compile(dialect=_DIALECT)).strip())
        for ix in sorted(table.indexes, key=lambda ix: str(ix.name))
    ]


def compile_statements() -> tuple[str, ...]:
    """Every CREATE TABLE and CREATE INDEX the models produce, in dependency order."""
    statements: list[str] = []
    for table in model_tables():
        statements.append(_create_table_sql(table))
        statements.extend(sql for _, sql in _index_sqls(table))
    return tuple(statements)


def ddl_text(statements: tuple[str, ...]) -> str:
    """The snapshot file format: statements separated by a blank line, each ending in ``;``."""
    return "".join(f"{statement};\n\n" for statement in statements)


@cache
def create_statements() -> tuple[str, ...]:
    """The schema's DDL, read from the snapshot shipped for ``SCHEMA_VERSION``.

    Compiling 257 statements from the models takes longer than executing them, so a fresh
    file is created from ``ddl/v<N>.sql``; ``tests/test_schema_drift.py`` proves that file is
    exactly what ``compile_statements()`` produces.
    """
    text = resources.files(__package__).joinpath(f"ddl/v{SCHEMA_VERSION}.sql").read_text()
    return tuple(block.removesuffix(";") for block in text.split(";\n\n") if block.strip())


@dataclass
class Completion:
    """What an existing file lacks of the schema, as the statements that would add it."""

    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # "table.column"
    indexes: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.statements


def _objects(con: sqlite3.Connection) -> dict[str, str]:
    rows = con.execute(
        "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    return dict(rows.fetchall())


def _existing_columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')}


_NON_CONSTANT = {"CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"}


def _constant_default_sql(column: Column[Any], table: str) -> str:
    """The DEFAULT that lets ALTER TABLE add a NOT NULL column to rows that already exist.

    The model's server default where it is a constant; else its Python default where that
    is a constant or an empty dict or list. ALTER TABLE refuses CURRENT_TIMESTAMP.
    """
    if column.server_default is not None:
        arg = column.server_default.arg  # type: ignore[attr-defined]
        sql = str(getattr(arg, "text", arg))
        if sql.upper() not in _NON_CONSTANT:
            return sql
    value: Any = None
    default = column.default
    if default is not None and default.is_scalar:
        value = default.arg  # type: ignore[attr-defined]
    elif default is not None and default.is_callable:
        from .models._base import empty_dict, empty_list

        factory = getattr(default.arg, "__wrapped__", default.arg)  # type: ignore[attr-defined]
        if factory in (empty_dict, empty_list):
            value = factory()
    if value is None:
        raise MigrationError(
            f"cannot add column {table}.{column.name} to the existing rows: it is NOT NULL "
            "and has no constant default. Nothing was changed."
        )
    if isinstance(value, dict | list):  # JSON: stored as json.dumps text
        return "'" + json.dumps(value).replace("'", "''") + "'"
    compiled = literal(value, type_=column.type).compile(
        dialect=_DIALECT, compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def _add_column_sql(table: str, column: Column[Any]) -> str:
    if column.primary_key or column.unique:
        raise MigrationError(
            f"cannot add key or unique column {table}.{column.name} to an existing table. "
            "Nothing was changed."
        )
    if column.nullable:
        spec = str(CreateColumn(column).compile(dialect=_DIALECT)).strip()
    else:
        name = _DIALECT.identifier_preparer.format_column(column)
        type_sql = column.type.compile(dialect=_DIALECT)
        spec = f"{name} {type_sql} DEFAULT {_constant_default_sql(column, table)} NOT NULL"
    return f'ALTER TABLE "{table}" ADD COLUMN {spec}'


def plan_completion(con: sqlite3.Connection) -> Completion:
    """Compare the file on ``con`` with the models; return what must be added, never removed.

    Raises MigrationError, changing nothing, when an object of ours has the wrong kind (a
    view named like one of our tables) or a missing column cannot be added to existing rows.
    """
    objects = _objects(con)
    plan = Completion()
    for table in model_tables():
        kind = objects.get(table.name)
        if kind is None:
            plan.tables.append(table.name)
            plan.statements.append(_create_table_sql(table))
            plan.statements.extend(sql for _, sql in _index_sqls(table))
            continue
        if kind != "table":
            raise MigrationError(
                f"{table.name!r} exists in this file as a {kind}, not a table; rename or drop "
                "it, then start again. Nothing was changed."
            )
        present = _existing_columns(con, table.name)
        for column in table.columns:
            if column.name not in present:
                plan.columns.append(f"{table.name}.{column.name}")
                plan.statements.append(_add_column_sql(table.name, column))
        for name, sql in _index_sqls(table):
            if name not in objects:
                plan.indexes.append(str(name))
                plan.statements.append(sql)
    return plan
