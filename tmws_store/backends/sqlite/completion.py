"""SQLite DDL from the models, and what an existing file lacks of the schema.

``compile_statements`` is what the models compile to on SQLite (the drift test compares it
with the committed snapshot). ``plan_completion`` compares a TMWS file with the models and
returns the statements that would add what is missing: tables, columns that existing rows
can take, indexes. It never drops or rewrites anything.
"""

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Index, Table, literal
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

from ...errors import MigrationError
from ...schema import BASELINE_VERSION, model_tables, snapshot_indexes
from .connection import schema_objects

__all__ = [
    "Completion",
    "compile_statements",
    "constant_default_sql",
    "ddl_text",
    "plan_completion",
]

_DIALECT = sqlite.dialect()


def _create_table_sql(table: Table) -> str:
    return str(CreateTable(table).compile(dialect=_DIALECT)).strip()


def _index_sqls(table: Table) -> list[tuple[str, str]]:
    return [
        (str(ix.name), str(CreateIndex(ix).compile(dialect=_DIALECT)).strip())
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


@dataclass
class Completion:
    """What an existing file lacks of the schema, as the statements that would add it."""

    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # "table.column"
    indexes: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)


def _existing_columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')}


_NON_CONSTANT = {"CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"}


def constant_default_sql(column: Column[Any], table: str) -> str:
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
        from ...models._base import empty_dict, empty_list

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
        spec = f"{name} {type_sql} DEFAULT {constant_default_sql(column, table)} NOT NULL"
    return f'ALTER TABLE "{table}" ADD COLUMN {spec}'


def plan_completion(con: sqlite3.Connection) -> Completion:
    """What the file on ``con`` lacks of the baseline schema (TMWS 2.4.18's, version 1):
    the models' tables and columns, and the baseline's indexes. Never anything removed.

    Indexes a later version added are left to that version's migration, which runs next.

    Raises MigrationError, changing nothing, when an object of ours has the wrong kind (a
    view named like one of our tables) or a missing column cannot be added to existing rows.
    """
    # By lower-case name: SQLite's names are case-insensitive, so "PHASE_TEMPLATES" is our
    # phase_templates, not a table missing (CREATE TABLE would fail after the backup).
    objects = {name.lower(): kind for name, kind in schema_objects(con).items()}
    baseline = snapshot_indexes(BASELINE_VERSION)
    plan = Completion()
    for table in model_tables():
        kind = objects.get(table.name.lower())
        if kind is None:
            plan.tables.append(table.name)
            plan.statements.append(_create_table_sql(table))
            plan.statements.extend(sql for name, sql in _index_sqls(table) if name in baseline)
            continue
        if kind != "table":
            raise MigrationError(
                f"{table.name!r} exists in this file as a {kind}, not a table; rename or drop "
                "it, then start again. Nothing was changed."
            )
        present = {name.lower() for name in _existing_columns(con, table.name)}
        for column in table.columns:
            if column.name.lower() not in present:
                plan.columns.append(f"{table.name}.{column.name}")
                plan.statements.append(_add_column_sql(table.name, column))
        indexes = {str(index.name): index for index in table.indexes}
        for name, sql in _index_sqls(table):
            if name in baseline and name.lower() not in objects:
                _refuse_duplicates(con, table.name, indexes[name])
                plan.indexes.append(name)
                plan.statements.append(sql)
    return plan


def _refuse_duplicates(con: sqlite3.Connection, table: str, index: Index) -> None:
    """Raise MigrationError if the rows already hold what a unique ``index`` would refuse:
    found now, before the backup and the first write, not by CREATE INDEX after them."""
    if not index.unique:
        return
    columns = [str(column.name) for column in index.columns]
    quoted = ", ".join(f'"{name}"' for name in columns)
    present = " AND ".join(f'"{name}" IS NOT NULL' for name in columns)  # NULLs never clash
    query = f'SELECT 1 FROM "{table}" WHERE {present} GROUP BY {quoted} HAVING count(*) > 1'
    if con.execute(f"{query} LIMIT 1").fetchone() is not None:
        raise MigrationError(
            f"cannot create the unique index {index.name} on {table}({', '.join(columns)}): "
            "some rows share a value there. Make those values unique (or remove the extra "
            "rows), then start again. Nothing was changed."
        )
