"""The exceptions tmws_store raises; all derive from ``StoreError``.

Each message names the store (the file, or the PostgreSQL URL without its password) and the
table or column where there is one, says what was found and what to do. Whenever one of these
is raised at start-up, the store was left as it was. Invalid data raises Pydantic's
``ValidationError`` instead, naming the model and field. Each back end turns its driver's
errors into these in one function of its own (``backends``).
"""

from pathlib import Path

__all__ = [
    "CopyError",
    "DatabaseLockedError",
    "ForeignDatabaseError",
    "MigrationError",
    "NewerSchemaError",
    "NotADatabaseError",
    "ReadOnlyStoreError",
    "ServerUnavailableError",
    "StorageFullError",
    "StoreError",
    "UnsupportedURLError",
]


class StoreError(Exception):
    """Base class of every tmws_store error."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class NotADatabaseError(StoreError):
    """Not a usable database: a directory, an unreadable file, not SQLite, or a damaged one
    (truncated, a page overwritten: SQLite's corruption errors, ``quick_check``)."""


class ForeignDatabaseError(StoreError):
    """A database of another program: another stamp, or tables, views or triggers not ours."""


class NewerSchemaError(StoreError):
    """The store was written by a newer tmws_store, whose schema this version cannot know."""


class MigrationError(StoreError):
    """Completing or upgrading the store is impossible without losing data; nothing changed."""


class ReadOnlyStoreError(StoreError):
    """The store would have to write, but the file, its folder or the database role cannot."""


class StorageFullError(StoreError):
    """The disk (or the file size limit) is full; the transaction was rolled back.

    Raised for the file or database that was being written: the destination of a copy or
    a backup, not its source.
    """


class DatabaseLockedError(StoreError):
    """Another connection, in this process or another, held a lock past the busy timeout."""


class ServerUnavailableError(StoreError):
    """The PostgreSQL server did not serve the session; nothing was changed.

    No connection could be opened (the server is down or unreachable, has no connection
    slot free, or refused the role or database), or the server ran short of memory or hit
    one of its configured limits. Not a full disk: that is ``StorageFullError``. The
    message carries the server's own reason.
    """


class UnsupportedURLError(StoreError):
    """A database URL this version cannot open: neither a SQLite file nor PostgreSQL."""


class CopyError(StoreError):
    """A copy between two stores that could not be finished; the destination was left as it was."""
