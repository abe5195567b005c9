"""``Store.init()``: create, complete, upgrade or refuse a database file.

The steps, and why each is where it is (measurements in the project's reliability notes):

1. Look before touching: ``PRAGMA application_id`` and ``PRAGMA user_version`` read two
   numbers from the file header. "Ours, current" is the warm path: done, nothing else runs.
   (One ``SELECT`` over the pragma table-functions would make SQLite parse all 299 schema
   entries first, and asking for the journal mode opens the WAL index: each costs about a
   millisecond, five times the whole warm path. WAL mode needs no check here: it is set
   before the stamp and is persistent in the file; ``verify()`` reports it.)
2. Refuse what is not ours (another application id, a newer schema version, a SQLite file
   whose tables are not TMWS's, something that is not SQLite) while the file is still
   byte-for-byte as we found it. A completion that could not succeed (a NOT NULL column
   with no default to give existing rows) is also found here, before any write.
3. Switch to WAL, outside any transaction (SQLite refuses inside one), retrying while another
   process holds the file: this switch fails at once instead of waiting for the timeout.
4. ``BEGIN IMMEDIATE``: the write lock, so exactly one process creates or completes. Look
   again inside it, since another process may have finished meanwhile; back up a file with
   data first (through a second connection: backing up on the locked one never returns);
   then create what is missing and stamp the identity, all in this one transaction. A crash
   anywhere leaves the old state or the finished one.
5. Later schema versions: each migration runs in its own transaction with its version bump.
"""

import errno
import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .backup import backup_beside, remove_partial_backups
from .errors import (
    DatabaseLockedError,
    ForeignDatabaseError,
    NewerSchemaError,
    NotADatabaseError,
    ReadOnlyStoreError,
    StoreError,
    from_sqlite,
)
from .migrations import MIGRATIONS, Migration
from .paths import Location, create_private_file, ensure_private_dirs, tighten

__all__ = ["IDENTITY_QUERIES", "InitReport", "connect", "initialise"]

# The warm path runs exactly these, and nothing else.
IDENTITY_QUERIES = ("PRAGMA application_id", "PRAGMA user_version")


