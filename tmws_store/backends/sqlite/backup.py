"""Consistent copies of a store file, made with SQLite's backup API.

Copying only the main file of a WAL database can lose every recent row (they may still be in
the ``-wal`` file); the backup API copies what a reader sees, while other connections write.
The copy is the snapshot of one read transaction, so it finishes however busy the writers.
Copies are created 0600 before SQLite writes them: they hold the same secrets as the store.

A copy is never seen half made, and never lands on another file. It is written under a
hidden temporary name beside its destination (``.NAME.PID-TOKEN.partial``, which
``list_backups`` never matches), synced, and only then given its final name with a hard link:
unlike a rename, a link fails when the name exists, so two processes cannot both claim one
name. The writer holds an ``flock`` on its temporary file; ``remove_partial_backups`` removes
only the temporary files whose lock it can take, that is those of dead writers (the kernel
drops a killed process's locks).
"""

import contextlib
import errno
import fcntl
import glob
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import StorageFullError, StoreError, disk_error_class
from ...paths import PRIVATE_FILE_MODE
from .connection import from_sqlite, looking_uri, open_database

if TYPE_CHECKING:
    from ...encryption import DatabaseKey

__all__ = [
    "NameNotSyncedError",
    "backup_beside",
    "backup_name",
    "backup_to",
    "fsync_folder",
    "list_backups",
    "partial_file",
    "publish",
    "remove_partial_backups",
    "sync_name",
]

Progress = Callable[[int, int], None]  # (pages copied, total pages)

_STAMP_FORMAT = "%Y-%m-%dT%H%M%SZ"  # UTC; sorts as text, and has no ":" (Windows-safe)
_SIDE_FILES = ("-wal", "-shm", "-journal")
_NAME_ATTEMPTS = 100  # suffixes "", "-1" ... "-99" for the copies made in one second
_BACKUP_TIMEOUT = 5.0  # seconds; sqlite3.connect's default, which backups always used
_PARTIAL = re.compile(r"\..+\.\d+-[0-9a-f]{12}\.partial")


def backup_to(
    source: Path,
    dest: Path,
    *,
    named_by_us: bool = False,
    progress: Progress | None = None,
    key: "DatabaseKey | None" = None,
) -> Path:
    """Copy the database at ``source`` to the new file ``dest``; never overwrites a file.

    ``named_by_us``: ``dest`` is a name ``backup_name`` chose, not the caller's. When another
    process claims it first, the copy takes the next free suffix (the path returned says
    which). A caller's ``dest`` that exists is refused with a ``StoreError`` before anything
    is written, whatever it looks like. Other failures raise a ``StoreError`` too; the
    half-made copy is removed, and no other file is.
    """
    names = _automatic_names(source, dest) if named_by_us else None
    taken = StoreError(f"{dest} already exists; choose another backup file name", path=dest)
    if names is None and os.path.lexists(dest):
        raise taken
    for folder in dict.fromkeys((source.parent, dest.parent)):
        remove_partial_backups(folder)
    try:
        with partial_file(dest) as (temp, fd):
            _copy(source, temp, progress, key)
            written = publish(temp, fd, names or [dest])
    except sqlite3.Error as exc:
        raise (
            _destination_error(exc, source, dest)
            or from_sqlite(exc, source, "backing up")
            or StoreError(f"backing up {source}: {exc}", path=source)
        ) from exc
    except OSError as exc:
        raise _from_os_error(exc, source, dest) from exc
    if written is not None:
        return written
    if names is None:
        raise taken
    raise StoreError(f"too many backups of {source} made in the same second", path=source)


