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

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from .backup import Progress, backup_to
from .engine import async_engine_for, engine_for, readonly_options
from .errors import ReadOnlyStoreError, StoreError, from_sqlite
from .paths import Location, ServerLocation, resolve_location
from .startup import InitReport, initialise

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlmodel.ext.asyncio.session import AsyncSession

    from .models import TMWSModel
    from .verify import VerifyReport

__all__ = ["DEFAULT_BUSY_TIMEOUT", "Store"]

DEFAULT_BUSY_TIMEOUT = 10.0  # seconds a transaction waits for another process's write lock


class Store:
    """The TMWS database: where it is, its schema, and sessions on it.

    ``Store(path=None, *, url=None, busy_timeout=10.0)``. The database is, in order: ``path``,
    ``url``, ``TMWS_DATABASE_URL``, ``$TMWS_HOME/data/tmws.db``, ``~/.tmws/data/tmws.db``.
    A URL is ``sqlite:////abs/path.db`` for a file or ``postgresql+psycopg://user@host/db``
    for a PostgreSQL database (needs ``pip install 'tmws-store[postgres]'``). Nothing is
    opened or created until ``init()`` or the first session. Close it with ``close()`` or
    use it in a ``with`` block.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        if busy_timeout < 0:
            raise ValueError("busy_timeout must be zero or more seconds")
        self.location: Location | ServerLocation = resolve_location(path, url=url)
        self.busy_timeout = busy_timeout
        self._engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._ready = False

    @property
    def backend(self) -> str:
        """``"sqlite"`` for a file, ``"postgresql"`` for a PostgreSQL database."""
        return "postgresql" if isinstance(self.location, ServerLocation) else "sqlite"

    @property
    def path(self) -> Path:
        """The database file; a PostgreSQL store has none and raises ``StoreError``."""
        return self._file("has no file").path

    @property
    def where(self) -> str:
        """The file's path, or the PostgreSQL URL without its password: for messages."""
        if isinstance(self.location, ServerLocation):
            return self.location.shown
        return str(self.location.path)

    def __repr__(self) -> str:
        if isinstance(self.location, ServerLocation):
            return f"Store(url={self.where!r})"
        return f"Store({self.where!r})"

    def _file(self, doing: str) -> Location:
        """The file's location, or a clear error for a PostgreSQL store that cannot do this."""
        if isinstance(self.location, ServerLocation):
            raise StoreError(f"{self!r} is a PostgreSQL store: it {doing}")
        return self.location

    # --- schema -------------------------------------------------------------------------

    def init(self) -> InitReport:
        """Create the schema, complete an older or partial file, or confirm it is current.

        Cheap when current (two header reads of a file, one query on PostgreSQL). Raises a
        ``StoreError`` subclass, leaving the database untouched, for one that is not ours or
        is from a newer version.
        """
        if isinstance(self.location, ServerLocation):
            from . import postgres

            report = postgres.initialise(self.engine, self.location)
        else:
            report = initialise(self.location, busy_timeout=self.busy_timeout)
        self._ready = True
        return report

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.init()

    def verify(self) -> "VerifyReport":
        """A read-only check of the file (or PostgreSQL schema) against the models; never writes."""
        from .verify import verify_file, verify_server

        if isinstance(self.location, ServerLocation):
            return verify_server(self.engine, self.location)
        return verify_file(self.location.path, busy_timeout=self.busy_timeout)

    def backup(self, dest: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
        """A consistent copy of the database at ``dest`` (a new file), even while others write."""
        location = self._file("is backed up with pg_dump, or copied with `tmws-store copy`")
        self._ensure_ready()
        return backup_to(location.path, Path(dest), progress=progress)

    def insert_many(
        self, model: "type[TMWSModel]", rows: "Iterable[Mapping[str, Any] | TMWSModel]"
    ) -> int:
        """The bulk path: validate every row, then insert all in one transaction.

        For thousands of rows this is several times faster than ``session.add_all``. Rows
        are dicts (or model instances) keyed by attribute name; returns how many were
        inserted. A bad row raises ``ValidationError`` before anything is written.
        """
        from .bulk import insert_many

        self._ensure_ready()
        try:
            return insert_many(self.engine, model, rows)
        except DBAPIError as exc:
            raise self._translate(exc) from exc

    # --- engines and sessions -----------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The sync SQLAlchemy engine, sqlite3 or psycopg (created on first use)."""
        if self._engine is None:
            self._engine = engine_for(self.location, busy_timeout=self.busy_timeout)
        return self._engine

    @property
    def async_engine(self) -> "AsyncEngine":
        """The async SQLAlchemy engine, aiosqlite or psycopg's async mode (created on first use)."""
        if self._async_engine is None:
            self._async_engine = async_engine_for(self.location, busy_timeout=self.busy_timeout)
        return self._async_engine

    def readonly_options(self) -> dict[str, Any]:
        """Options that begin a read-only transaction (see ``engine.readonly_options``)."""
        return readonly_options(self.location)

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A sqlmodel ``Session`` that commits when the block ends and rolls back on error.

        On SQLite, write transactions take the write lock when they begin (``BEGIN
        IMMEDIATE``), so they never deadlock; ``readonly=True`` begins a plain read transaction
        instead (a read-only one on PostgreSQL), in which any write raises
        ``ReadOnlyStoreError`` and nothing is written. Objects stay usable after the block (no
        expiry on commit).
        """
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
                raise self._translate(exc, readonly=readonly) from exc
            except BaseException:
                session.rollback()
                raise

    @asynccontextmanager
    async def async_session(self, *, readonly: bool = False) -> AsyncIterator["AsyncSession"]:
        """The async twin of ``session()``, on aiosqlite (psycopg's async mode on PostgreSQL)."""
        from sqlmodel.ext.asyncio.session import AsyncSession

        self._ensure_ready()
        bind: Any = self.async_engine
        if readonly:
            bind = bind.execution_options(**self.readonly_options())
        async with AsyncSession(bind, expire_on_commit=False) as session:
            try:
                yield session
                await session.commit()
            except DBAPIError as exc:
                await session.rollback()
                raise self._translate(exc, readonly=readonly) from exc
            except BaseException:
                await session.rollback()
                raise

    def _translate(self, exc: DBAPIError, *, readonly: bool = False) -> BaseException:
        if isinstance(self.location, ServerLocation):
            from .postgres import from_postgres

            return from_postgres(exc, self.location, "writing to")
        if readonly and getattr(exc.orig, "sqlite_errorname", "") == "SQLITE_READONLY":
            # PRAGMA query_only refused it (see engine.py), not the file's permissions.
            return ReadOnlyStoreError(
                f"a read-only session on {self.where} tried to write; nothing was changed. "
                "Write in a session opened without readonly=True.",
                path=self.location.path,
            )
        return from_sqlite(exc.orig, self.location.path, "writing to") or exc

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection of both engines. The store can be used again afterwards."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._async_engine is not None:
            # The async pool holds aiosqlite connections, each with a thread that keeps the
            # interpreter alive until closed; closing them needs an event loop.
            import asyncio

            try:
                asyncio.get_running_loop()
            except RuntimeError:
                engine, self._async_engine = self._async_engine, None
                asyncio.run(engine.dispose())
            else:
                raise RuntimeError(
                    "Store.close() called inside a running event loop while async connections "
                    "are open; use `await store.aclose()` (or `async with Store(...)`)"
                ) from None

    async def aclose(self) -> None:
        """``close()`` for code inside an event loop."""
        if self._async_engine is not None:
            engine, self._async_engine = self._async_engine, None
            await engine.dispose()
        self.close()

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
