"""``Store.init()``: create, complete, upgrade or refuse a database file.

The steps, and why each is where it is (measurements in the project's reliability notes):

1. Look before touching: ``PRAGMA application_id`` and ``PRAGMA user_version`` read two
   numbers from the file header. "Ours, current" is the warm path: done, nothing else runs.
   A plain file with no ``-wal`` pages and no ``-journal`` beside it has those numbers in its
   first 100 bytes, read there without opening it in SQLite (``header_identity``): 30
   microseconds instead of 300, most of which went on creating and removing ``-wal`` and
   ``-shm``. Anything else asks SQLite.
   (One ``SELECT`` over the pragma table-functions would make SQLite parse all 299 schema
   entries first, and asking for the journal mode opens the WAL index: each costs about a
   millisecond, five times the whole warm path. WAL mode needs no check here: it is set
   before the stamp and is persistent in the file; ``verify()`` reports it.)
2. Refuse what is not ours (another application id, a newer schema version, a SQLite file
   whose tables are not TMWS's, something that is not SQLite) while the file is still
   byte-for-byte as we found it. A file with data to adopt or upgrade is also refused when
   ``PRAGMA quick_check`` finds it damaged (about a millisecond on a TMWS file: writing into
   a damaged b-tree spreads the damage, and the backup would keep it) or when it holds a
   trigger or view we did not make (its SQL would run inside the store's writes). A
   completion that could not succeed (a NOT NULL column with no default to give existing
   rows) is also found here, before any write.
3. Switch to WAL, outside any transaction (SQLite refuses inside one), retrying while another
   process holds the file: this switch fails at once instead of waiting for the timeout.
4. ``BEGIN IMMEDIATE``: the write lock, so exactly one process creates or completes. Look
   again inside it, since another process may have finished meanwhile; back up a file with
   data first (through a second connection: backing up on the locked one never returns);
   then create what is missing and stamp the identity, all in this one transaction. A crash
   anywhere leaves the old state or the finished one.
5. Later schema versions: each migration runs in its own transaction with its version bump.

A missing file skips all of this: it becomes the finished image of an empty current store,
linked into place only if still missing (``image.py``). Steps 1 to 4 create a fresh store
only where the image cannot go: an empty file at the path, a file system refusing the link.
"""

import errno
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ... import schema
from ...errors import (
    DatabaseLockedError,
    ForeignDatabaseError,
    NewerSchemaError,
    NotADatabaseError,
    ReadOnlyStoreError,
    StorageFullError,
)
from ...paths import Location, create_private_file, ensure_private_dirs, tighten
from ...reports import InitAction, InitReport
from .image import create_schema, place_image, stamp

if TYPE_CHECKING:
    from ...encryption import DatabaseKey
    from ...migrations import Migration

from .connection import (
    connect,
    foreign_triggers_and_views,
    header_identity,
    raw_header_identity,
    read_identity,
    schema_objects,
    store_error,
)

__all__ = ["classify", "initialise"]


# The backup module is imported on the slow path only: it brings ``secrets`` (hashlib and
# OpenSSL), which the warm path never needs. These two stand in for its functions here, under
# the same names, so a test can still replace ``startup.backup_beside``.


def backup_beside(source: Path, *, reason: str, key: "DatabaseKey | None" = None) -> Path:
    """``backup.backup_beside``: a copy of ``source`` beside it, named for ``reason``, keyed
    with the store's ``key`` when it is encrypted."""
    from .backup import backup_beside as beside

    return beside(source, reason=reason, key=key)


def remove_partial_backups(folder: Path) -> list[Path]:
    """``backup.remove_partial_backups``: the half-made copies of killed backups, removed."""
    from .backup import remove_partial_backups as remove

    return remove(folder)


