"""The one SQLite access layer of the file back end: opening a file, reading its identity and
its schema objects, and turning sqlite3's errors into ``StoreError`` subclasses.

Start-up, completion, verify, status and backup all go through these functions, so each of
these facts is decided in one place: which PRAGMAs identify a file, which ``sqlite_master``
rows are schema objects, and what each SQLite error means to a user.
"""

import os
import re
import sqlite3
import struct
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ...errors import (
    CheckViolationError,
    ConstraintError,
    DatabaseLockedError,
    EncryptedFileError,
    ForeignKeyViolationError,
    NotADatabaseError,
    NotNullViolationError,
    PlainFileError,
    ReadOnlyStoreError,
    StorageFullError,
    StoreError,
    UniqueViolationError,
    WrongKeyError,
)
from ...schema import create_statements

if TYPE_CHECKING:
    from ...encryption import DatabaseKey

__all__ = [
    "IDENTITY_QUERIES",
    "SQLITE_HEADER",
    "connect",
    "connect_read_only",
    "foreign_triggers_and_views",
    "from_sqlite",
    "header_identity",
    "open_database",
    "read_identity",
    "schema_objects",
    "store_error",
]

# The warm path runs exactly these, and nothing else: two numbers from the file header.
IDENTITY_QUERIES = ("PRAGMA application_id", "PRAGMA user_version")


# The first 16 bytes of every plain SQLite file. SQLCipher keeps its salt there instead.
SQLITE_HEADER = b"SQLite format 3\x00"

# Where the two identity numbers sit in the 100-byte file header, as SQLite stores them: big
# endian, signed (https://www.sqlite.org/fileformat2.html#database_header).
_HEADER_SIZE = 100
_INT32 = struct.Struct(">i")
_USER_VERSION_AT, _APPLICATION_ID_AT = 60, 68


def header_identity(path: Path) -> tuple[int, int] | None:
    """``(application_id, user_version)`` read from the file's first 100 bytes, or None
    when those bytes may not be the whole truth and SQLite must be asked.

    What ``read_identity`` gets from SQLite, without opening the file as a database: no
    ``-wal`` and ``-shm`` created and removed again, a twentieth of the time. The header is the
    truth only when no other file holds newer pages: SQLite reads page 1 from ``-wal`` when
    the WAL holds a copy of it, and rolls back a hot ``-journal`` whose changes may already
    be in the file. So None when either is there (a ``-wal`` of zero bytes holds no page),
    when the path is a symbolic link (SQLite keeps those files beside the real file), when
    the file does not start as a plain SQLite file does (an encrypted one, or not SQLite),
    and when it cannot be read: SQLite's own path then decides, as it always has.
    """
    try:
        if os.path.islink(path) or os.path.lexists(f"{path}-journal"):
            return None
        try:
            if os.stat(f"{path}-wal").st_size != 0:
                return None
        except FileNotFoundError:
            pass
    except OSError:
        return None
    return raw_header_identity(path)


