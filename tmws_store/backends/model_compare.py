"""Compare what a database holds with the models: the part of ``verify()`` every back end shares.

Alembic's ``compare_metadata`` reads the store through SQLAlchemy's inspector, on the read-only
connection the back end hands over, and lists how it differs from the models' metadata:
tables, columns, nullability, indexes (their columns and uniqueness), unique constraints,
foreign keys and, where the back end asks for it, types. Everything is taken from the
metadata, so an index or a column that a later schema version adds is compared without a line
changing here.

Two comparisons are made here rather than by Alembic:

- Server defaults. Alembic's PostgreSQL comparison runs ``SELECT <store's> = <model's>`` on
  the server, which fails outright for TMWS's ``BOOLEAN DEFAULT 1`` (PostgreSQL has no boolean
  = integer operator); its text comparison elsewhere does not know PostgreSQL's casts. So both
  sides are normalised here (casts, parentheses, quoted numbers, ``1``/``true``) and compared
  as text.
- SQLite's declared types, which SQLAlchemy reflects only as an affinity (TMWS's ``UUID``
  comes back as NUMERIC): the SQLite back end compares the declared text itself and calls
  ``type_difference`` for the line.

What counts: anything the models declare that the store lacks or holds differently is a
problem. What the store holds beyond the models (a user's tables, columns and plain indexes,
``alembic_version``, TMWS's duplicate indexes) is listed as extra. A constraint the models do
not declare (a foreign key, a unique index or constraint) is a problem, since it refuses rows
the models accept, unless the back end tolerates it as a documented TMWS deviation
(docs/compatibility.md).

Alembic is imported only by the functions here, and this module only by ``verify()``.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Float, Integer, Numeric
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

from ..reports import VerifyReport
from ..schema import table_names

__all__ = ["Tolerated", "compare_with_models", "type_difference"]


@dataclass(frozen=True)
class Tolerated:
    """What a back end accepts in a store although the models differ (docs/compatibility.md).

    ``foreign_keys``: ``(child table, parent table)`` of keys that TMWS declares and the
    models leave out. ``adoption_default``: the DEFAULT that adoption gives a NOT NULL column
    it adds to a table with rows, where the models give none; None where there is none.
    """

    foreign_keys: frozenset[tuple[str, str]] = frozenset()
    adoption_default: Callable[[Column[Any]], str | None] = lambda column: None


# --- the lines ------------------------------------------------------------------------------


def type_difference(table: str, column: str, store: str, models: str) -> str:
    """The line for a column whose type differs."""
    return f"{table}.{column}: type {store} in the store, {models} in the models"


_UNKNOWN = "unknown to SQLAlchemy"  # reflected as NullType: PostgreSQL's point, say


def _type_text(type_: TypeEngine[Any], dialect: Any) -> str:
    return _UNKNOWN if isinstance(type_, NullType) else str(type_.compile(dialect))


def _nullable(nullable: bool) -> str:
    return "NULL allowed" if nullable else "NOT NULL"


def _default(text: str | None) -> str:
    # Without the parentheses SQLAlchemy puts around a SQLite default it reflects.
    return f"default {_unwrap(text.strip())}" if text is not None else "no default"


def _names(names: list[str]) -> str:
    return ", ".join(names)


def _where(table: str, columns: list[str]) -> str:
    """``table.column``, or ``table.(a, b)`` for several columns."""
    return f"{table}.{columns[0]}" if len(columns) == 1 else f"{table}.({_names(columns)})"


def _index_columns(index: Any) -> list[str]:
    return [str(getattr(e, "name", e)) for e in index.expressions]


def _index_text(index: Any) -> str:
    unique = "unique index" if index.unique else "index"
    return f"{unique} on ({_names(_index_columns(index))})"


def _fk_target(fk: Any) -> str:
    """``parent.column`` (or ``parent.(a, b)``) with the key's ON DELETE / ON UPDATE."""
    targets = [str(element.target_fullname) for element in fk.elements]
    parent = targets[0].rsplit(".", 1)[0]
    text = "foreign key to " + _where(parent, [t.rsplit(".", 1)[1] for t in targets])
    for action, rule in (("DELETE", fk.ondelete), ("UPDATE", fk.onupdate)):
        if rule:
            text += f" ON {action} {str(rule).upper()}"
    return text


def _fk_parent(fk: Any) -> str:
    return str(fk.elements[0].target_fullname).rsplit(".", 1)[0]


# --- defaults -------------------------------------------------------------------------------

# PostgreSQL shows defaults with casts: 'x'::character varying, '{}'::jsonb, '0'::double
# precision. Only a cast at the very end is removed: one inside a string literal ends in a
# quote, never in a type name.
_CAST = re.compile(r"::[a-z_][a-z0-9_ ]*(?:\([0-9, ]*\))?(?:\[\])?$", re.IGNORECASE)


