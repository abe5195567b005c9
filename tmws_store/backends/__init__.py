"""The back ends: one class per kind of database, and the one place that picks it.

``Store`` asks ``backend_for(location)`` once, in its ``__init__``, and from then on calls the
``Backend`` it got; neither it, the CLI nor ``copy`` asks which kind of database it is. A
back end makes the engines, brings the schema current (``initialise``), checks it
(``verify``, ``status``), turns its driver's errors into ``StoreError`` subclasses
(``translate``), says how a read-only transaction begins, and names itself in messages
without a password (``shown``). What it cannot do (a PostgreSQL database has no file to back
up) raises a ``StoreError`` saying so.

A new back end is one module with a ``Backend`` subclass, registered in ``_REGISTRY`` for the
location type that ``paths.resolve_location`` makes for it. The modules are imported only
when a store of their kind is first made: a SQLite start-up never imports psycopg.
"""

import sys
import weakref
from _thread import allocate_lock  # threading's lock, without importing threading at start-up
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..errors import StoreError
from ..paths import Location, ServerLocation

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence

    from sqlalchemy import Connection, Engine, Select, Table
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ..reports import InitReport, StatusReport, VerifyReport

__all__ = ["Backend", "BackendName", "CopySource", "Translate", "backend_for", "named_errors"]

BackendName = Literal["sqlite", "postgresql"]

# Turns a driver error into the StoreError that names its store, or None when the error is
# not one of those (a row the database refused, say).
Translate = Callable[["DBAPIError"], StoreError | None]


def _running_loop() -> "asyncio.AbstractEventLoop | None":
    """The running event loop, or None outside one; asyncio only if something imported it."""
    asyncio_module = sys.modules.get("asyncio")
    if asyncio_module is None:
        return None
    try:
        loop: asyncio.AbstractEventLoop = asyncio_module.get_running_loop()
    except RuntimeError:
        return None
    return loop


