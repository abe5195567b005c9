"""The PostgreSQL back end: engines, DDL and ``init()`` for a ``postgresql+psycopg://`` URL.

The same 42 models, with native types (``jsonb``, ``timestamptz``, ``uuid``; see ``types``),
and the same ``init()`` contract as for a SQLite file:

1. Warm path: one query reads the stamp, a comment on the ``agents`` table that names
   tmws_store's application id and schema version. "Ours, current": done. (A comment, not a
   bookkeeping table: the schema keeps exactly the 42 tables, as the SQLite file does.)
2. Slow path, in ONE transaction (PostgreSQL's DDL is transactional): compile the DDL first,
   then take an advisory lock, so that of many processes starting at once exactly one creates
   while the others wait and then find the stamp; look again; run the DDL and write the
   stamp. A crash or an error anywhere rolls it all back. The lock is held only while the
   server works: nothing is imported or compiled inside it.
3. Refused, with nothing changed: a newer schema version, a comment that is not ours, or a
   schema that already holds tables without our stamp (another application's data).

psycopg (the ``postgres`` extra: ``pip install ".[postgres]"`` from a clone) serves both the
sync and the async engine. It is imported only when a PostgreSQL store is first used.
"""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Connection, Engine, Table, create_engine, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import (
    ColumnCollectionConstraint,
    CreateColumn,
    CreateIndex,
    CreateTable,
)

from .. import schema
from ..errors import (
    CheckViolationError,
    ConstraintError,
    CopyError,
    DatabaseLockedError,
    ForeignDatabaseError,
    ForeignKeyViolationError,
    NewerSchemaError,
    NotNullViolationError,
    ReadOnlyStoreError,
    ServerUnavailableError,
    StorageFullError,
    StoreError,
    UniqueViolationError,
)
from ..paths import ServerLocation
from ..reports import InitAction, InitReport, StatusReport, VerifyReport
from . import Backend, CopySource

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ..migrations import Migration

__all__ = ["STAMP_TABLE", "PostgreSQLBackend", "create_statements", "read_stamp", "stamp_text"]

STAMP_TABLE = "agents"  # the table whose comment holds the stamp; every version has it
_STAMP = re.compile(r"tmws_store application_id=(\d+) schema_version=(\d+)")
# Plain catalog tables, read with the statement's snapshot like any query. (obj_description
# over to_regclass() looks the table up through the backend's catalog cache instead, which an
# advisory lock does not refresh: a process that waited for another's first run could then
# miss the stamp yet see the new tables, and refuse a store that was just made.)
_READ_STAMP = text(
    "SELECT d.description FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_description d "
    "ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 "
    f"WHERE n.nspname = current_schema() AND c.relname = '{STAMP_TABLE}'"
)


def stamp_text(version: int) -> str:
    """The comment that marks a schema as tmws_store's, at ``version``."""
    return f"tmws_store application_id={schema.APPLICATION_ID} schema_version={int(version)}"


# --- DDL ------------------------------------------------------------------------------------


@compiles(CreateColumn, "postgresql")
def _boolean_defaults_as_booleans(element: CreateColumn, compiler: Any, **kw: Any) -> str:
    """TMWS's DDL gives some BOOLEAN columns ``DEFAULT 1``; PostgreSQL wants ``true``.

    SQLite's DDL keeps TMWS's text; only PostgreSQL's is spelled this way. SQLAlchemy's
    compiler hooks are global, so the rewrite touches tmws_store's own tables only: another
    program's metadata in the same process compiles as it always did.
    """
    sql: str = compiler.visit_create_column(element, **kw)
    column = element.element
    if not _is_ours(column):
        return sql
    if isinstance(column.type, Boolean) and column.server_default is not None:
        sql = re.sub(r"DEFAULT '?1'?", "DEFAULT true", sql)
        sql = re.sub(r"DEFAULT '?0'?", "DEFAULT false", sql)
    return sql