def _check_path(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        # Most often the disk holding the file is not mounted, or the file was moved: a new,
        # empty database at the target would hide the user's data behind a successful start.
        raise NotADatabaseError(
            f"{path} is a symbolic link to {os.readlink(path)}, which does not exist (is the "
            "disk holding it mounted?). tmws_store creates no database through a broken link: "
            "create the file there (or remove the link) and try again.",
            path=path,
        )
    if path.is_dir():
        raise NotADatabaseError(f"{path} is a directory, not a database file", path=path)
    if path.exists() and not path.is_file():
        raise NotADatabaseError(f"{path} is not a regular file", path=path)


def _check_access(path: Path) -> None:
    """Refuse, before SQLite opens it, a file we could not read or could not keep writing.

    SQLite would open a read-only file without complaint and fail at the first write; in WAL
    mode it also needs to create ``-wal`` and ``-shm`` beside the file.
    """
    if not os.access(path, os.R_OK):
        raise NotADatabaseError(
            f"{path} cannot be read by this user; tmws_store left it untouched. Fix its "
            "permissions or point TMWS_HOME / TMWS_DATABASE_URL elsewhere.",
            path=path,
        )
    # SQLite follows a symlink and keeps -wal and -shm beside the real file, not the link.
    folder = Path(os.path.realpath(path)).parent if path.is_symlink() else path.parent
    for target, what in ((path, "the file"), (folder, f"its folder {folder}")):
        if not os.access(target, os.W_OK):
            raise ReadOnlyStoreError(
                f"{path}: {what} is read-only for this user, and the store must be able to "
                "write (WAL mode keeps -wal and -shm files beside it). Nothing was changed.",
                path=path,
            )


def _refuse_stamp(path: Path, app_id: int, version: int, target: int) -> None:
    """Refuse a file by its stamp alone: another program's, or a newer tmws_store's."""
    if app_id == schema.APPLICATION_ID and version > target:
        raise NewerSchemaError(
            f"{path} has schema version {version}, written by a newer tmws_store; this "
            f"version knows up to {target}. Upgrade tmws_store; "
            "the file was left untouched.",
            path=path,
        )
    if app_id not in (0, schema.APPLICATION_ID):
        raise ForeignDatabaseError(
            f"{path} belongs to another program (application_id {app_id:#x}); tmws_store left "
            "it untouched. Point TMWS_HOME or TMWS_DATABASE_URL at another file.",
            path=path,
        )


def classify(con: sqlite3.Connection, path: Path, app_id: int, version: int, target: int) -> str:
    """``"fresh"``, ``"adopt"`` or ``"upgrade"``; raises for files that are not ours."""
    _refuse_stamp(path, app_id, version, target)
    if app_id == schema.APPLICATION_ID:
        if version < schema.BASELINE_VERSION:
            # Our stamp with no version of ours (set by another tool, or by hand): nothing
            # says which tables it has, so it is completed as a TMWS file is.
            return "adopt"
        return "upgrade" if version < target else "adopt"
    objects = schema_objects(con)
    if not objects:
        return "fresh"
    tables = {name for name, kind in objects.items() if kind == "table"}
    if tables & schema.table_names():
        return "adopt"
    # Tables, views or triggers, none of them a TMWS table: someone else's database.
    shown = ", ".join(sorted(objects)[:5]) + (", ..." if len(objects) > 5 else "")
    raise ForeignDatabaseError(
        f"{path} is a SQLite database of another program ({shown}; no TMWS table); "
        "tmws_store left it untouched. Point TMWS_HOME or TMWS_DATABASE_URL at another file.",
        path=path,
    )


def refuse_unless_ours(
    con: sqlite3.Connection, path: Path, target: int = schema.SCHEMA_VERSION
) -> None:
    """Refuse, as ``init()`` would, a file that is not tmws_store's to rewrite.

    Another program's, one written by a newer tmws_store (than ``target``), or one holding
    triggers or views we do not make. For the conversions (encrypt, decrypt), which rewrite
    a whole file without adopting or completing it, and for init()'s look before it opens a
    file it may have to recover (``_refuse_without_recovery``).
    """
    app_id, version = read_identity(con)
    if classify(con, path, app_id, version, target) != "fresh":
        _refuse_schema_code(con, path)


def _refuse_damage(con: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that ``PRAGMA quick_check`` finds damaged, naming its first findings."""
    try:
        found = [row[0] for row in con.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        # A page quick_check cannot even read (a table's root overwritten) stops it at once.
        if not getattr(exc, "sqlite_errorname", "").startswith("SQLITE_CORRUPT"):
            raise
        found = [str(exc)]
    if found == ["ok"]:
        return
    # A finding may span lines ("*** in database main ***" first); the message is one line.
    lines = [
        line
        for finding in found
        for line in finding.splitlines()
        if line.strip() and not line.startswith("*** in database")
    ]
    shown = "; ".join(lines[:3]) + ("; ..." if len(lines) > 3 else "")
    raise NotADatabaseError(
        f"{path} is damaged (PRAGMA quick_check: {shown}); tmws_store left it untouched, "
        "with no backup made. Restore a backup, or recover what is readable with "
        f"`sqlite3 {path} .recover` into a new file.",
        path=path,
    )


def _refuse_schema_code(con: sqlite3.Connection, path: Path) -> None:
    """Refuse a file holding a trigger or view we did not make.

    ``trusted_schema = OFF`` stops such SQL calling functions, not running an UPDATE or a
    DELETE: a trigger on agents could empty memories whenever an agent is renamed.
    """
    found = foreign_triggers_and_views(con)
    if not found:
        return
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    raise ForeignDatabaseError(
        f"{path} holds {shown}, which neither TMWS nor tmws_store creates: their SQL would "
        "run inside the store's own writes, so tmws_store left the file untouched. Drop them "
        "if you know what they are, or point TMWS_HOME / TMWS_DATABASE_URL elsewhere.",
        path=path,
    )


def _refuse_before_writing(con: sqlite3.Connection, path: Path, kind: str) -> None:
    """Every refusal of a file with data to adopt or upgrade, while it is still untouched."""
    if kind == "fresh":  # no page and no schema of anyone's to check
        return
    _refuse_damage(con, path)  # first: the reads below trust the file's pages
    if kind == "adopt":
        # Raises if the completion cannot succeed; it also names a view standing where
        # one of our tables belongs better than the check below would.
        from .completion import plan_completion

        plan_completion(con)
    _refuse_schema_code(con, path)


def _switch_to_wal(con: sqlite3.Connection, busy_timeout: float, path: Path) -> None:
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            if mode == "wal" or con.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError as exc:
            if not getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY"):
                raise
        if time.monotonic() > deadline:
            raise DatabaseLockedError(
                f"could not switch {path} to WAL mode: another process kept it busy for "
                f"{busy_timeout} s. Nothing was changed; try again.",
                path=path,
            )
        import random  # here, not at the top: the warm path never retries

        time.sleep(random.uniform(0.005, 0.03))  # jitter, so retrying processes spread out


def _complete(con: sqlite3.Connection, location: Location, kind: str) -> InitReport:
    """Inside the write lock: create the schema, or back up and complete a TMWS file; stamp.

    ``kind`` is ``"fresh"`` (create the current version whole, from its snapshot) or
    ``"adopt"`` (back up, then complete to the baseline, version 1, which the migrations
    then bring to the current version).
    """
    if kind == "fresh":  # everything is missing: no need to compare table by table
        create_schema(con)
        return InitReport(
            path=location.path,
            action="created",
            schema_version=schema.SCHEMA_VERSION,
            tables_created=schema.snapshot_tables(),
        )
    # Imported here: comparing needs the models and SQLAlchemy, a fresh file neither.
    from .completion import plan_completion

    plan = plan_completion(con)
    # The backup, and the migrations that follow (a table rebuilt beside its old pages):
    # checked now, before the first write, as for any upgrade.
    _require_room_for(location.path, "adopting and upgrading", 2 * _size_on_disk(location.path))
    backup = backup_beside(location.path, reason="before-adopt", key=location.key)
    for statement in plan.statements:
        con.execute(statement)
    stamp(con, schema.BASELINE_VERSION)
    return InitReport(
        path=location.path,
        action="adopted",
        schema_version=schema.BASELINE_VERSION,
        tables_created=tuple(plan.tables),
        columns_added=tuple(plan.columns),
        indexes_created=tuple(plan.indexes),
        backup=backup,
    )


def _write_locked(
    con: sqlite3.Connection, work: Callable[[], InitReport | None]
) -> InitReport | None:
    con.execute("BEGIN IMMEDIATE")
    try:
        report = work()
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return report


def _require_room_for(path: Path, what: str, need: int) -> None:
    """Refuse, before writing, an upgrade the disk has no room for, saying how much it needs."""
    import shutil  # here, not at the top: it brings zlib, bz2 and lzma, unused on the warm path

    free = shutil.disk_usage(path.parent).free
    if free < need:
        raise StorageFullError(
            f"{path}: {what} needs about {need:,} bytes free beside it and the disk has "
            f"{free:,}; nothing was changed. Free some space and start again.",
            path=path,
        )


def _size_on_disk(path: Path) -> int:
    """The file and its -wal: what a backup copies at most."""
    files = (path, Path(f"{path}-wal"))
    return sum(file.stat().st_size for file in files if file.exists())


def _migrate(
    con: sqlite3.Connection,
    location: Location,
    migrations: "Sequence[Migration] | None",
    target: int,
    backup: Path | None,
) -> tuple[tuple[int, ...], Path | None]:
    """Run every migration the file lacks, each in its own transaction with its stamp.

    Each step looks again inside the write lock, so of processes starting at once exactly
    one runs it. The first step a process runs backs the file up first (unless ``backup``
    is one made just now), also inside the lock: a process whose steps were all run by
    another makes no copy. Returns the versions run here, and the backup.
    """
    path = location.path
    version = read_identity(con)[1]
    if version >= target:
        return (), backup  # a file just created or completed to the target needs no step
    from ...migrations import MIGRATIONS  # only now: a current file needs no migration code
    from .migrate import run_step

    chain = MIGRATIONS if migrations is None else migrations
    steps = sorted((m for m in chain if version < m.version <= target), key=_version)
    ran: list[int] = []
    for migration in steps:

        def step(migration: "Migration" = migration) -> None:
            nonlocal backup
            now = read_identity(con)[1]
            if now >= migration.version:
                return None  # another process ran it meanwhile
            # Looked for before the lock too; a trigger or view added meanwhile would run
            # inside this step's writes.
            _refuse_schema_code(con, path)
            if backup is None:
                # A backup, and a table rebuilt beside its old pages: each at most the
                # file's size. Checked before anything is written.
                _require_room_for(path, f"upgrading from version {now}", 2 * _size_on_disk(path))
                backup = backup_beside(path, reason=f"before-upgrade-from-v{now}", key=location.key)
            run_step(con, path, migration)
            con.execute(f"PRAGMA user_version = {migration.version}")
            ran.append(migration.version)
            return None

        _write_locked(con, step)
    return tuple(ran), backup


def _version(migration: "Migration") -> int:
    return migration.version


def initialise(
    location: Location,
    *,
    busy_timeout: float,
    migrations: "Sequence[Migration] | None" = None,
    target: int = schema.SCHEMA_VERSION,
) -> InitReport:
    """Bring the file at ``location`` to schema version ``target``; see the module docstring."""
    path = location.path
    _check_path(path)
    try:
        if not path.exists():
            ensure_private_dirs(location)
            # The image is plain bytes: an encrypted store is made by the DDL path, keyed.
            plain = location.key is None
            if plain and target == schema.SCHEMA_VERSION and _created_from_image(path):
                return InitReport(
                    path=path,
                    action="created",
                    schema_version=target,
                    tables_created=schema.snapshot_tables(),
                )
            create_private_file(path)
        _check_access(path)
        if location.key is None:
            identity = header_identity(path)
            if identity == (schema.APPLICATION_ID, target):
                return InitReport(path=path, action="current", schema_version=target)
            if identity is None:  # a -wal holding pages, a -journal, a link: see below
                _refuse_without_recovery(path, target)
        con = connect(path, busy_timeout, location.key)
    except PermissionError as exc:
        raise ReadOnlyStoreError(
            f"cannot create {path}: {exc.strerror} ({exc.filename}). Make the folder writable "
            "by this user, or point TMWS_HOME / TMWS_DATABASE_URL elsewhere.",
            path=path,
        ) from exc
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise ReadOnlyStoreError(
                f"cannot create {path}: the file system is read-only", path=path
            ) from exc
        raise NotADatabaseError(f"cannot create or open {path}: {exc}", path=path) from exc
    except sqlite3.Error as exc:
        raise store_error(exc, path, "opening") from exc
    try:
        return _initialise_on(con, location, busy_timeout, migrations, target)
    except sqlite3.Error as exc:
        raise store_error(exc, path, "initialising") from exc
    finally:
        con.close()


def _refuse_without_recovery(path: Path, target: int) -> None:
    """Refuse a file that is not ours through a read-only connection, before a writable one
    recovers it.

    The last writable connection to close checkpoints a ``-wal`` into the file and deletes
    it, and the first to read rolls back a hot ``-journal``: a refused file of another
    program (or of a newer tmws_store) would be left changed, not "untouched". A read-only
    connection does neither. One that cannot read without recovery (a hot journal) raises
    a sqlite3 error here: the stamp in the file's own header then decides what it can (a
    journal's rollback does not change who the file belongs to), and the writable path the
    rest, as before.
    """
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        con.execute("PRAGMA trusted_schema = OFF")
        refuse_unless_ours(con, path, target)
    except sqlite3.Error:
        stamp = raw_header_identity(path)
        if stamp is not None:
            _refuse_stamp(path, *stamp, target)
    finally:
        con.close()


def _created_from_image(path: Path) -> bool:
    """Place the fresh-store image at ``path``; False sends the caller to the DDL path.

    False when a file appeared there meanwhile (another process won: the path for an
    existing file takes over) and when the image could not be written (no room, no hard
    links): the DDL path then meets the same condition and reports it as it always has.
    """
    # Temporary images of killed processes: a crash before the link leaves one, no target.
    remove_partial_backups(path.parent)
    try:
        return place_image(path)
    except OSError:
        return False


def _initialise_on(
    con: sqlite3.Connection,
    location: Location,
    busy_timeout: float,
    migrations: "Sequence[Migration] | None",
    target: int,
) -> InitReport:
    path = location.path
    app_id, version = read_identity(con)
    if app_id == schema.APPLICATION_ID and version == target:
        return InitReport(path=path, action="current", schema_version=target)

    # Slow path. Nothing below runs SQL functions named by the file's own schema.
    con.execute("PRAGMA trusted_schema = OFF")
    kind = classify(con, path, app_id, version, target)
    _refuse_before_writing(con, path, kind)
    ensure_private_dirs(location)
    for suffix in ("", "-wal", "-shm"):
        tighten(Path(f"{path}{suffix}"), 0o600)
    # Half-made copies of killed backups, never those still being written. Here, not on the
    # warm path: that one stays two header reads.
    remove_partial_backups(path.parent)
    _switch_to_wal(con, busy_timeout, path)

    if kind == "upgrade":
        ran, backup = _migrate(con, location, migrations, target, None)
        return InitReport(
            path=path,
            action="upgraded",
            schema_version=target,
            migrations_run=ran,
            backup=backup,
        )

    def create_or_adopt() -> InitReport | None:
        app_id, version = read_identity(con)
        if app_id == schema.APPLICATION_ID and version >= schema.BASELINE_VERSION:
            return None  # another process created or adopted it meanwhile
        kind = classify(con, path, app_id, version, target)
        if kind != "fresh":
            _refuse_schema_code(con, path)  # again: one may have been added before our lock
        return _complete(con, location, kind)

    report = _write_locked(con, create_or_adopt)
    ran, backup = _migrate(con, location, migrations, target, report.backup if report else None)
    if report is None:  # another process created or adopted it: at most migrations were ours
        action: InitAction = "upgraded" if ran else "current"
        return InitReport(
            path=path, action=action, schema_version=target, migrations_run=ran, backup=backup
        )
    return replace(report, schema_version=target, migrations_run=ran)