@contextmanager
def named_errors(translate: Translate) -> Iterator[None]:
    """Raise a driver error that ``translate`` knows as its StoreError; others pass as they are."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        found = translate(exc)
        if found is None:
            raise
        raise found from exc


@dataclass
class CopySource:
    """A store opened as the source of a copy: one read-only transaction on ``conn``.

    ``reads`` gives, per table name, the query whose rows are that table's rows in the
    current schema (an old TMWS file's missing columns filled in as adoption would fill
    them), or None for a table the source lacks. ``confirm_unchanged`` raises if the source
    changed under a read that could not hold a snapshot of it.
    """

    conn: "Connection"
    reads: "dict[str, Select[Any] | None]"
    translate: Translate
    confirm_unchanged: Callable[[], None] = lambda: None


class Backend(ABC):
    """One kind of database behind a ``Store``; see the module docstring."""

    name: ClassVar[BackendName]
    label: ClassVar[str]  # the name for people: "SQLite", "PostgreSQL"

    def __init__(self, location: Any, *, busy_timeout: float) -> None:
        self.location = location
        self.busy_timeout = busy_timeout
        self._engine: Engine | None = None
        # Threads opening their first sessions at once must share one engine: each making its
        # own, all but the last would be left out of close(), their connections open.
        self._engines_lock = allocate_lock()
        self._async_engine: AsyncEngine | None = None
        # The event loop the async engine serves (weakly: a finished loop is let go), and the
        # engines of earlier loops, still to be disposed (see async_engine).
        self._async_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._retired_async_engines: list[AsyncEngine] = []

    # --- naming ---------------------------------------------------------------------------

    @property
    @abstractmethod
    def shown(self) -> str:
        """How the store is named in messages and reports: a path, or a URL without password."""

    @property
    def path(self) -> Path:
        """The database file; a back end without one raises ``StoreError``."""
        raise StoreError(f"{self.shown} is a {self.label} store: it has no file")

    # --- engines --------------------------------------------------------------------------

    @property
    def engine(self) -> "Engine":
        """The sync SQLAlchemy engine, made on first use."""
        engine = self._engine
        if engine is None:
            with self._engines_lock:
                if self._engine is None:
                    self._engine = self._make_engine()
                engine = self._engine
        return engine

    @property
    def async_engine(self) -> "AsyncEngine":
        """The async SQLAlchemy engine of the running event loop, made on first use in it.

        SQLAlchemy's async pool binds itself to the loop of its first wait for a connection;
        in a later loop (pytest-asyncio gives each test its own, asyncio.run() makes a new
        one) it then fails with "bound to a different event loop". So a loop other than the
        one the engine serves gets a new engine; the old one is kept for
        ``dispose_retired_async_engines`` (the next async session's) and ``take_engines``.
        """
        loop = _running_loop()
        with self._engines_lock:
            engine = self._async_engine
            served = self._async_loop() if self._async_loop is not None else None
            if engine is not None and loop is not None and served is not loop:
                if self._async_loop is not None:  # it served another loop, or a finished one
                    self._retired_async_engines.append(engine)
                    engine = None
                self._async_loop = weakref.ref(loop)  # (one made outside any loop: taken)
            if engine is None:
                engine = self._async_engine = self._make_async_engine()
                self._async_loop = weakref.ref(loop) if loop is not None else None
            return engine

    async def dispose_retired_async_engines(self) -> None:
        """Close the connections of the engines of earlier event loops, in the running one
        (aiosqlite closes a connection from any loop)."""
        if not self._retired_async_engines:
            return
        with self._engines_lock:
            retired, self._retired_async_engines = self._retired_async_engines, []
        for engine in retired:
            await engine.dispose()

    @property
    def has_async_engine(self) -> bool:
        return self._async_engine is not None or bool(self._retired_async_engines)

    def take_engines(self) -> "tuple[Engine | None, list[AsyncEngine]]":
        """Hand over the engines made so far, for disposal; the next use makes new ones."""
        with self._engines_lock:
            engine, async_engines = self._engine, self._retired_async_engines
            if self._async_engine is not None:
                async_engines.append(self._async_engine)
            self._engine = self._async_engine = self._async_loop = None
            self._retired_async_engines = []
        return engine, async_engines

    @abstractmethod
    def _make_engine(self) -> "Engine":
        """A new sync SQLAlchemy engine with the store's connection settings."""

    @abstractmethod
    def _make_async_engine(self) -> "AsyncEngine":
        """A new async SQLAlchemy engine with the same settings."""

    @abstractmethod
    def readonly_options(self) -> dict[str, Any]:
        """Execution options under which a transaction begins read-only (writes refused)."""

    @abstractmethod
    def translate(self, exc: "DBAPIError", doing: str, *, readonly: bool = False) -> BaseException:
        """The ``StoreError`` for a driver error met while ``doing``; ``exc`` if unclassified.

        ``readonly``: the error ended a session opened with ``readonly=True``.
        """

    def known_error(self, exc: "DBAPIError", doing: str) -> StoreError | None:
        """``translate``, when it finds a ``StoreError``; None for an unclassified error."""
        found = self.translate(exc, doing)
        return found if isinstance(found, StoreError) else None

    # --- schema ---------------------------------------------------------------------------

    @abstractmethod
    def initialise(self) -> "InitReport":
        """Create, complete, upgrade or confirm the schema; refuse what is not ours, untouched."""

    @abstractmethod
    def verify(self) -> "VerifyReport":
        """A read-only comparison of the database with the models."""

    @abstractmethod
    def status(self, *, rows: bool = False) -> "StatusReport":
        """A quick read-only look: tables present, stamp, and what the back end can tell;
        with ``rows``, the rows of each table too (which reads every table)."""

    @abstractmethod
    def copy_source(self, tables: "Sequence[Table]") -> AbstractContextManager[CopySource]:
        """Open the store as a copy's source, read-only, never creating or changing it.

        ``tables`` are the tables to read (the schema's, in the current version).
        """

    def refuse_if_holding_rows(self, tables: "Sequence[Table]") -> None:
        """Raise ``CopyError`` if the store, as a copy's destination, already holds rows,
        before ``init()`` could change it. Back ends whose ``init()`` changes nothing of a
        store that has rows need not look (the copy checks again after ``init()``)."""
        return None

    def backup(
        self,
        dest: Path | None,
        *,
        progress: "Callable[[int, int], None] | None" = None,
    ) -> Path:
        """A consistent copy of the database, written beside it (``dest`` None), into the
        folder ``dest``, or as the new file ``dest``. Only back ends with a file can."""
        raise StoreError(
            f"{self.shown} is a {self.label} store: back it up with the server's own tools "
            "(pg_dump), or copy it into a file with `tmws-store copy`"
        )


# Location type -> (module, class) of its back end, imported on first use.
_REGISTRY: dict[type, tuple[str, str]] = {
    Location: (".sqlite", "SQLiteBackend"),
    ServerLocation: (".postgresql", "PostgreSQLBackend"),
}


def backend_for(location: Location | ServerLocation, *, busy_timeout: float) -> Backend:
    """The back end for ``location``: the one decision of which kind of database it is."""
    module_name, class_name = _REGISTRY[type(location)]
    backend_class: type[Backend] = getattr(import_module(module_name, __name__), class_name)
    return backend_class(location, busy_timeout=busy_timeout)