def _is_ours(column: Any) -> bool:
    from ..models import TMWSModel

    table = getattr(column, "table", None)
    return getattr(table, "metadata", None) is TMWSModel.metadata


def create_statements(dialect: Dialect) -> tuple[str, ...]:
    """Every CREATE TABLE and CREATE INDEX of the models, compiled for ``dialect``.

    Parents first, each table's indexes after it, with the Boolean defaults spelled for
    PostgreSQL (above): the statements ``create_all`` would send, compiled before ``init()``
    takes its lock, so that the lock is held only while the server runs them. Imports the
    models.
    """
    statements: list[str] = []
    for table in schema.model_tables():
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        statements.extend(
            str(CreateIndex(index).compile(dialect=dialect)).strip()
            for index in sorted(table.indexes, key=lambda index: str(index.name))
        )
    return tuple(statements)


# --- engines --------------------------------------------------------------------------------


def _connect_args(location: ServerLocation, busy_timeout: float) -> dict[str, Any]:
    # lock_timeout plays SQLite's busy timeout: how long a statement waits for another
    # session's lock (the advisory lock of init() included) before failing. It is added to
    # the URL's own ``options`` (a search_path choosing the schema, say), which these
    # arguments would otherwise replace.
    ours = f"-c lock_timeout={int(busy_timeout * 1000)}"
    theirs = location.url.query.get("options")
    theirs = " ".join(theirs) if isinstance(theirs, tuple) else theirs
    options = f"{theirs} {ours}" if theirs else ours
    return {"options": options, "connect_timeout": 10}


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            "PostgreSQL stores need psycopg, which is not installed: "
            "pip install 'psycopg[binary]' (or install tmws_store with its postgres extra)"
        ) from None


def _reason(exc: DBAPIError) -> str:
    """The server's (or libpq's) message, on one line."""
    return " ".join(str(exc.orig).split())


# Insufficient resources other than disk, by SQLSTATE: what the server lacked, for the message.
_SHORT_OF = {
    "53200": "ran out of memory",
    "53300": "has no connection free (too many connections for the server or this role)",
    "53400": "hit one of its configured limits",
}


def _connection_refused(exc: DBAPIError, where: str, doing: str) -> StoreError | None:
    """The error for a connection that could not be opened, else None.

    psycopg gives a failed connection attempt no SQLSTATE (libpq keeps the server's code to
    itself), so too many connections (53300) arrives like this; it is told apart from other
    errors by the connection attempt psycopg attaches to it, never by message text.
    """
    if getattr(exc.orig, "pgconn", None) is None:
        return None
    # libpq's text names the host and port, never the password.
    return ServerUnavailableError(
        f"could not connect to {where} while {doing} it ({_reason(exc)}); nothing was changed."
    )


# Integrity constraint violations (class 23), by SQLSTATE; others of the class (an exclusion
# constraint, say: the schema has none) are a plain ConstraintError.
_CONSTRAINT_ERRORS: dict[str, type[ConstraintError]] = {
    "23505": UniqueViolationError,
    "23503": ForeignKeyViolationError,
    "23502": NotNullViolationError,
    "23514": CheckViolationError,
}


def _default_constraint_name(table: str, kind: str, columns: tuple[str, ...]) -> str | None:
    """The name PostgreSQL gives an unnamed constraint of ``table`` (short names only)."""
    suffix = {
        "PrimaryKeyConstraint": "pkey",
        "UniqueConstraint": "key",
        "ForeignKeyConstraint": "fkey",
    }.get(kind)
    if suffix is None:
        return None
    if suffix == "pkey":
        return f"{table}_pkey"
    return f"{table}_{'_'.join(columns)}_{suffix}"


