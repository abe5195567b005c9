"""SQLAlchemy engines on a store file, sync (sqlite3) and async (aiosqlite).

Every connection gets the same settings: foreign keys enforced, a busy timeout, schema
functions untrusted (a crafted file's views or triggers cannot call SQL functions), and
``synchronous=NORMAL`` (safe in WAL mode). We also take control of BEGIN: Python's sqlite3
driver otherwise begins transactions lazily and runs DDL in autocommit. Write transactions
start with ``BEGIN IMMEDIATE``, taking the write lock up front: two readers that both try to
upgrade to writers would otherwise make SQLite fail one of them at once, without waiting.
Read-only sessions use a plain deferred ``BEGIN`` with ``PRAGMA query_only`` on, so that
SQLite refuses their writes (``SQLITE_READONLY``) as PostgreSQL refuses a read-only one's.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.ext.asyncio import AsyncEngine

    from ...encryption import DatabaseKey

__all__ = ["BEGIN_OPTION", "connection_pragmas", "make_async_engine", "make_sync_engine"]

# Execution option naming the BEGIN flavour of a connection: "IMMEDIATE" (default) or "DEFERRED".
# A DEFERRED transaction is a read-only one: it runs with PRAGMA query_only on.
BEGIN_OPTION = "tmws_begin"

# Key in a connection's ``info`` (kept with the DBAPI connection while it is pooled, cleared
# if it is replaced): whether PRAGMA query_only is on there now.
_QUERY_ONLY = "tmws_query_only"


def connection_pragmas(busy_timeout: float) -> tuple[str, ...]:
    """The PRAGMAs run on every new connection, in order."""
    return (
        f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}",
        "PRAGMA foreign_keys = ON",
        "PRAGMA trusted_schema = OFF",
        "PRAGMA synchronous = NORMAL",
    )


def _install_events(engine: Engine, busy_timeout: float) -> None:
    pragmas = connection_pragmas(busy_timeout)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # None = the driver never issues BEGIN by itself; _on_begin does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
        _set_query_only(conn, mode == "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _set_query_only(conn: Connection, on: bool) -> None:
    """Turn PRAGMA query_only on or off for the transaction about to begin on ``conn``.

    Set at every BEGIN rather than undone when a transaction ends: the pool hands the
    connection of a read-only session to the next session, which may write, and an end that
    never ran (a lost connection, a cancelled task) must not leave it refusing writes. Only
    a change is sent: write after write costs no extra statement.
    """
    if conn.info.get(_QUERY_ONLY, False) is not on:
        conn.exec_driver_sql(f"PRAGMA query_only = {'ON' if on else 'OFF'}")
        conn.info[_QUERY_ONLY] = on


def _keyed_creator(
    path: Path, key: "DatabaseKey", busy_timeout: float
) -> "Callable[[], sqlite3.Connection]":
    """Connections to an encrypted file, keyed by ``connection.open_database`` (SQLCipher's,
    raising sqlite3's errors, so the sqlite dialect and aiosqlite take them as their own)."""
    from .connection import open_database

    def creator() -> "sqlite3.Connection":
        return open_database(path, key, busy_timeout=busy_timeout, check_same_thread=False)

    return creator


def make_sync_engine(
    path: Path, *, busy_timeout: float, key: "DatabaseKey | None" = None
) -> Engine:
    """An engine on ``path`` with the store's connection settings (keyed with ``key``)."""
    options: dict[str, Any] = {}
    if key is not None:
        options["creator"] = _keyed_creator(path, key, busy_timeout)
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
        # A session waiting for one of the pool's connections waits as long as for a lock
        # (SQLAlchemy's own default is 30 s, whatever busy_timeout says).
        pool_timeout=busy_timeout,
        # A driver error met inside a session block (a flush) reaches the caller before the
        # block can translate it: its text must not hold the row's values (a password hash).
        hide_parameters=True,
        **options,
    )
    _install_events(engine, busy_timeout)
    return engine


def make_async_engine(
    path: Path, *, busy_timeout: float, key: "DatabaseKey | None" = None
) -> "AsyncEngine":
    """An aiosqlite engine on ``path``; imported only when an async session is first used.

    An encrypted file's connections come from the sync engine's creator, run on aiosqlite's
    own thread (``aiosqlite.Connection`` takes a connector).
    """
    from sqlalchemy.ext.asyncio import create_async_engine

    options: dict[str, Any] = {}
    if key is not None:
        import aiosqlite

        creator = _keyed_creator(path, key, busy_timeout)

        async def async_creator() -> aiosqlite.Connection:
            return await aiosqlite.Connection(creator, iter_chunk_size=64)

        options["async_creator"] = async_creator
    engine = create_async_engine(
        URL.create("sqlite+aiosqlite", database=str(path)),
        connect_args={"timeout": busy_timeout},
        pool_timeout=busy_timeout,  # as the sync engine's
        hide_parameters=True,
        **options,
    )
    _install_events(engine.sync_engine, busy_timeout)
    return engine