def _unwrap(text: str) -> str:
    """``text`` without parentheses around the whole of it (SQLite keeps ``(0.0)``)."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for char in text[1:-1]:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:  # "(a) + (b)": the outer pair is not one
                return text
        text = text[1:-1].strip()
    return text


def _kind(type_: TypeEngine[Any]) -> str:
    """``"boolean"``, ``"number"`` or ``"other"``: how a default of this type is spelled."""
    base = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
    if isinstance(base, Boolean):
        return "boolean"
    if isinstance(base, Integer | Numeric | Float):  # Float is no Numeric in SQLAlchemy 2.1
        return "number"
    return "other"


def _quoted(text: str) -> bool:
    return len(text) >= 2 and text[0] == text[-1] == "'"


def normal_default(text: str | None, column: Column[Any]) -> str | None:
    """A default's text as both back ends and both sides can agree on it.

    TMWS writes ``DEFAULT '0'`` for numbers and ``DEFAULT 1`` for booleans, PostgreSQL shows
    ``0`` and ``true``: a number is compared as its value, a boolean as true or false.
    Keywords (``CURRENT_TIMESTAMP``, PostgreSQL's older ``now()``) are compared in upper case;
    string literals exactly.
    """
    if text is None:
        return None
    value = text.strip()
    while (shorter := _CAST.sub("", _unwrap(value)).strip()) != value:
        value = shorter
    kind = _kind(column.type)
    if kind != "other" and _quoted(value):
        value = value[1:-1].strip()
    if kind == "boolean":
        return {"1": "true", "0": "false"}.get(value.lower(), value.lower())
    if kind == "number":
        try:
            return repr(float(value))
        except ValueError:
            return value
    if _quoted(value):
        return value
    value = value.upper()
    return "CURRENT_TIMESTAMP" if value == "NOW()" else value


@dataclass
class _Defaults:
    """Alembic's hook for server defaults: notes each pair, tells Alembic they are equal."""

    seen: list[tuple[Column[Any], str | None, str | None]] = field(default_factory=list)

    def __call__(
        self,
        context: Any,
        store_column: Column[Any],
        model_column: Column[Any],
        store_default: str | None,
        model_default: Any,
        rendered_model_default: str | None,
    ) -> bool:
        self.seen.append((model_column, store_default, rendered_model_default))
        return False  # compared in _default_lines, never by Alembic


def _serial(column: Column[Any], store: str) -> bool:
    """PostgreSQL's own default of an autoincrement key (``nextval('t_id_seq'::regclass)``)."""
    return column is column.table.autoincrement_column and store.startswith("nextval(")


def _default_lines(
    seen: list[tuple[Column[Any], str | None, str | None]], tolerated: Tolerated
) -> Iterator[tuple[str, bool]]:
    """``(line, tolerated)`` for each column whose default differs."""
    for column, store, models in seen:
        found = normal_default(store, column)
        if found == normal_default(models, column):
            continue
        if models is None and store is not None and _serial(column, store):
            continue
        where = f"{column.table.name}.{column.name}"
        line = f"{where}: {_default(store)} in the store, {_default(models)} in the models"
        if models is None and found is not None:
            given = tolerated.adoption_default(column)
            if given is not None and found == normal_default(given, column):
                yield f"{line} (given by adoption to the rows already there)", True
                continue
        yield line, False


# --- Alembic's differences ------------------------------------------------------------------


@dataclass
class _UnknownTypes:
    """Alembic's object filter, used to see each pair of columns it compares; filters nothing.

    Alembic skips a column whose store type SQLAlchemy could not reflect (NullType: PostgreSQL's
    ``point``, say) before any type hook runs, so such a column would compare equal.
    """

    dialect: Any
    lines: list[str] = field(default_factory=list)

    def __call__(
        self, model: Any, name: str | None, kind: str, reflected: bool, store: Any
    ) -> bool:
        if kind == "column" and store is not None and isinstance(store.type, NullType):
            models = _type_text(model.type, self.dialect)
            self.lines.append(type_difference(model.table.name, str(name), _UNKNOWN, models))
        return True


def _alembic_differences(
    conn: Connection,
    tables: set[str],
    compare_types: bool,
    defaults: _Defaults,
    unknown: _UnknownTypes,
) -> list[Any]:
    """Alembic's list of differences, for the models' tables only.

    Other tables are not even reflected: they are a user's, listed as extra by name.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ..models import TMWSModel

    ours = table_names() & tables

    def include_name(name: str | None, kind: str, parents: Any) -> bool:
        return kind != "table" or name in ours

    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": compare_types,
            "compare_server_default": defaults,
            "include_name": include_name,
            "include_object": unknown if compare_types else None,
        },
    )
    found: list[Any] = []
    for item in compare_metadata(context, TMWSModel.metadata):
        found.extend(item if isinstance(item, list) else [item])  # column changes come in lists
    return found


@dataclass
class _Sorted:
    """Alembic's differences sorted into the report's lists."""

    report: VerifyReport
    dialect: Any
    tolerated: Tolerated
    # (table, index name) -> index; (table, columns) -> key or unique constraint
    indexes: dict[str, dict[tuple[str, str], Any]] = field(default_factory=dict)
    keys: dict[str, dict[tuple[str, tuple[str, ...]], Any]] = field(default_factory=dict)

    def difference(self, line: str) -> None:
        self.report.differences.append(line)

    def add(self, diff: tuple[Any, ...]) -> None:
        kind = diff[0]
        if kind == "add_table":
            self.report.missing_tables.append(diff[1].name)
        elif kind == "add_column":
            self.report.missing_columns.append(f"{diff[2]}.{diff[3].name}")
        elif kind == "remove_column":
            self.report.extra_columns.append(f"{diff[2]}.{diff[3].name}")
        elif kind == "modify_type":
            _, _, table, column, _, store, models = diff
            shown = (_type_text(store, self.dialect), _type_text(models, self.dialect))
            self.difference(type_difference(table, column, *shown))
        elif kind == "modify_nullable":
            _, _, table, column, _, store, models = diff
            self.difference(
                f"{table}.{column}: {_nullable(store)} in the store, "
                f"{_nullable(models)} in the models"
            )
        elif kind in ("add_index", "remove_index"):
            index = diff[1]
            self.indexes.setdefault(kind, {})[(index.table.name, str(index.name))] = index
        elif kind in ("add_fk", "remove_fk", "add_constraint", "remove_constraint"):
            key = diff[1]
            columns = (
                tuple(str(c) for c in key.column_keys)
                if "fk" in kind
                else (tuple(c.name for c in key.columns))
            )
            self.keys.setdefault(kind, {})[(key.table.name, columns)] = key
        elif "comment" not in kind:  # comments: PostgreSQL's stamp lives in one
            self.difference(f"{kind}: {diff[1:]}")  # a kind this code does not know yet

    def finish(self) -> None:
        self._indexes()
        self._keys("add_fk", "remove_fk", _fk_target, "no foreign key")
        self._keys(
            "add_constraint", "remove_constraint", lambda _: "unique constraint", "not unique"
        )

    def _indexes(self) -> None:
        wanted = self.indexes.get("add_index", {})
        found = self.indexes.get("remove_index", {})
        for (table, name), index in sorted(wanted.items()):
            if (table, name) not in found:
                self.report.missing_indexes.append(name)
                continue
            self.difference(
                f"{table}.{name}: {_index_text(found[(table, name)])} in the store, "
                f"{_index_text(index)} in the models"
            )
        for (table, name), index in sorted(found.items()):
            if (table, name) in wanted:
                continue
            if index.unique:  # refuses rows the models accept
                self.difference(
                    f"{table}.{name}: {_index_text(index)} in the store, none in the models"
                )
            else:
                self.report.extra_indexes.append(name)

    def _keys(self, add: str, remove: str, text: Callable[[Any], str], none: str) -> None:
        wanted = self.keys.get(add, {})
        found = self.keys.get(remove, {})
        for table, columns in sorted(wanted.keys() | found.keys()):
            key = (table, columns)
            store = text(found[key]) if key in found else none
            models = text(wanted[key]) if key in wanted else none
            line = f"{_where(table, list(columns))}: {store} in the store, {models} in the models"
            if (
                key not in wanted
                and add == "add_fk"
                and ((table, _fk_parent(found[key])) in self.tolerated.foreign_keys)
            ):
                self.report.tolerated_differences.append(line)
            else:
                self.difference(line)


def compare_with_models(
    report: VerifyReport,
    conn: Connection,
    tables: set[str],
    *,
    compare_types: bool,
    tolerated: Tolerated = Tolerated(),
) -> None:
    """Fill in what ``report`` says of the schema: missing, extra, different, tolerated.

    ``conn`` reads the store and is never written through; ``tables`` are all of its tables.
    ``compare_types``: let Alembic compare column types (PostgreSQL's native ones); a back end
    that compares them itself passes False.
    """
    defaults = _Defaults()
    unknown = _UnknownTypes(conn.dialect)
    sorter = _Sorted(report, conn.dialect, tolerated)
    for diff in _alembic_differences(conn, tables, compare_types, defaults, unknown):
        sorter.add(diff)
    sorter.finish()
    report.differences += unknown.lines
    for line, is_tolerated in _default_lines(defaults.seen, tolerated):
        (report.tolerated_differences if is_tolerated else report.differences).append(line)
    report.extra_tables = sorted(tables - table_names())
    for listed in (
        report.missing_tables,
        report.missing_columns,
        report.extra_columns,
        report.differences,
        report.tolerated_differences,
    ):
        listed.sort()