def _constraint_columns(table_name: str | None, constraint: str | None) -> tuple[str, ...]:
    """The columns of one of our tables' unique indexes or constraints, found by the name the
    server reported; () when unknown.

    Read from the models rather than from the server's message, whose DETAIL line shows the
    row's values. A name PostgreSQL shortened (past 63 characters) is not found.
    """
    from ..models import TMWSModel

    table = TMWSModel.metadata.tables.get(table_name or "")
    if table is None or not constraint:
        return ()
    for index in table.indexes:
        if index.name == constraint:
            return tuple(str(column.name) for column in index.columns)
    for item in table.constraints:
        if not isinstance(item, ColumnCollectionConstraint):
            continue
        columns = tuple(str(column.name) for column in item.columns)
        named = item.name or _default_constraint_name(table.name, type(item).__name__, columns)
        if named == constraint:
            return columns
    return ()


def _constraint_error(exc: DBAPIError, where: str, doing: str) -> ConstraintError | None:
    """The ``ConstraintError`` for an integrity violation, from the error's diagnostics (table,
    column, constraint), never from its text, which shows the row's values; else None."""
    state = getattr(exc.orig, "sqlstate", None) or ""
    if not state.startswith("23"):
        return None
    diag = getattr(exc.orig, "diag", None)
    table = getattr(diag, "table_name", None)
    column = getattr(diag, "column_name", None)
    constraint = getattr(diag, "constraint_name", None)
    columns = (column,) if column else _constraint_columns(table, constraint)
    kind = _CONSTRAINT_ERRORS.get(state, ConstraintError)
    return kind.refused(
        where=where, doing=doing, table=table, columns=columns, constraint=constraint
    )


def from_postgres(exc: DBAPIError, location: ServerLocation, doing: str) -> BaseException:
    """The tmws_store error for a PostgreSQL error met while ``doing``, else ``exc`` itself.

    Classified by SQLSTATE, never by message text.
    """
    where = location.shown
    state = getattr(exc.orig, "sqlstate", None) or ""
    refused = _constraint_error(exc, where, doing)
    if refused is not None:
        return refused
    if state == "55P03":  # lock_not_available: lock_timeout ran out
        return DatabaseLockedError(
            f"another session held a lock on {where} for longer than the busy timeout while "
            f"{doing} it; the transaction was rolled back. Try again, or raise busy_timeout."
        )
    if state == "53100":  # disk_full: the only one of class 53 that is a full disk
        return StorageFullError(
            f"the disk of {where} is full while {doing} it ({_reason(exc)}); the "
            "transaction was rolled back. Free some space on the server and try again."
        )
    if state.startswith("53"):  # insufficient resources: memory, connections, a limit
        lacked = _SHORT_OF.get(state, "ran short of resources")
        return ServerUnavailableError(
            f"the server of {where} {lacked} while {doing} it ({_reason(exc)}); "
            "nothing was changed. Try again later, or raise the server's limits."
        )
    if state == "25006":  # read_only_sql_transaction
        return ReadOnlyStoreError(
            f"a read-only session on {where} tried to write ({str(exc.orig).strip()}); "
            "nothing was changed. Write in a session opened without readonly=True."
        )
    if state == "42501":  # insufficient_privilege
        return ReadOnlyStoreError(
            f"{where} refused the write while {doing} it ({str(exc.orig).strip()}); nothing "
            "was changed. The database role needs to own the schema's tables (or be granted "
            "CREATE on the schema, for init())."
        )
    if state.startswith("22"):  # data exception: a value the column's type cannot hold
        # The server's reason up to its first colon: the kind ("integer out of range"), not
        # the value some of them quote after it ('invalid input syntax for type ...: "x"').
        # A ConstraintError: the column's type is the constraint that refused the row.
        kind = str(exc.orig).strip().split(":", 1)[0]
        return ConstraintError(
            f"{where} refused a value while {doing} it ({kind}); the transaction was rolled "
            "back and nothing was written. On PostgreSQL an integer column holds 32 bits, as "
            "TMWS declares it there."
        )
    return _connection_refused(exc, where, doing) or exc