def raw_header_identity(path: Path) -> tuple[int, int] | None:
    """``(application_id, user_version)`` as the file's own first 100 bytes hold them, a
    ``-wal`` or ``-journal`` beside it or not; None for a file that is not plain SQLite or
    cannot be read. ``header_identity`` says when this is the whole truth."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            header = os.pread(fd, _HEADER_SIZE, 0)
        finally:
            os.close(fd)
    except OSError:
        return None
    if len(header) < _HEADER_SIZE or not header.startswith(SQLITE_HEADER):
        return None
    (app_id,) = _INT32.unpack_from(header, _APPLICATION_ID_AT)
    (version,) = _INT32.unpack_from(header, _USER_VERSION_AT)
    return app_id, version


def open_database(
    path: Path,
    key: "DatabaseKey | None",
    *,
    busy_timeout: float,
    uri: str | None = None,
    check_same_thread: bool = True,
    cipher: bool = False,
) -> sqlite3.Connection:
    """A connection in autocommit mode on ``path`` (or on ``uri``, which names it): the one
    place that decides between sqlite3 and SQLCipher.

    With a ``key`` the connection is SQLCipher's, keyed before anything else runs, and its
    errors are raised as sqlite3's (see ``_Sqlite3Errors``), so every caller handles one
    kind. The key is proven at once (the file header can only be read once keyed): a wrong
    one raises ``WrongKeyError``, a plain file ``PlainFileError``, nothing written.
    ``cipher`` opens a plain file through SQLCipher, for its ``sqlcipher_export``.
    """
    target, is_uri = (uri, True) if uri is not None else (str(path), False)
    if key is None and not cipher:
        return sqlite3.connect(
            target,
            uri=is_uri,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
    from ...encryption import sqlcipher

    driver = sqlcipher()
    raw = driver.connect(
        target,
        uri=is_uri,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=check_same_thread,
    )
    con = cast(sqlite3.Connection, _Sqlite3Errors(raw))
    try:
        # SQLCipher otherwise prints its failed page checks (a wrong key) to stderr.
        con.execute("PRAGMA cipher_log_level = NONE")
        if key is not None:
            con.execute(key.pragma())
            _prove_key(con, path, key)
    except BaseException:
        con.close()
        raise
    return con


def _prove_key(con: sqlite3.Connection, path: Path, key: "DatabaseKey") -> None:
    """Read the header through ``key``; refuse a file it cannot decrypt, saying why."""
    try:
        con.execute(IDENTITY_QUERIES[0]).fetchall()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_NOTADB":
            raise
        if _header(path) == SQLITE_HEADER:
            raise PlainFileError(
                f"{path} is a plain (unencrypted) SQLite file and encryption is on; nothing "
                f"was changed. Encrypt it first with `tmws-store encrypt --db {path}`, or turn "
                "encryption off (TMWS_DB_ENCRYPTION_ENABLED=false).",
                path=path,
            ) from None
        raise WrongKeyError(
            f"{path} cannot be decrypted with {key.shown}: the key is not the one the file "
            "was encrypted with (or the file is damaged); nothing was changed",
            path=path,
        ) from None


def _header(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(len(SQLITE_HEADER))
    except OSError:
        return b""


def looks_encrypted(path: Path) -> bool:
    """Whether ``path`` could be a SQLCipher file: whole pages with no SQLite header.

    SQLCipher's pages look random, so this cannot tell one from random bytes; it tells it
    from every plain SQLite file and from short or text files.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size >= 1024 and size % 512 == 0 and _header(path) != SQLITE_HEADER


