"""The exceptions tmws_store raises; all derive from ``StoreError``.

Each message names the store (the file, or the PostgreSQL URL without its password) and the
table or column where there is one, says what was found and what to do. Whenever one of these
is raised at start-up, the store was left as it was. Invalid data raises Pydantic's
``ValidationError`` instead, naming the model and field; a row that passes validation but
breaks a constraint of the database (a duplicate key, say) raises a ``ConstraintError``.
Each back end turns its driver's errors into these in one function of its own (``backends``).
"""

import errno
from pathlib import Path
from typing import ClassVar, Self

__all__ = [
    "CheckViolationError",
    "ConstraintError",
    "CopyError",
    "DatabaseLockedError",
    "EncryptedFileError",
    "ForeignDatabaseError",
    "ForeignKeyViolationError",
    "MigrationError",
    "NewerSchemaError",
    "NotADatabaseError",
    "NotNullViolationError",
    "PlainFileError",
    "ReadOnlyStoreError",
    "RelationshipNotLoadedError",
    "ServerUnavailableError",
    "StorageFullError",
    "StoreError",
    "UniqueViolationError",
    "UnsupportedURLError",
    "WrongKeyError",
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
    """The disk is full, the file size limit is reached, or the disk failed a write or a sync
    (an I/O error); the transaction was rolled back.

    Raised for the file or database that was being written: the destination of a copy or
    a backup, not its source.
    """


# What a full or failing disk says to a write or a sync: no space, over a quota, over the file
# size limit, or an I/O error.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def disk_error_class(exc: OSError) -> type[StoreError]:
    """``StorageFullError`` for an OS error of a full or failing disk, else ``StoreError``."""
    return StorageFullError if exc.errno in _DISK_ERRNOS else StoreError


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


class RelationshipNotLoadedError(StoreError):
    """A relationship that the query did not ask for was read, such as ``agent.tasks`` after a
    plain ``select(Agent)``; nothing was loaded. Ask for it with
    ``select(Agent).options(selectinload(Agent.tasks))``, in sync and async sessions alike."""


class CopyError(StoreError):
    """A copy between two stores that could not be finished; the destination was left as it was."""


class WrongKeyError(StoreError):
    """An encrypted store file that the key given cannot open: another key, or no key file.

    The message names the key file tried (or says the key came from the caller), never the
    key itself.
    """


class EncryptedFileError(NotADatabaseError):
    """A file that looks encrypted (no SQLite header) opened by a store without encryption."""


class PlainFileError(StoreError):
    """A plain SQLite file opened by a store with encryption on; ``tmws-store encrypt`` it."""


class ConstraintError(StoreError):
    """The database refused a row for one of its constraints; the transaction was rolled back.

    ``table`` and ``columns`` say where, as far as the database tells (SQLite does not name
    the columns of a foreign key); ``constraint`` is the constraint's (or index's) name when
    known. The message never holds the row's values nor the statement: they may be secrets.
    """

    # What the message calls the constraint, and what its failure means; set per subclass.
    rule: ClassVar[str] = "a"
    meaning: ClassVar[str] = "the database refused the row"

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        columns: tuple[str, ...] = (),
        constraint: str | None = None,
        path: Path | str | None = None,
    ) -> None:
        super().__init__(message, path=path)
        self.table = table
        self.columns = columns
        self.constraint = constraint

    @classmethod
    def refused(
        cls,
        *,
        where: str,
        doing: str,
        table: str | None,
        columns: tuple[str, ...] = (),
        constraint: str | None = None,
        path: Path | str | None = None,
    ) -> Self:
        """The error with the one message both back ends give: the store, table, columns and
        constraint, never a value."""
        if len(columns) == 1 and table:
            on = f" on {table}.{columns[0]}"
        elif table:
            on = f" on {table}" + (f" ({', '.join(columns)})" if columns else "")
        else:
            on = ""
        named = f" {constraint}" if constraint else ""
        return cls(
            f"{cls.rule} constraint{named}{on} refused a row while {doing} {where}: "
            f"{cls.meaning}; the transaction was rolled back and nothing was written.",
            table=table,
            columns=columns,
            constraint=constraint,
            path=path,
        )


class UniqueViolationError(ConstraintError):
    """Another row already holds the value of a unique column (or primary key)."""

    rule: ClassVar[str] = "UNIQUE"
    meaning: ClassVar[str] = "another row already holds the same value"


class ForeignKeyViolationError(ConstraintError):
    """A row refers to a row that does not exist, or a row still referred to was removed."""

    rule: ClassVar[str] = "FOREIGN KEY"
    meaning: ClassVar[str] = (
        "the row refers to a row that does not exist, or a row still referred to was deleted"
    )


class NotNullViolationError(ConstraintError):
    """A ``NOT NULL`` column was given NULL."""

    rule: ClassVar[str] = "NOT NULL"
    meaning: ClassVar[str] = "the column was given no value (NULL)"


class CheckViolationError(ConstraintError):
    """A row failed one of the table's ``CHECK`` constraints."""

    rule: ClassVar[str] = "CHECK"
    meaning: ClassVar[str] = "the row's values do not satisfy it"