def _copy(source: Path, temp: Path, progress: Progress | None, key: "DatabaseKey | None") -> None:
    # An encrypted store's copy is keyed with the same key: SQLCipher copies its pages as
    # they are, so the copy is as encrypted as the store (and never plain on the disk).
    src = open_database(source, key, busy_timeout=_BACKUP_TIMEOUT, uri=looking_uri(source))
    try:
        src.execute("PRAGMA trusted_schema = OFF")
        # Hold one read transaction for the whole copy. Without it, every commit by another
        # connection restarts the backup from the first page, so a copy taken while agents
        # write may never finish; with it, the copy is the snapshot the transaction sees (WAL
        # lets writers go on meanwhile).
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchall()
        dst = open_database(temp, key, busy_timeout=_BACKUP_TIMEOUT)
        try:
            # No "-journal" file beside the copy. MEMORY rather than OFF: the file starts
            # empty, so there are no old pages to keep and the in-memory journal costs
            # nothing, while ROLLBACK stays defined (SQLite rolls the copy back when a step
            # fails, e.g. on a full disk); with OFF it is undefined. A crash needs no journal:
            # the whole temporary file is garbage then.
            dst.execute("PRAGMA journal_mode = MEMORY")

            def report(status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            src.backup(dst, pages=256, progress=report)
        finally:
            dst.close()
            src.execute("COMMIT")
    finally:
        src.close()


@contextlib.contextmanager
def partial_file(dest: Path) -> Iterator[tuple[Path, int]]:
    """A new private temporary file beside ``dest``, locked until the block ends.

    It is removed at the end unless the block gave it its final name (then it is gone
    already): after a failure, and never any file this process did not create.
    """
    temp, fd = _create_locked(dest)
    try:
        yield temp, fd
    finally:
        try:
            temp.unlink(missing_ok=True)  # still locked by us: nobody else removes it
        finally:
            os.close(fd)  # releases the lock


def _create_locked(dest: Path) -> tuple[Path, int]:
    while True:
        temp = dest.with_name(f".{dest.name}.{os.getpid()}-{os.urandom(6).hex()}.partial")
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken bits away from 0600
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Between our create and our lock the file stood unlocked: a cleanup may have
            # taken it for a dead writer's and removed it. Then start again on a new name.
            if _same_file(temp, fd):
                return temp, fd
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)


def publish(temp: Path, fd: int, names: list[Path], *, durable: bool = True) -> Path | None:
    """Give the finished copy the first free name of ``names``; None when all are taken.

    Never replaces a file: a name another process claimed first is skipped. ``durable=False``
    skips the fsyncs, for scratch files such as the pytest fixtures' stores.
    """
    if durable:
        os.fsync(fd)  # the copy's bytes are on disk before any name points at them
    for name in names:
        try:
            os.link(temp, name)
        except FileExistsError:
            continue  # another process claimed it first
        temp.unlink()
        if durable:
            sync_name(name)
        return name
    return None


def sync_name(name: Path) -> None:
    """Make the name ``name`` durable, just given to a whole file (linked or renamed there).

    The folder's own sync does it (and makes the temporary name's removal durable): without
    it a power cut could lose the name of a copy already reported as made. Its failure is a
    ``NameNotSyncedError``, which says the file is whole at ``name``.
    """
    try:
        fsync_folder(name.parent)
    except OSError as exc:
        raise NameNotSyncedError(name, exc) from exc


class NameNotSyncedError(OSError):
    """The copy is whole at ``name``, but syncing its folder failed: a power cut could lose
    the name. Not removed on that account: another process may be using the file by now."""

    def __init__(self, name: Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror, str(name))
        self.name = name