def as_store_error(exc: DBAPIError, location: ServerLocation, doing: str) -> StoreError:
    """``from_postgres``, with any error it does not classify as a plain StoreError.

    For start-up and checks, where every failure is the store's to report in one line.
    """
    translated = from_postgres(exc, location, doing)
    if isinstance(translated, StoreError):
        return translated
    return StoreError(f"{location.shown}: {str(exc.orig).strip()}")


# --- init() ---------------------------------------------------------------------------------


def read_stamp(conn: Connection) -> tuple[int, int] | None:
    """``(application id, schema version)`` from the stamp; None when there is no comment.

    Raises ForeignDatabaseError for a comment that is not a tmws_store stamp.
    """
    comment = conn.execute(_READ_STAMP).scalar()  # None: no such table, or no comment
    if comment is None:
        return None
    match = _STAMP.fullmatch(comment)
    if match is None:
        raise ForeignDatabaseError(
            f"the {STAMP_TABLE!r} table of this database carries a comment that is not "
            f"tmws_store's ({comment[:60]!r}): it belongs to another program. Nothing was "
            "changed; point the store at another database or schema."
        )
    return int(match[1]), int(match[2])


def _existing_tables(conn: Connection) -> list[str]:
    """Tables, views and the like in the current schema, whoever owns them.

    Read from pg_class: information_schema shows only what this role has privileges on, so
    another application's tables could look like an empty schema.
    """
    return list(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "ORDER BY c.relname"
            )
        ).scalars()
    )


def _classify(conn: Connection, where: str, target: int) -> str:
    """``"current"``, ``"upgrade"`` or ``"fresh"``; raises for what is not ours or newer."""
    stamp = read_stamp(conn)
    if stamp is not None:
        app_id, version = stamp
        if app_id != schema.APPLICATION_ID:
            raise ForeignDatabaseError(
                f"{where} is stamped by another program (application id {app_id:#x}); "
                "nothing was changed."
            )
        if version > target:
            raise NewerSchemaError(
                f"{where} has schema version {version}, written by a newer tmws_store; this "
                f"version knows up to {target}. Upgrade tmws_store; the database was left "
                "untouched."
            )
        return "upgrade" if version < target else "current"
    tables = _existing_tables(conn)
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise ForeignDatabaseError(
            f"the schema of {where} already holds tables ({shown}) but no tmws_store stamp; "
            "tmws_store left it untouched. Use an empty database (or schema), or move data "
            "in with `tmws-store copy`."
        )
    return "fresh"


def initialise(
    engine: Engine,
    location: ServerLocation,
    *,
    migrations: "Sequence[Migration] | None" = None,
    target: int = schema.SCHEMA_VERSION,
) -> InitReport:
    """Bring the database at ``location`` to schema version ``target`` (module docstring)."""
    where = location.shown
    try:
        # Warm path: one query. In autocommit, so that no BEGIN and ROLLBACK travel with it.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            stamp = read_stamp(conn)
        if stamp == (schema.APPLICATION_ID, target):
            return InitReport(path=None, url=where, action="current", schema_version=target)
        created = stamp is None and _create(engine, location)
        ran = _migrate(engine, location, migrations, target)
    except DBAPIError as exc:
        raise as_store_error(exc, location, "initialising") from exc
    action: InitAction = "created" if created else "upgraded" if ran else "current"
    return InitReport(
        path=None,
        url=where,
        action=action,
        schema_version=target,
        tables_created=schema.snapshot_tables() if created else (),
        migrations_run=ran,
    )


