"""The exceptions tmws_store raises; all derive from ``StoreError``.

Each message names the file (and the table or column, where there is one), says what was
found and what to do. Whenever one of these is raised at start-up, the file was left as it
was. Invalid data raises Pydantic's ``ValidationError`` instead, naming the model and field.
"""

from pathlib import Path

__all__ = [
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
    """The path is not a usable SQLite file: a directory, an unreadable file, or not SQLite."""


class ForeignDatabaseError(StoreError):
    """A SQLite file that belongs to another program: another application_id or other tables."""


class NewerSchemaError(StoreError):
    """The file was written by a newer tmws_store, whose schema this version cannot know."""


class MigrationError(StoreError):
    """Completing or upgrading the file is impossible without losing data; nothing was changed."""


class ReadOnlyStoreError(StoreError):
    """The store would have to write, but the file or its directory is read-only."""


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
    """A database URL this version cannot open (only SQLite files are supported)."""


def from_sqlite(exc: BaseException, path: Path | str, doing: str) -> StoreError | None:
    """The tmws_store error for a sqlite3 error met while ``doing`` something, or None.

    Classified by SQLite's own error name (``sqlite_errorname``), never by message text.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    where = f"{doing} {path}"
    if name == "SQLITE_NOTADB":
        return NotADatabaseError(
            f"{path} is not a SQLite database (or is encrypted or corrupt); tmws_store left it "
            "untouched. Move it away or point TMWS_HOME / TMWS_DATABASE_URL elsewhere.",
            path=path,
        )
    if name == "SQLITE_FULL" or (name.startswith("SQLITE_IOERR") and "full" in str(exc)):
        return StorageFullError(
            f"the disk is full while {where}; the transaction was rolled back and the file "
            "still holds its last committed state. Free some space and try again.",
            path=path,
        )
    if name.startswith("SQLITE_IOERR"):
        return StorageFullError(
            f"disk I/O error while {where} ({exc}): out of space, over a file size limit or "
            "a failing disk; the transaction was rolled back. Check the disk and try again.",
            path=path,
        )
    if name.startswith("SQLITE_READONLY"):
        return ReadOnlyStoreError(
            f"cannot write while {where}: the file or its folder is read-only ({exc}). "
            "Make both writable by this user.",
            path=path,
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return NotADatabaseError(
            f"cannot open {path} ({exc}): check that it is a readable file and that its folder "
            "exists and is writable.",
            path=path,
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DatabaseLockedError(
            f"{path} stayed locked by another connection (in this process or another) for "
            f"longer than the busy timeout while {doing} it; nothing was changed. Try again, "
            "or raise busy_timeout.",
            path=path,
        )
    return None
