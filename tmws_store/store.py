"""``Store``: the one object a program needs to use the TMWS database.

Example::

    from tmws_store import Agent, Store

    with Store() as store:  # ~/.tmws/data/tmws.db, or TMWS_HOME / TMWS_DATABASE_URL
        store.init()  # create, complete or check: cheap when current
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
        # committed here; rolled back instead if the block raised
"""

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .backends import BackendName, backend_for
from .errors import DatabaseLockedError, StoreError
from .paths import Location, ServerLocation, absolute_path, resolve_location
from .reports import InitReport

# SQLAlchemy, sqlmodel and pydantic are imported by the methods that use them, never here: a
# process that only runs init() on a current file (the CLI, a health check) needs none of them,
# and importing them is nearly all of its start-up time (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from sqlalchemy import Engine
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlmodel import Session
    from sqlmodel.ext.asyncio.session import AsyncSession

    from .models import TMWSModel
    from .reports import StatusReport, VerifyReport

__all__ = ["DEFAULT_BUSY_TIMEOUT", "Store"]

DEFAULT_BUSY_TIMEOUT = 10.0  # seconds a transaction waits for another process's write lock
# The longest wait SQLite can keep: 2**31 - 1 milliseconds, in whole seconds.
MAX_BUSY_TIMEOUT = (2**31 - 1) // 1000


async def _dispose_all(engines: "list[AsyncEngine]") -> None:
    for engine in engines:
        await engine.dispose()