class _Sqlite3Errors:
    """A SQLCipher connection or cursor that raises sqlite3's exceptions for its own.

    ``sqlcipher3`` has its own exception classes, twins of sqlite3's but not subclasses of
    them. Raised as sqlite3's (same class name, same SQLite error name and code), the error
    translation, SQLAlchemy's sqlite dialect and aiosqlite handle an encrypted store exactly
    as a plain one.
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        object.__setattr__(self, "_inner", inner)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            args = tuple(arg._inner if isinstance(arg, _Sqlite3Errors) else arg for arg in args)
            return _wrapped(_translating(found, *args, **kwargs))

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __iter__(self) -> Iterator[Any]:
        iterator = iter(self._inner)
        while True:
            try:
                yield _translating(next, iterator)
            except StopIteration:
                return


def _translating(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from ...encryption import sqlcipher

    try:
        return function(*args, **kwargs)
    except sqlcipher().Error as exc:
        raise _as_sqlite3(exc) from exc


# sqlcipher3 leaves SQLite's extended result codes off (sqlite3 turns them on), so a failed
# constraint comes as plain SQLITE_CONSTRAINT; SQLite's message then names its kind.
_CONSTRAINT_KINDS = {
    "UNIQUE constraint failed": "SQLITE_CONSTRAINT_UNIQUE",
    "NOT NULL constraint failed": "SQLITE_CONSTRAINT_NOTNULL",
    "FOREIGN KEY constraint failed": "SQLITE_CONSTRAINT_FOREIGNKEY",
    "CHECK constraint failed": "SQLITE_CONSTRAINT_CHECK",
}


# sqlcipher3 gives no error name at all for a failed backup step, and SQLITE_ERROR for any
# failure inside sqlcipher_export, a disk I/O error included. SQLite's fixed text for a
# primary result code (sqlite3_errstr), when it is the whole message, then says which it was.
_PRIMARY_BY_TEXT = {
    "disk I/O error": "SQLITE_IOERR",
    "database or disk is full": "SQLITE_FULL",
    "database is locked": "SQLITE_BUSY",
    "attempt to write a readonly database": "SQLITE_READONLY",
    "file is not a database": "SQLITE_NOTADB",
    "database disk image is malformed": "SQLITE_CORRUPT",
    "unable to open database file": "SQLITE_CANTOPEN",
}


def _as_sqlite3(exc: BaseException) -> sqlite3.Error:
    kind = getattr(sqlite3, type(exc).__name__, sqlite3.DatabaseError)
    error: sqlite3.Error = kind(*exc.args)
    for attribute in ("sqlite_errorcode", "sqlite_errorname"):
        if hasattr(exc, attribute):
            setattr(error, attribute, getattr(exc, attribute))
    name = getattr(exc, "sqlite_errorname", None)
    if name == "SQLITE_CONSTRAINT":
        for start, extended in _CONSTRAINT_KINDS.items():
            if str(exc).startswith(start):
                error.sqlite_errorname = extended
    elif name in (None, "SQLITE_ERROR") and str(exc) in _PRIMARY_BY_TEXT:
        error.sqlite_errorname = _PRIMARY_BY_TEXT[str(exc)]
    return error


def _wrapped(result: Any) -> Any:
    from ...encryption import sqlcipher

    driver = sqlcipher()
    if isinstance(result, driver.Connection | driver.Cursor):
        return _Sqlite3Errors(result)
    return result


def connect(
    path: Path, busy_timeout: float, key: "DatabaseKey | None" = None
) -> sqlite3.Connection:
    """A connection in autocommit mode: every BEGIN is ours."""
    return open_database(path, key, busy_timeout=busy_timeout)


def connect_read_only(
    path: Path, busy_timeout: float, key: "DatabaseKey | None" = None
) -> sqlite3.Connection:
    """A connection that can neither create ``path`` nor write to it.

    ``mode=rw`` never creates a missing file, and ``query_only`` refuses every write; schema
    functions are untrusted, so a crafted file's views and triggers run none. Not
    ``mode=ro``: a read-only connection cannot delete a WAL file's ``-wal`` and ``-shm`` when
    it closes, so a mere look would leave them behind.
    """
    con = open_database(path, key, busy_timeout=busy_timeout, uri=looking_uri(path))
    try:
        con.execute("PRAGMA query_only = ON")
        con.execute("PRAGMA trusted_schema = OFF")
    except BaseException:
        con.close()
        raise
    return con


def looking_uri(path: Path) -> str:
    """The URI that opens ``path`` for a look (status, verify, a backup's source), creating
    nothing that stays beside it.

    ``mode=rw``, which never creates a missing file, when this process may write the file: its
    last connection then deletes the ``-wal`` and ``-shm`` it opened. One that may not (a 0444
    file) would open it read-only all the same, and leave both behind, read-only too: every
    later write would then fail as if the store were read-only. Such a file is opened
    ``mode=ro``, and, being in WAL mode without a ``-wal`` (every commit is in the file), as
    immutable, which needs neither file. Nobody can write a file with no write bit meanwhile.
    """
    real = path.resolve()  # a symlink's -wal and -shm are beside its target
    uri = real.as_uri()
    if os.access(real, os.W_OK):
        return f"{uri}?mode=rw"
    if in_wal_mode(real) and not os.path.lexists(f"{real}-wal"):
        return f"{uri}?mode=ro&immutable=1"
    return f"{uri}?mode=ro"


def journal_mode(con: sqlite3.Connection, path: Path) -> str:
    """The journal mode of the file ``con`` reads. A connection opened immutable (see
    ``looking_uri``) reports "delete" whatever the file says; its header then tells."""
    mode = str(con.execute("PRAGMA journal_mode").fetchone()[0])
    return "wal" if mode != "wal" and in_wal_mode(path) else mode


def in_wal_mode(path: Path) -> bool:
    """Whether the plain SQLite file's header says WAL (its read and write versions are 2)."""
    try:
        with open(path, "rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return header.startswith(SQLITE_HEADER) and header[18:20] == b"\x02\x02"


def read_identity(con: sqlite3.Connection) -> tuple[int, int]:
    """``(application_id, user_version)`` from the file header."""
    app_id, version = (con.execute(query).fetchall()[0][0] for query in IDENTITY_QUERIES)
    return int(app_id), int(version)


def schema_objects(con: sqlite3.Connection) -> dict[str, str]:
    """Every schema object of the file but SQLite's own: ``{name: type}``."""
    rows = con.execute(
        "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    return dict(rows.fetchall())


_CREATE_SCHEMA_CODE = re.compile(r"CREATE (?:TRIGGER|VIEW) (?:IF NOT EXISTS )?(\w+)")


@cache
def _own_triggers_and_views() -> frozenset[str]:
    """Names of the triggers and views the schema creates, read from the DDL snapshot.

    None in version 1: TMWS 2.4.18 creates no trigger and no view either. Read rather than
    written down, so that a later version adding one cannot be refused by its own check.
    """
    return frozenset(
        match[1]
        for statement in create_statements()
        if (match := _CREATE_SCHEMA_CODE.match(statement))
    )


def foreign_triggers_and_views(con: sqlite3.Connection) -> list[str]:
    """Each trigger and view in the file on ``con`` that the schema does not create.

    Given as ``"trigger NAME on TABLE"`` or ``"view NAME"``. Their SQL runs inside the
    store's own statements (a trigger on every write it matches), so whoever wrote them
    decides what our writes do: a trigger can empty a table when an agent is renamed.
    Only ``sqlite_master`` is read.
    """
    rows = con.execute(
        "SELECT type, name, tbl_name FROM sqlite_master "
        "WHERE type IN ('trigger', 'view') ORDER BY type, name"
    ).fetchall()
    own = _own_triggers_and_views()
    return [
        f"trigger {name} on {table}" if kind == "trigger" else f"view {name}"
        for kind, name, table in rows
        if name not in own
    ]


# SQLite's extended result codes of constraint failures, by the error each one raises. Any
# other SQLITE_CONSTRAINT_* (a trigger's RAISE, say) is a plain ConstraintError.
_CONSTRAINT_ERRORS: dict[str, type[ConstraintError]] = {
    "SQLITE_CONSTRAINT_UNIQUE": UniqueViolationError,
    "SQLITE_CONSTRAINT_PRIMARYKEY": UniqueViolationError,
    "SQLITE_CONSTRAINT_FOREIGNKEY": ForeignKeyViolationError,
    "SQLITE_CONSTRAINT_NOTNULL": NotNullViolationError,
    "SQLITE_CONSTRAINT_CHECK": CheckViolationError,
}
# What SQLite's message says after the constraint, which never holds a value: the failing
# columns as ``table.column, table.column`` (UNIQUE, NOT NULL), ``index 'name'`` for a unique
# index on expressions, or the name of a CHECK constraint.
_FAILED_ON = re.compile(r"(?:UNIQUE|NOT NULL|CHECK) constraint failed: (.+)")
_COLUMN = re.compile(r"(\w+)\.(\w+)")
_INDEX = re.compile(r"index '(\w+)'")
# The table a statement writes to, for failures whose message names none (FOREIGN KEY, CHECK).
_WRITTEN_TABLE = re.compile(
    r'\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"?(\w+)', re.I
)


def _constraint_error(
    exc: BaseException, name: str, path: Path | str, doing: str, statement: str | None
) -> ConstraintError:
    """The ``ConstraintError`` for a failed constraint: table and columns, never values.

    Only the part of SQLite's message that names the constraint is read (see _FAILED_ON).
    """
    kind = _CONSTRAINT_ERRORS.get(name, ConstraintError)
    failed = _FAILED_ON.match(str(exc))
    on = failed[1] if failed else ""
    written = _WRITTEN_TABLE.match(statement or "")
    table = written[1] if written else None
    columns: list[str] = []
    constraint = None
    if kind is CheckViolationError:
        constraint = on or None  # the constraint's name; the table comes from the statement
    elif index := _INDEX.fullmatch(on):
        constraint = index[1]
    else:
        for column in _COLUMN.finditer(on):
            table = column[1]
            columns.append(column[2])
    return kind.refused(
        where=str(path),
        doing=doing,
        table=table,
        columns=tuple(columns),
        constraint=constraint,
        path=path,
    )


def from_sqlite(
    exc: BaseException | None, path: Path | str, doing: str, *, statement: str | None = None
) -> StoreError | None:
    """The tmws_store error for a sqlite3 error met while ``doing`` something, or None.

    Classified by SQLite's own error name (``sqlite_errorname``), never by message text.
    ``statement``, the SQL that failed, names the table of a failed constraint where SQLite's
    message does not.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    where = f"{doing} {path}"
    if exc is not None and name.startswith("SQLITE_CONSTRAINT"):
        return _constraint_error(exc, name, path, doing, statement)
    if name == "SQLITE_NOTADB" and looks_encrypted(Path(path)):
        return EncryptedFileError(
            f"{path} has no SQLite header: this file is encrypted (or is not a database); "
            "tmws_store left it untouched. Open it with encryption on: set "
            "TMWS_DB_ENCRYPTION_ENABLED=true (or Store(..., encrypted=True)).",
            path=path,
        )
    if name == "SQLITE_NOTADB":
        return NotADatabaseError(
            f"{path} is not a SQLite database (or is encrypted or corrupt); tmws_store left it "
            "untouched. Move it away or point TMWS_HOME / TMWS_DATABASE_URL elsewhere.",
            path=path,
        )
    if name.startswith("SQLITE_CORRUPT"):  # also _INDEX, _SEQUENCE, _VTAB
        return NotADatabaseError(
            f"{path} is damaged ({exc}), found while {doing} the file; the operation stopped "
            "and kept nothing of its own. Restore a backup, or recover what is readable with "
            f"`sqlite3 {path} .recover` into a new file.",
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


def store_error(exc: BaseException | None, path: Path | str, doing: str) -> StoreError:
    """``from_sqlite``, with any error it does not classify as a plain ``StoreError``.

    For start-up, checks and backups, where every failure is the store's to report in one line.
    """
    return from_sqlite(exc, path, doing) or StoreError(f"{doing} {path}: {exc}", path=path)