def fsync_folder(folder: Path) -> None:
    """Make the names in ``folder`` durable: a name linked or renamed there survives a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = path.stat(follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _automatic_names(source: Path, dest: Path) -> list[Path] | None:
    """The names to try, in order, when ``dest`` is a ``backup_name`` of ``source``; else None."""
    pattern = re.escape(source.name) + r"\.backup-\d{4}-\d\d-\d\dT\d{6}Z-.+?"
    match = re.fullmatch(f"({pattern})(?:-(\\d+))?", dest.name)
    if match is None:
        return None
    first = int(match[2] or 0)
    return [dest] + [
        dest.with_name(f"{match[1]}-{attempt}") for attempt in range(first + 1, _NAME_ATTEMPTS)
    ]


# Errors of writing: the source is only read, so these are the copy's. (SQLite reports any
# error of a backup step on the destination's connection, reading ones included.)
_WRITE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE")


def _destination_error(exc: sqlite3.Error, source: Path, dest: Path) -> StorageFullError | None:
    """A StorageFullError naming ``dest`` when the copy could not be written, else None."""
    name = getattr(exc, "sqlite_errorname", "")
    if name not in _WRITE_ERRORS:
        return None
    if name == "SQLITE_FULL":
        what, advice = "the disk is full (or over a file size limit)", "Free some space"
    else:  # the disk failed a write or a sync: saying "full" would send the user astray
        what, advice = "a disk I/O error", "Check the disk"
    return StorageFullError(
        f"{what} while writing the backup {dest} of {source}; the incomplete copy was removed "
        f"and {source} was not changed. {advice} and try again.",
        path=dest,
    )


def _from_os_error(exc: OSError, source: Path, dest: Path) -> StoreError:
    # The folder missing or not writable, or no room for the file or its name, or the disk
    # failing; the partial copy is gone by now (partial_file removes it).
    reason = exc.strerror or str(exc)
    kind = disk_error_class(exc)
    if isinstance(exc, NameNotSyncedError):
        return kind(
            f"the backup {exc.name} of {source} was written whole, but its folder could not be "
            f"synced ({reason}): a power cut could lose its name. {source} was not changed. "
            "Check the disk.",
            path=exc.name,
        )
    if kind is StoreError:
        return StoreError(f"cannot write the backup {dest}: {reason}", path=dest)
    advice = "Check the disk" if exc.errno == errno.EIO else "Free some space"
    return kind(
        f"cannot write the backup {dest} of {source}: {reason}; the incomplete copy was "
        f"removed and {source} was not changed. {advice} and try again.",
        path=dest,
    )


def remove_partial_backups(folder: Path) -> list[Path]:
    """Remove from ``folder`` the temporary files of backups whose writer died; returns them.

    A writer that is alive holds a lock on its temporary file, so its file stays. Files that
    cannot be opened or removed are left as they are: this never raises for them.
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return []  # no such folder, or not ours to read: no copy of ours can be there
    removed = []
    for name in sorted(names):
        path = folder / name
        if _PARTIAL.fullmatch(name) and _remove_if_abandoned(path):
            removed.append(path)
    return removed


def _remove_if_abandoned(path: Path) -> bool:
    try:
        # O_NOFOLLOW: never reach through a link; O_NONBLOCK: a FIFO of that name cannot hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive and still copying
        if not _same_file(path, fd):
            return False  # another cleanup removed it meanwhile
        path.unlink()
        # A conversion's copy (``encryption``) is put in WAL mode before its rename: a writer
        # killed then leaves its -wal and -shm, which are garbage with it.
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def backup_name(source: Path, *, reason: str, folder: Path | None = None) -> Path:
    """A new, unused name that says what the copy is and when it was made.

    For ``tmws.db`` at 04:15:00 UTC on 24 November 2026 before adoption:
    ``tmws.db.backup-2026-11-24T041500Z-before-adopt``. The name is beside ``source`` unless
    another ``folder`` is given. Another process may take the name before the copy is made:
    ``backup_to`` then moves on to the next suffix.
    """
    stamp = datetime.now(UTC).strftime(_STAMP_FORMAT)
    where = source.parent if folder is None else folder
    for attempt in range(_NAME_ATTEMPTS):
        suffix = f"-{attempt}" if attempt else ""
        dest = where / f"{source.name}.backup-{stamp}-{reason}{suffix}"
        if not dest.exists():
            return dest
    raise StoreError(f"too many backups of {source} made in the same second", path=source)


def list_backups(source: Path) -> list[Path]:
    """The backups of ``source`` lying beside it (named by ``backup_name``), oldest first.

    SQLite's side files of a backup that was opened later (``-wal``, ``-shm``, ``-journal``)
    are not backups themselves and are left out, and so are copies still being written
    (their hidden temporary names start with a ".").
    """
    pattern = re.compile(re.escape(source.name) + r"\.backup-(\d{4}-\d\d-\d\dT\d{6}Z)-.+")
    found: list[tuple[str, int, Path]] = []
    for candidate in source.parent.glob(f"{glob.escape(source.name)}.backup-*"):
        match = pattern.fullmatch(candidate.name)
        if match and not candidate.name.endswith(_SIDE_FILES) and candidate.is_file():
            # The stamp in the name sorts as text and survives copying the folder elsewhere;
            # the file's mtime only orders copies made within the same second.
            found.append((match[1], candidate.stat().st_mtime_ns, candidate))
    return [path for *_, path in sorted(found)]


def backup_beside(source: Path, *, reason: str, key: "DatabaseKey | None" = None) -> Path:
    """Back up ``source`` next to it under ``backup_name``; returns the copy's path."""
    dest = backup_name(source, reason=reason)
    return backup_to(source, dest, named_by_us=True, key=key)