class Store:
    """The TMWS database: where it is, its schema, and sessions on it.

    ``Store(path=None, *, url=None, busy_timeout=10.0)``. The database is, in order: ``path``,
    ``url``, ``TMWS_DATABASE_URL``, ``$TMWS_HOME/data/tmws.db``, ``~/.tmws/data/tmws.db``.
    A URL is ``sqlite:////abs/path.db`` for a file or ``postgresql+psycopg://user@host/db``
    for a PostgreSQL database (needs psycopg: the ``postgres`` extra). ``encrypted=True`` (or
    ``TMWS_DB_ENCRYPTION_ENABLED=true`` when it is None) encrypts the file with SQLCipher, keyed
    from ``$TMWS_HOME/secrets/db_encryption.key``, or with ``key`` when given (the
    ``encryption`` extra; see ``tmws_store.encryption``). Nothing is
    opened or created until ``init()`` or the first session. Close it with ``close()`` or
    use it in a ``with`` block.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        encrypted: bool | None = None,
        key: str | bytes | None = None,
    ) -> None:
        # Not "< 0" alone: NaN passes it, and SQLite keeps the wait in milliseconds in a C
        # int, so a longer one (inf included) would fail at the first connection or wrap.
        if not 0 <= busy_timeout <= MAX_BUSY_TIMEOUT:
            raise ValueError(
                f"busy_timeout must be from 0 to {MAX_BUSY_TIMEOUT:,} seconds (about 24 days), "
                f"not {busy_timeout!r}"
            )
        from .encryption import keyed_location

        self.location: Location | ServerLocation = keyed_location(
            resolve_location(path, url=url), encrypted=encrypted, key=key
        )
        self.busy_timeout = busy_timeout
        self._backend = backend_for(self.location, busy_timeout=busy_timeout)
        self._ready = False

    @property
    def backend(self) -> BackendName:
        """``"sqlite"`` for a file, ``"postgresql"`` for a PostgreSQL database."""
        return self._backend.name

    @property
    def path(self) -> Path:
        """The database file; a PostgreSQL store has none and raises ``StoreError``."""
        return self._backend.path

    @property
    def where(self) -> str:
        """The file's path, or the PostgreSQL URL without its password: for messages."""
        return self._backend.shown

    def __repr__(self) -> str:
        return f"<Store {self.backend} {self.where}>"

    # --- schema -------------------------------------------------------------------------

    def init(self) -> InitReport:
        """Create the schema, complete an older or partial file, or confirm it is current.

        Cheap when current (two header reads of a file, one query on PostgreSQL). Raises a
        ``StoreError`` subclass, leaving the database untouched, for one that is not ours or
        is from a newer version.
        """
        report = self._backend.initialise()
        self._ready = True
        return report

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.init()

    def verify(self) -> "VerifyReport":
        """A read-only check of the file (or PostgreSQL schema) against the models; never writes."""
        return self._backend.verify()

    def status(self, *, rows: bool = False) -> "StatusReport":
        """A quick read-only look (tables, stamp, and the file's size, mode and backups);
        ``rows=True`` counts each table's rows too, which reads every table."""
        return self._backend.status(rows=rows)

    def backup(
        self,
        dest: str | os.PathLike[str] | None = None,
        *,
        progress: "Callable[[int, int], None] | None" = None,
    ) -> Path:
        """A consistent copy of the store file as it is now, even while others write.

        ``dest`` is a new file, or a folder to put the copy in; by default the copy lies
        beside the file, named after it with the time. Nothing is created, completed or
        changed (an old TMWS file is copied before anything adopts it). SQLite only: a
        PostgreSQL store raises ``StoreError`` pointing to pg_dump or ``tmws-store copy``.
        """
        if dest is not None and not os.fspath(dest):
            # Path("") is the current folder: not what an empty (unset) name meant.
            raise StoreError("the backup destination is empty; give a file or folder name")
        # "~/copy.db" is the user's folder, as for the store's own path; relative, it is made
        # absolute, so the path returned (and printed) says where the copy is.
        where = None if dest is None else absolute_path(Path(dest))
        return self._backend.backup(where, progress=progress)

    def insert_many(
        self, model: "type[TMWSModel]", rows: "Iterable[Mapping[str, Any] | TMWSModel]"
    ) -> int:
        """The bulk path: validate every row, then insert all in one transaction.

        For thousands of rows this is several times faster than ``session.add_all``. Rows
        are dicts (or model instances) keyed by attribute name; returns how many were
        inserted. A bad row raises ``ValidationError`` before anything is written.
        """
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        from .bulk import insert_many

        self._ensure_ready()
        try:
            return insert_many(self.engine, model, rows)
        except DBAPIError as exc:
            error = self._translate(exc)
            raise error from None  # see _translate
        except PoolTimeout:
            raise self._no_free_connection() from None

    # --- engines and sessions -----------------------------------------------------------

    @property
    def engine(self) -> "Engine":
        """The sync SQLAlchemy engine, sqlite3 or psycopg (created on first use)."""
        return self._backend.engine

    @property
    def async_engine(self) -> "AsyncEngine":
        """The async SQLAlchemy engine, aiosqlite or psycopg's async mode (created on first use)."""
        return self._backend.async_engine

    def readonly_options(self) -> dict[str, Any]:
        """Execution options that begin a read-only transaction on this store's engines."""
        return self._backend.readonly_options()

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator["Session"]:
        """A sqlmodel ``Session`` that commits when the block ends and rolls back on error.

        On SQLite, write transactions take the write lock when they begin (``BEGIN
        IMMEDIATE``), so they never deadlock; ``readonly=True`` begins a plain read transaction
        instead (a read-only one on PostgreSQL), in which any write raises
        ``ReadOnlyStoreError`` and nothing is written. Objects stay usable after the block (no
        expiry on commit).
        """
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout
        from sqlmodel import Session

        self._ensure_ready()
        bind: Any = self.engine
        if readonly:
            bind = bind.execution_options(**self.readonly_options())
        with Session(bind, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except DBAPIError as exc:
                session.rollback()
                error = self._translate(exc, readonly=readonly)
                raise error from None  # see _translate
            except PoolTimeout:
                session.rollback()
                raise self._no_free_connection() from None
            except BaseException:
                session.rollback()
                raise

    @asynccontextmanager
    async def async_session(self, *, readonly: bool = False) -> AsyncIterator["AsyncSession"]:
        """The async twin of ``session()``, on aiosqlite (psycopg's async mode on PostgreSQL)."""
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout
        from sqlmodel.ext.asyncio.session import AsyncSession

        self._ensure_ready()
        bind: Any = self.async_engine
        await self._backend.dispose_retired_async_engines()  # those of earlier event loops
        if readonly:
            bind = bind.execution_options(**self.readonly_options())
        async with AsyncSession(bind, expire_on_commit=False) as session:
            try:
                yield session
                await session.commit()
            except DBAPIError as exc:
                await session.rollback()
                error = self._translate(exc, readonly=readonly)
                raise error from None  # see _translate
            except PoolTimeout:
                await session.rollback()
                raise self._no_free_connection() from None
            except BaseException:
                await session.rollback()
                raise

    def _translate(self, exc: "DBAPIError", *, readonly: bool = False) -> BaseException:
        """The StoreError ``exc`` means. Raised ``from None``: the driver's error holds the
        statement and the row's values (a password's hash, an MFA secret), which a
        traceback would print under it as its cause; it stays reachable as ``__context__``."""
        return self._backend.translate(exc, "writing to", readonly=readonly)

    def _no_free_connection(self) -> DatabaseLockedError:
        """For SQLAlchemy's pool timing out: every connection of this store (the pool keeps
        up to 15) was held by an open session for all of ``busy_timeout``."""
        return DatabaseLockedError(
            f"{self.where}: no free connection within busy_timeout ({self.busy_timeout:g} s): "
            "all of this store's connections are held by open sessions; end sessions "
            "sooner, or raise busy_timeout"
        )

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection of both engines. The store can be used again afterwards."""
        if self._backend.has_async_engine:
            # The async pool holds aiosqlite connections, each with a thread that keeps the
            # interpreter alive until closed; closing them needs an event loop of our own.
            import asyncio

            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                raise RuntimeError(
                    "Store.close() called inside a running event loop while async connections "
                    "are open; use `await store.aclose()` (or `async with Store(...)`)"
                )
        engine, async_engines = self._backend.take_engines()
        if engine is not None:
            # The pool's idle connections closed. Not engine.dispose(), which also builds a
            # new pool for an engine this store lets go of (a third of a fixture's close).
            engine.pool.dispose()
        if async_engines:
            import asyncio

            asyncio.run(_dispose_all(async_engines))

    async def aclose(self) -> None:
        """``close()`` for code inside an event loop."""
        engine, async_engines = self._backend.take_engines()
        await _dispose_all(async_engines)
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