@dataclass(frozen=True)
class InitReport:
    """What ``Store.init()`` did.

    ``action`` is ``"current"`` (nothing to do), ``"created"`` (a new file or an empty one),
    ``"adopted"`` (a TMWS file completed and stamped) or ``"upgraded"`` (migrations ran).
    ``path`` is the file; for a PostgreSQL store it is None and ``url`` names the database
    (without its password).
    """

    path: Path | None
    action: str
    schema_version: int
    tables_created: tuple[str, ...] = ()
    columns_added: tuple[str, ...] = ()
    indexes_created: tuple[str, ...] = ()
    migrations_run: tuple[int, ...] = ()
    backup: Path | None = None
    url: str | None = None

    def summary(self) -> str:
        """One line for people."""
        where = self.path if self.path is not None else self.url
        parts = [f"{where}: {self.action}, schema version {self.schema_version}"]
        if self.tables_created:
            parts.append(f"{len(self.tables_created)} tables created")
        if self.columns_added:
            parts.append(f"columns added: {', '.join(self.columns_added)}")
        if self.indexes_created:
            parts.append(f"{len(self.indexes_created)} indexes created")
        if self.migrations_run:
            parts.append(f"migrations run: {', '.join(map(str, self.migrations_run))}")
        if self.backup:
            parts.append(f"backup: {self.backup}")
        return "; ".join(parts)


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A plain sqlite3 connection in autocommit mode: every BEGIN is ours."""
    return sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)


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


def _classify(con: sqlite3.Connection, path: Path, app_id: int, version: int, target: int) -> str:
    """``"fresh"``, ``"adopt"`` or ``"upgrade"``; raises for files that are not ours."""
    if app_id == schema.APPLICATION_ID:
        if version > target:
            raise NewerSchemaError(
                f"{path} has schema version {version}, written by a newer tmws_store; this "
                f"version knows up to {target}. Upgrade tmws_store (pip install -U tmws-store); "
                "the file was left untouched.",
                path=path,
            )
        return "upgrade" if version < target else "adopt"
    if app_id != 0:
        raise ForeignDatabaseError(
            f"{path} belongs to another program (application_id {app_id:#x}); tmws_store left "
            "it untouched. Point TMWS_HOME or TMWS_DATABASE_URL at another file.",
            path=path,
        )
    objects = dict(
        con.execute(
            "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        )
    )
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
        time.sleep(random.uniform(0.005, 0.03))  # jitter, so retrying processes spread out


def _stamp(con: sqlite3.Connection, version: int) -> None:
    con.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {int(version)}")


def _identity(con: sqlite3.Connection) -> tuple[int, int]:
    app_id, version = (con.execute(query).fetchall()[0][0] for query in IDENTITY_QUERIES)
    return int(app_id), int(version)


def _complete(con: sqlite3.Connection, location: Location, kind: str, target: int) -> InitReport:
    """Inside the write lock: back up a file with data, add what is missing, stamp.

    ``kind`` is ``"fresh"`` (create everything), ``"adopt"`` (back up, then complete) or
    ``"after-migrations"`` (complete what migrations left out; the backup is already made).
    """
    if kind == "fresh":  # everything is missing: no need to compare table by table
        plan = schema.Completion(
            tables=list(schema.snapshot_tables()),
            statements=list(schema.create_statements()),
        )
    else:
        plan = schema.plan_completion(con)
    backup = None
    if kind == "adopt":
        backup = backup_beside(location.path, reason="before-adopt")
    for statement in plan.statements:
        con.execute(statement)
    _stamp(con, target)
    return InitReport(
        path=location.path,
        action="created" if kind == "fresh" else "adopted",
        schema_version=target,
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


def _upgrade(
    con: sqlite3.Connection,
    location: Location,
    version: int,
    migrations: Sequence[Migration],
    target: int,
) -> InitReport:
    backup = backup_beside(location.path, reason=f"before-upgrade-from-v{version}")
    ran: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if not version < migration.version <= target:
            continue

        def step(migration: Migration = migration) -> None:
            if _identity(con)[1] >= migration.version:
                return None  # another process ran it meanwhile
            migration.apply(con)
            con.execute(f"PRAGMA user_version = {migration.version}")
            ran.append(migration.version)
            return None

        _write_locked(con, step)
    report = _write_locked(con, lambda: _complete(con, location, "after-migrations", target))
    assert report is not None
    return InitReport(
        path=location.path,
        action="upgraded",
        schema_version=target,
        tables_created=report.tables_created,
        columns_added=report.columns_added,
        indexes_created=report.indexes_created,
        migrations_run=tuple(ran),
        backup=backup,
    )


def initialise(
    location: Location,
    *,
    busy_timeout: float,
    migrations: Sequence[Migration] = MIGRATIONS,
    target: int = schema.SCHEMA_VERSION,
) -> InitReport:
    """Bring the file at ``location`` to schema version ``target``; see the module docstring."""
    path = location.path
    _check_path(path)
    try:
        if not path.exists():
            ensure_private_dirs(location)
            create_private_file(path)
        _check_access(path)
        con = connect(path, busy_timeout)
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
        raise from_sqlite(exc, path, "opening") or StoreError(str(exc), path=path) from exc
    try:
        return _initialise_on(con, location, busy_timeout, migrations, target)
    except sqlite3.Error as exc:
        raise from_sqlite(exc, path, "initialising") or StoreError(
            f"{path}: {exc}", path=path
        ) from exc
    finally:
        con.close()


def _initialise_on(
    con: sqlite3.Connection,
    location: Location,
    busy_timeout: float,
    migrations: Sequence[Migration],
    target: int,
) -> InitReport:
    path = location.path
    app_id, version = _identity(con)
    if app_id == schema.APPLICATION_ID and version == target:
        return InitReport(path=path, action="current", schema_version=target)

    # Slow path. Nothing below runs SQL functions named by the file's own schema.
    con.execute("PRAGMA trusted_schema = OFF")
    kind = _classify(con, path, app_id, version, target)
    if kind == "adopt":
        schema.plan_completion(con)  # raises now, before any write, if it cannot succeed
    ensure_private_dirs(location)
    for suffix in ("", "-wal", "-shm"):
        tighten(Path(f"{path}{suffix}"), 0o600)
    # Half-made copies of killed backups, never those still being written. Here, not on the
    # warm path: that one stays two header reads.
    remove_partial_backups(path.parent)
    _switch_to_wal(con, busy_timeout, path)

    if kind == "upgrade":
        return _upgrade(con, location, version, migrations, target)

    def create_or_adopt() -> InitReport | None:
        app_id, version = _identity(con)
        if app_id == schema.APPLICATION_ID and version == target:
            return None  # another process finished first
        return _complete(con, location, _classify(con, path, app_id, version, target), target)

    report = _write_locked(con, create_or_adopt)
    return report or InitReport(path=path, action="current", schema_version=target)
