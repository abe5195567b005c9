"""Encryption at rest: the key of an encrypted store file, and where it comes from.

Off by default. ``TMWS_DB_ENCRYPTION_ENABLED=true`` (TMWS's own setting) or
``Store(..., encrypted=True)`` turns it on; the key is then read from the key file
``$TMWS_HOME/secrets/db_encryption.key`` (``~/.tmws/secrets/`` by default), created on first
use, or given by the caller as ``Store(..., key=...)``. The file holds what TMWS 2.4.x writes
there: 256 random bits as 64 hex characters. SQLCipher (the ``encryption`` extra,
``sqlcipher3-binary``) uses that text as a passphrase, through PBKDF2 with its default 256,000
iterations, as TMWS configures it.

A key never appears in a repr, a message or a log: ``DatabaseKey`` shows only where it came
from. No cryptography is written here: SQLCipher does all of it.
"""

import os
import warnings
from collections.abc import Mapping
from dataclasses import replace
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import PlainFileError, StoreError, WrongKeyError, disk_error_class
from .paths import Location, ensure_private_dirs, tmws_home

if TYPE_CHECKING:
    import sqlite3

    from .paths import ServerLocation

__all__ = [
    "ENABLED_VARIABLE",
    "KEY_FILE_NAME",
    "DatabaseKey",
    "KeyFileWarning",
    "decrypt_file",
    "encrypt_file",
    "encryption_enabled",
    "key_file_path",
    "keyed_location",
    "load_or_create_key",
    "sqlcipher",
]

ENABLED_VARIABLE = "TMWS_DB_ENCRYPTION_ENABLED"
KEY_FILE_NAME = "db_encryption.key"
_KEY_BYTES = 32  # 256 bits
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class KeyFileWarning(UserWarning):
    """A new key file was created: without it the store's data cannot be read."""


class DatabaseKey:
    """The passphrase of an encrypted store, and where it came from (for messages).

    ``source`` is the key file's path, or ``None`` for a key the caller gave. The key itself
    is reachable only through ``pragma()``: it is not in ``repr``, ``str`` or any message.
    """

    __slots__ = ("_secret", "source")

    def __init__(self, secret: str | bytes, *, source: Path | None = None) -> None:
        text = secret.decode() if isinstance(secret, bytes) else secret
        if not text:
            raise ValueError("an encryption key must not be empty")
        self._secret = text
        self.source = source

    @property
    def shown(self) -> str:
        """Where the key came from, for messages: the key file, or "the key given"."""
        return f"key file {self.source}" if self.source is not None else "the key given"

    def pragma(self) -> str:
        """``PRAGMA key`` with this passphrase, as SQLCipher wants it first on a connection."""
        quoted = self._secret.replace("'", "''")
        return f"PRAGMA key = '{quoted}'"

    def __repr__(self) -> str:
        return f"<DatabaseKey from {self.shown}>"

    __str__ = __repr__


def encryption_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``TMWS_DB_ENCRYPTION_ENABLED`` turns encryption on; a value that is neither
    true nor false is refused rather than guessed."""
    env = os.environ if environ is None else environ
    value = env.get(ENABLED_VARIABLE, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StoreError(f"{ENABLED_VARIABLE} must be true or false, not {value!r}")


def key_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$TMWS_HOME/secrets/db_encryption.key``, or ``~/.tmws/secrets/db_encryption.key``."""
    return tmws_home(environ) / "secrets" / KEY_FILE_NAME


