"""Consistent copies of a store file, made with SQLite's backup API.

Copying only the main file of a WAL database can lose every recent row (they may still be in
the ``-wal`` file); the backup API copies what a reader sees, while other connections write.
The copy is the snapshot of one read transaction, so it finishes however busy the writers.
Copies are created 0600 before SQLite writes them: they hold the same secrets as the store.
"""

import glob
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .errors import StorageFullError
from .paths import create_private_file

__all__ = ["backup_beside", "backup_name", "backup_to", "list_backups"]

Progress = Callable[[int, int], None]  # (pages copied, total pages)

_STAMP_FORMAT = "%Y-%m-%dT%H%M%SZ"  # UTC; sorts as text, and has no ":" (Windows-safe)
_SIDE_FILES = ("-wal", "-shm", "-journal")


def backup_to(source: Path, dest: Path, *, progress: Progress | None = None) -> Path:
    """Copy the database at ``source`` to the new file ``dest``; refuses to overwrite."""
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; choose another backup file name")
    create_private_file(dest)
    try:
        src = sqlite3.connect(source, isolation_level=None)
        try:
            src.execute("PRAGMA trusted_schema = OFF")
            # Hold one read transaction for the whole copy. Without it, every commit by
            # another connection restarts the backup from the first page, so a copy taken
            # while agents write may never finish; with it, the copy is the snapshot the
            # transaction sees (WAL lets writers go on meanwhile).
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchall()
            dst = sqlite3.connect(dest)
            try:

                def report(status: int, remaining: int, total: int) -> None:
                    if progress is not None:
                        progress(total - remaining, total)

                try:
                    src.backup(dst, pages=256, progress=report)
                except sqlite3.Error as exc:
                    full = _destination_error(exc, source, dest)
                    if full is None:
                        raise
                    raise full from exc
            finally:
                dst.close()
                src.execute("COMMIT")
        finally:
            src.close()
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


# Errors of writing: the source is only read, so these are the copy's. (SQLite reports any
# error of a backup step on the destination's connection, reading ones included.)
_WRITE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE")


def _destination_error(exc: sqlite3.Error, source: Path, dest: Path) -> StorageFullError | None:
    """A StorageFullError naming ``dest`` when the copy could not be written, else None."""
    if getattr(exc, "sqlite_errorname", "") not in _WRITE_ERRORS:
        return None
    return StorageFullError(
        f"the disk is full (or over a file size limit) while writing the backup {dest} of "
        f"{source}; the incomplete copy was removed and {source} was not changed. Free "
        "some space and try again.",
        path=dest,
    )


def backup_name(source: Path, *, reason: str, folder: Path | None = None) -> Path:
    """A new, unused name that says what the copy is and when it was made.

    For ``tmws.db`` at 04:15:00 UTC on 24 November 2026 before adoption:
    ``tmws.db.backup-2026-11-24T041500Z-before-adopt``. The name is beside ``source`` unless
    another ``folder`` is given.
    """
    stamp = datetime.now(UTC).strftime(_STAMP_FORMAT)
    where = source.parent if folder is None else folder
    for attempt in range(100):
        suffix = f"-{attempt}" if attempt else ""
        dest = where / f"{source.name}.backup-{stamp}-{reason}{suffix}"
        if not dest.exists():
            return dest
    raise FileExistsError(f"too many backups of {source} made in the same second")


def list_backups(source: Path) -> list[Path]:
    """The backups of ``source`` lying beside it (named by ``backup_name``), oldest first.

    SQLite's side files of a backup that was opened later (``-wal``, ``-shm``, ``-journal``)
    are not backups themselves and are left out.
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


def backup_beside(source: Path, *, reason: str) -> Path:
    """Back up ``source`` next to it under ``backup_name``; returns the copy's path."""
    return backup_to(source, backup_name(source, reason=reason))
