"""A fresh store from a file image: the finished bytes of an empty current store, placed whole.

Running the DDL on a new file costs 15 times writing the 1.3 MB it produces (in WAL mode
every page is written twice). So the DDL runs once per process, into an in-memory database,
and a fresh store is that database's bytes: written to a temporary name beside the target,
fsynced, then hard-linked to the target. ``os.link`` fails when the target exists, so a file
another process made meanwhile is never replaced; a crash at any moment leaves either no
target or the whole image at it, never part of one.

The temporary file is a backup's (``backup.partial_file``): held under an ``flock`` while
written, so ``backup.remove_partial_backups`` removes one whose writer died and never one
still being written.

An in-memory database cannot be in WAL mode, so its header says "rollback journal"; bytes
18 and 19 of the header are what ``PRAGMA journal_mode = WAL`` persists in a file, and the
image gets them set. ``tests/test_fresh_image.py`` checks that a file made from the image
and one made by the DDL have the same schema, identity, journal mode and page size.

A store that cannot start from these plain bytes (an encrypted one) is created by the DDL
path in ``startup``, which also runs when anything here fails.
"""

import errno
import os
import sqlite3
from functools import cache
from pathlib import Path

from ... import schema

__all__ = ["create_schema", "fresh_image", "place_image", "place_scratch_copy", "stamp"]

# Header offsets of the file format "write version" and "read version": 1 = rollback
# journal, 2 = WAL (https://www.sqlite.org/fileformat2.html#database_header).
_WRITE_VERSION, _READ_VERSION = 18, 19
_WAL = 2


def stamp(con: sqlite3.Connection, version: int) -> None:
    """Write the store's identity: TMWS's application id and the schema version."""
    con.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {int(version)}")


def create_schema(con: sqlite3.Connection) -> None:
    """Create the whole current schema from its DDL snapshot and stamp it.

    The one creation code for a fresh store: the image is built by it, and ``startup`` runs
    it inside its write lock when the image cannot be used.
    """
    for statement in schema.create_statements():
        con.execute(statement)
    stamp(con, schema.SCHEMA_VERSION)


@cache
def fresh_image() -> bytes:
    """The bytes of an empty store at the current schema version, in WAL mode; built once."""
    con = sqlite3.connect(":memory:", isolation_level=None)
    try:
        con.execute("BEGIN")
        create_schema(con)
        con.execute("COMMIT")
        image = bytearray(con.serialize())
    finally:
        con.close()
    image[_WRITE_VERSION] = image[_READ_VERSION] = _WAL
    return bytes(image)


def place_image(path: Path, *, durable: bool = True) -> bool:
    """Create ``path`` from the image unless a file is there; True when ours was placed.

    False means something appeared at ``path`` meanwhile (another process's store, most
    likely): it is left as it is. ``durable=False`` skips the fsyncs, for scratch files. An
    ``OSError`` (no room, no permission, a file system without hard links) leaves nothing
    behind.
    """
    # The backup module's temporary files: locked while written, removed by the next start
    # when their writer died, and linked to their name only if it is free.
    from .backup import partial_file, publish

    with partial_file(path) as (temp, fd):
        _write_all(fd, fresh_image())
        return publish(temp, fd, [path], durable=durable) is not None


def place_scratch_copy(path: Path, template: Path) -> bool:
    """A scratch store (the pytest fixtures'): a copy of ``template``, a file placed from the
    image before; False when ``path`` exists.

    Made for speed, not for crashes: the kernel copies the file (``copy_file_range``) into
    ``path`` itself, created exclusively and private, with no temporary name, no link and no
    fsync. Only the test owning the folder places files in it; a failed copy removes the
    file. A template that is not the image's size (written to by mistake) is not copied:
    the image is written from memory instead.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away
        if not _copied(template, fd):
            _write_all(fd, fresh_image())
    except BaseException:
        path.unlink()
        raise
    finally:
        os.close(fd)
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# Where copy_file_range is missing (not Linux) or refused (some file systems, across mounts).
_NO_KERNEL_COPY = frozenset({errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP})


def _copied(template: Path, fd: int) -> bool:
    """Copy ``template`` into the empty file ``fd`` inside the kernel; False, with ``fd``
    empty again, when the kernel cannot or the template is not the image's size.

    Measured on ext4 inside a pytest run, copying the 1.3 MB image this way took 0.4-2.6 ms
    depending on load, where writing the same bytes from memory took 0.5-4 ms.
    """
    copy = getattr(os, "copy_file_range", None)  # Linux only
    if copy is None:
        return False
    done = 0
    source = os.open(template, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while step := copy(source, fd, 1 << 24, done, done):
            done += step
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY:
            raise
        done = -1
    finally:
        os.close(source)
    if done != len(fresh_image()):
        os.ftruncate(fd, 0)
        return False
    return True