def load_or_create_key(path: Path, *, create: bool = True) -> DatabaseKey:
    """The key in the key file ``path``; with ``create``, a new one when there is none.

    A missing key file with ``create`` off (a file that is already encrypted needs the key
    it was made with, not a new one) raises ``WrongKeyError`` naming it.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        if not create:
            raise WrongKeyError(
                f"the key file {path} does not exist, and the store file is encrypted with a "
                "key: restore the key file (or give the key), or nothing can be read",
                path=path,
            ) from None
        return _create_key_file(path)
    except OSError as exc:
        raise StoreError(f"cannot read the key file {path}: {exc.strerror}", path=path) from exc
    if not text:
        raise WrongKeyError(f"the key file {path} is empty", path=path)
    return DatabaseKey(text, source=path)


def _create_key_file(path: Path) -> DatabaseKey:
    """Write a new random key to ``path`` (0600, in folders made 0700), whole or not at all.

    Written to a temporary file, synced, then linked to its name: a link fails when the name
    exists, so of two processes creating the key at once, both end up with the first one's.
    """
    import secrets  # here: it loads hashlib and OpenSSL, which opening a store never needs

    # The backup module's temporary file: locked while written, linked to its name only if
    # that is free. One whose process died before the link is removed here, by the next
    # creation: a creation that succeeded leaves none, so nothing else looks for them.
    from .backends.sqlite.backup import (
        NameNotSyncedError,
        partial_file,
        publish,
        remove_partial_backups,
    )

    ensure_private_dirs(Location(path, "argument"))
    remove_partial_backups(path.parent)
    secret = secrets.token_hex(_KEY_BYTES)
    try:
        with partial_file(path) as (temp, fd):
            os.write(fd, secret.encode())  # 64 bytes: one write
            if publish(temp, fd, [path]) is None:
                return load_or_create_key(path, create=False)  # another process was first
    except OSError as exc:  # no room, or the disk failed the write or a sync
        what = (
            f"the key file {path} was written, but its folder could not be synced"
            if isinstance(exc, NameNotSyncedError)
            else f"cannot write the key file {path}"
        )
        raise disk_error_class(exc)(
            f"{what}: {exc.strerror or exc}; no store was encrypted with it yet. Check the disk "
            "and try again.",
            path=path,
        ) from exc
    warnings.warn(
        f"created the encryption key file {path}: keep a copy of it elsewhere, since a lost "
        "key means the encrypted store's data is lost",
        KeyFileWarning,
        stacklevel=5,  # the code that made the Store
    )
    return DatabaseKey(secret, source=path)


def keyed_location(
    location: "Location | ServerLocation",
    *,
    encrypted: bool | None,
    key: str | bytes | None,
    environ: Mapping[str, str] | None = None,
) -> "Location | ServerLocation":
    """``location`` with the key it is opened with, or as it is when encryption is off.

    ``encrypted=None`` follows ``TMWS_DB_ENCRYPTION_ENABLED``; a ``key`` turns it on. A
    PostgreSQL store is refused: its encryption at rest is the server's.
    """
    if encrypted is False and key is not None:
        raise ValueError("a key was given with encrypted=False")
    on = key is not None or encrypted or (encrypted is None and encryption_enabled(environ))
    if not on:
        return location
    if not isinstance(location, Location):
        raise StoreError(
            f"{location.shown} is a PostgreSQL store: tmws_store encrypts only SQLite files; "
            "use the server's own encryption at rest"
        )
    if key is not None:
        return replace(location, key=DatabaseKey(key))
    # The key file is created on first use only for a file that does not hold data yet.
    key_file = key_file_path(environ)
    path = location.path
    fresh = not path.exists() or path.stat().st_size == 0
    if not fresh and not key_file.exists() and _is_plain(path):
        # Not "no key": this file never had one. Refused before any key file is made.
        raise PlainFileError(
            f"{path} is a plain (unencrypted) SQLite file and encryption is on; nothing was "
            f"changed. Encrypt it first with `tmws-store encrypt --db {path}`, or turn "
            f"encryption off ({ENABLED_VARIABLE}=false).",
            path=path,
        )
    return replace(location, key=load_or_create_key(key_file, create=fresh))


def _is_plain(path: Path) -> bool:
    from .backends.sqlite.connection import SQLITE_HEADER

    try:
        with open(path, "rb") as file:
            return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def sqlcipher() -> ModuleType:
    """The SQLCipher driver (``sqlcipher3``), imported only for an encrypted store."""
    try:
        # By name: the package ships no type information.
        return import_module("sqlcipher3.dbapi2")
    except ImportError as exc:
        raise StoreError(
            "this store is encrypted, and SQLCipher is not installed: "
            "pip install 'tmws_store[encryption]' (sqlcipher3-binary)"
        ) from exc


def encrypt_file(path: Path, key: DatabaseKey, *, busy_timeout: float) -> Path:
    """Encrypt the plain store file ``path`` with ``key``; returns the backup made first."""
    return _convert(path, None, key, busy_timeout=busy_timeout, reason="before-encrypt")


def decrypt_file(path: Path, key: DatabaseKey, *, busy_timeout: float) -> Path:
    """Decrypt the store file ``path``, encrypted with ``key``; returns the backup made first."""
    return _convert(path, key, None, busy_timeout=busy_timeout, reason="before-decrypt")


def require_store_file(path: Path) -> None:
    """Refuse a conversion of ``path`` that is not there, before anything (a key file) is made."""
    if not path.is_file():
        raise StoreError(f"{path} does not exist or is not a file; nothing to convert", path=path)


def require_plain_store_file(path: Path, *, busy_timeout: float) -> None:
    """Refuse to encrypt ``path`` unless it is a plain store file of ours: checked before the
    key file is made, so that a wrong file (missing, not SQLite, another program's) leaves
    none behind. ``_convert`` checks it again on the connection it converts from."""
    import sqlite3

    from .backends.sqlite.connection import connect_read_only, store_error
    from .backends.sqlite.startup import refuse_unless_ours

    require_store_file(path)
    try:
        con = connect_read_only(path, busy_timeout)  # a refused file is left as it was
        try:
            refuse_unless_ours(con, path)
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise store_error(exc, path, "reading") from exc


def require_encrypted_store_file(path: Path) -> None:
    """Refuse to decrypt ``path`` when it is missing or already plain, before the key file is
    read: its message would otherwise be about the key."""
    require_store_file(path)
    if _is_plain(path):
        raise PlainFileError(
            f"{path} is already a plain SQLite file; nothing to decrypt", path=path
        )


def _convert(
    path: Path,
    old: DatabaseKey | None,
    new: DatabaseKey | None,
    *,
    busy_timeout: float,
    reason: str,
) -> Path:
    """Rewrite ``path`` from key ``old`` to key ``new`` (None: plain), whole or not at all.

    After a backup, SQLCipher's ``sqlcipher_export`` writes the converted copy into a new
    private file beside it, which is put in WAL mode (its last connection then leaves no
    ``-wal``), synced, and renamed over ``path``. The old file is closed before the rename,
    and the rename is refused while its ``-wal`` remains (another process has it open, and
    would go on writing to the old file): at every moment the name holds the old file whole
    or the new one, and never beside a ``-wal`` of the other.
    """
    import sqlite3

    from .backends.sqlite.backup import backup_beside, partial_file, sync_name
    from .backends.sqlite.connection import open_database, read_identity, store_error
    from .backends.sqlite.startup import refuse_unless_ours

    require_store_file(path)
    try:
        source = open_database(path, old, busy_timeout=busy_timeout, cipher=True)
        try:
            app_id, version = read_identity(source)  # proves a plain file is one
            refuse_unless_ours(source, path)  # another program's, a newer one, foreign triggers
            backup = backup_beside(path, reason=reason, key=old)
            with partial_file(path) as (temp, fd):
                _export(source, temp, new, app_id, version)
                _to_wal(temp, new, busy_timeout)
                source.close()
                _refuse_if_open_elsewhere(path)
                os.fsync(fd)
                os.replace(temp, path)
                sync_name(path)
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise store_error(exc, path, "converting") from exc
    except OSError as exc:  # the copy's sync, the rename or the folder's sync
        raise _conversion_os_error(exc, path) from exc
    return backup


def _conversion_os_error(exc: OSError, path: Path) -> StoreError:
    from .backends.sqlite.backup import NameNotSyncedError

    reason = exc.strerror or str(exc)
    if isinstance(exc, NameNotSyncedError):  # renamed into place, the folder not synced
        message = (
            f"{path} was converted, but its folder could not be synced ({reason}): after a "
            "power cut the old file could be back. Check the disk."
        )
    else:
        message = (
            f"cannot convert {path}: {reason}; it was not changed, and the incomplete copy was "
            "removed. Check the disk (or the folder's permissions) and try again."
        )
    return disk_error_class(exc)(message, path=path)


def _export(
    source: "sqlite3.Connection", temp: Path, new: DatabaseKey | None, app_id: int, version: int
) -> None:
    # Bound, not written into the SQL: the key stays out of every statement's text. An empty
    # key makes the attached file plain.
    secret = new._secret if new is not None else ""
    source.execute("ATTACH DATABASE ? AS converted KEY ?", (str(temp), secret))
    try:
        # sqlcipher_export commits once per schema object and table: with the default journal
        # and syncs, about three fsyncs each (over a thousand for an empty store, seconds on a
        # laptop disk). Neither is needed: until _convert syncs it and renames it into place,
        # the copy is a temporary file that a crash makes garbage. MEMORY, not OFF, keeps a
        # failed statement's rollback defined.
        source.execute("PRAGMA converted.journal_mode = MEMORY").fetchall()
        source.execute("PRAGMA converted.synchronous = OFF")
        source.execute("SELECT sqlcipher_export('converted')").fetchall()
        # The file header's stamp is not part of the export.
        source.execute(f"PRAGMA converted.application_id = {int(app_id)}")
        source.execute(f"PRAGMA converted.user_version = {int(version)}")
    finally:
        source.execute("DETACH DATABASE converted")


def _to_wal(temp: Path, key: DatabaseKey | None, busy_timeout: float) -> None:
    """WAL mode for the new file, as every store has; closing leaves no ``-wal`` behind."""
    from .backends.sqlite.connection import open_database

    con = open_database(temp, key, busy_timeout=busy_timeout)
    try:
        con.execute("PRAGMA journal_mode = WAL").fetchall()
        found = [row[0] for row in con.execute("PRAGMA quick_check")]
        if found != ["ok"]:
            raise StoreError(f"the converted copy of {temp} failed quick_check: {found[:3]}")
    finally:
        con.close()


def _refuse_if_open_elsewhere(path: Path) -> None:
    if Path(f"{path}-wal").exists():
        raise StoreError(
            f"{path} is open in another process (its -wal remains): stop every agent using "
            "it and convert again; the file was left as it was",
            path=path,
        )