def _lock(conn: Connection) -> None:
    """The start-up lock, held until the transaction ends: concurrent starters queue here."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": schema.APPLICATION_ID})


def _write_stamp(conn: Connection, version: int) -> None:
    # The table name is ours and constant; the comment is a literal we built.
    conn.exec_driver_sql(f"COMMENT ON TABLE {STAMP_TABLE} IS '{stamp_text(version)}'")


def _create(engine: Engine, location: ServerLocation) -> bool:
    """Create the current schema in one transaction; False if another process did first.

    Everything that takes time on our side happens before the lock: importing the models
    and compiling their DDL (about a second). Processes starting at once then queue only for
    the server's run of the statements. The warm query has connected, so the engine's
    dialect knows the server's version.
    """
    statements = create_statements(engine.dialect)
    with engine.begin() as conn:
        _lock(conn)
        if _classify(conn, location.shown, schema.SCHEMA_VERSION) != "fresh":
            return False  # another process finished first
        for statement in statements:
            conn.exec_driver_sql(statement)
        _write_stamp(conn, schema.SCHEMA_VERSION)
    return True


def _migrate(
    engine: Engine,
    location: ServerLocation,
    migrations: "Sequence[Migration] | None",
    target: int,
) -> tuple[int, ...]:
    """Run each migration the schema lacks, in its own transaction with its stamp, locked."""
    from ..migrations import MIGRATIONS, operations  # only now: a current store needs none

    ran: list[int] = []
    for migration in sorted(
        MIGRATIONS if migrations is None else migrations, key=lambda m: m.version
    ):
        if migration.version > target:
            continue
        with engine.begin() as conn:
            _lock(conn)
            _classify(conn, location.shown, target)  # refuses what is not ours or newer
            stamp = read_stamp(conn)
            if stamp is None or stamp[1] >= migration.version:
                continue  # another process ran it meanwhile
            migration.upgrade(operations(conn))
            _write_stamp(conn, migration.version)
        ran.append(migration.version)
    return tuple(ran)


def verify_server(engine: Engine, location: ServerLocation) -> VerifyReport:
    """Compare the PostgreSQL schema of the store at ``location`` with the models, read-only.

    In one READ ONLY transaction at REPEATABLE READ, so that every catalog query reads the
    same snapshot and none can write. Types are compared by Alembic: PostgreSQL reports the
    native ones (``jsonb``, ``timestamptz``, ``uuid``, ``varchar(n)``) the models declare.
    """
    from sqlalchemy import inspect

    from .model_compare import compare_with_models

    read = {"postgresql_readonly": True, "isolation_level": "REPEATABLE READ"}
    try:
        with engine.connect().execution_options(**read) as conn:
            app_id, version = read_stamp(conn) or (0, 0)
            report = VerifyReport(
                path=None,
                url=location.shown,
                application_id=app_id,
                schema_version=version,
                journal_mode=None,
                quick_check=None,
            )
            tables = set(inspect(conn).get_table_names())
            compare_with_models(report, conn, tables, compare_types=True)
            report.foreign_triggers_and_views.extend(conn.execute(_TRIGGERS_AND_VIEWS).scalars())
    except DBAPIError as exc:
        raise as_store_error(exc, location, "verifying") from exc
    return report


# Each trigger, view and rule in the store's schema, as SQLite's verify names them. The
# schema makes none: whoever added one decides what the store's own writes do (a trigger or
# a rule can empty a table when an agent is renamed; a view can stand where a table was).
# Internal triggers are PostgreSQL's own (those enforcing foreign keys); "_RETURN" rules are
# how views are made, and are reported as the view.
_TRIGGERS_AND_VIEWS = text(
    "SELECT 'trigger ' || t.tgname || ' on ' || c.relname FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND NOT t.tgisinternal "
    "UNION ALL SELECT 'rule ' || r.rulename || ' on ' || r.tablename FROM pg_rules r "
    "WHERE r.schemaname = current_schema() AND r.rulename <> '_RETURN' "
    "UNION ALL SELECT 'view ' || c.relname FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm') ORDER BY 1"
)


_PLAIN_TABLES = text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
    "AND c.relname = ANY(:names) ORDER BY c.relname"
)


def _count_rows(conn: Connection, names: set[str]) -> dict[str, int]:
    """The rows of each of ``names`` that is a plain table, read in one statement.

    Not a view of the same name: counting it would run someone else's query. One statement
    reads one snapshot, so the counts agree with each other while agents write.
    """
    from sqlalchemy import func, select
    from sqlalchemy import table as table_clause

    tables = list(conn.execute(_PLAIN_TABLES, {"names": sorted(names)}).scalars())
    if not tables:
        return {}
    counts = [select(func.count()).select_from(table_clause(t)).scalar_subquery() for t in tables]
    found = conn.execute(select(*counts)).one()
    return dict(zip(tables, map(int, found), strict=True))


def status_of(engine: Engine, location: ServerLocation, *, rows: bool) -> StatusReport:
    """The stamp, the tables of the store's schema and their rows, read in one read-only
    transaction."""
    expected = schema.table_names()
    try:
        with engine.connect().execution_options(postgresql_readonly=True) as conn:
            app_id, version = read_stamp(conn) or (0, 0)
            tables = set(_existing_tables(conn))
            counts = _count_rows(conn, tables & expected) if rows else None
    except DBAPIError as exc:
        raise as_store_error(exc, location, "reading") from exc
    return StatusReport(
        path=None,
        url=location.shown,
        exists=True,
        tables=len(tables & expected),
        missing_tables=tuple(sorted(expected - tables)),
        other_tables=tuple(sorted(tables - expected)),
        application_id=app_id,
        schema_version=version,
        rows=counts,
    )


class PostgreSQLBackend(Backend):
    """A PostgreSQL database (a schema in it), through psycopg, sync and async."""

    name = "postgresql"
    label = "PostgreSQL"
    location: ServerLocation

    @property
    def shown(self) -> str:
        return self.location.shown

    def _make_engine(self) -> Engine:
        _require_psycopg()
        # hide_parameters: as the SQLite engines (backends/sqlite/engine.py), no driver error
        # text holds a row's values.
        return create_engine(
            self.location.url, connect_args=self._connect_args(), hide_parameters=True
        )

    def _make_async_engine(self) -> "AsyncEngine":
        from sqlalchemy.ext.asyncio import create_async_engine

        _require_psycopg()
        return create_async_engine(
            self.location.url, connect_args=self._connect_args(), hide_parameters=True
        )

    def _connect_args(self) -> dict[str, Any]:
        return _connect_args(self.location, self.busy_timeout)

    def readonly_options(self) -> dict[str, Any]:
        """A ``READ ONLY`` transaction, which refuses writes, at ``REPEATABLE READ``, so that
        it too reads one snapshot from start to end."""
        return {"postgresql_readonly": True, "isolation_level": "REPEATABLE READ"}

    def translate(self, exc: DBAPIError, doing: str, *, readonly: bool = False) -> BaseException:
        return from_postgres(exc, self.location, doing)  # a READ ONLY refusal has its own code

    def initialise(self) -> InitReport:
        return initialise(self.engine, self.location)

    def verify(self) -> VerifyReport:
        return verify_server(self.engine, self.location)

    def status(self, *, rows: bool = False) -> StatusReport:
        return status_of(self.engine, self.location, rows=rows)

    @contextmanager
    def copy_source(self, tables: "Sequence[Table]") -> Iterator[CopySource]:
        """A read-only snapshot of the schema; it must be a stamped, current store."""
        from sqlalchemy import select

        where = self.location.shown
        read = self.engine.execution_options(**self.readonly_options())
        try:
            conn = read.connect()
            try:
                if read_stamp(conn) is None:
                    raise CopyError(
                        f"the source {where} is not a tmws_store store (its schema has no "
                        "stamp): there is nothing to copy, and nothing was changed."
                    )
                # Raises for another program's stamp, a newer or an older schema version.
                _classify(conn, where, schema.SCHEMA_VERSION)
            except BaseException:
                conn.close()
                raise
        except DBAPIError as exc:
            raise as_store_error(exc, self.location, "reading") from exc
        reads: dict[str, Any] = {table.name: select(table) for table in tables}
        try:
            yield CopySource(conn, reads, lambda exc: self.known_error(exc, "reading"))
        finally:
            conn.close()
