"""What ``init()``, ``verify()``, ``status`` and ``copy`` found or did, whatever the back end.

Plain dataclasses with a one-line ``summary()`` (or ``problems()``) for people; the CLI turns
them into JSON as they are. A file store fills in ``path``; a PostgreSQL store leaves it None
and names itself in ``url`` (never with its password).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import schema

__all__ = ["CopyReport", "InitAction", "InitReport", "StatusReport", "VerifyReport"]

InitAction = Literal["current", "created", "adopted", "upgraded"]


def counted(number: int, noun: str, plural: str = "") -> str:
    """``1 table``, ``2 tables``, ``100,000 rows``: a number of things, for people."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


@dataclass(frozen=True)
class InitReport:
    """What ``Store.init()`` did.

    ``action`` is ``"current"`` (nothing to do), ``"created"`` (a new file or an empty one),
    ``"adopted"`` (a TMWS file completed and stamped) or ``"upgraded"`` (migrations ran).
    """

    path: Path | None
    action: InitAction
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
            parts.append(f"{counted(len(self.tables_created), 'table')} created")
        if self.columns_added:
            parts.append(f"columns added: {', '.join(self.columns_added)}")
        if self.indexes_created:
            parts.append(f"{counted(len(self.indexes_created), 'index', 'indexes')} created")
        if self.migrations_run:
            parts.append(f"migrations run: {', '.join(map(str, self.migrations_run))}")
        if self.backup:
            parts.append(f"backup: {self.backup}")
        return "; ".join(parts)


@dataclass
class VerifyReport:
    """What ``verify()`` found. ``ok`` is True when nothing is missing and checks pass.

    Extra tables, columns and plain indexes (a user's own, ``alembic_version``, TMWS's
    redundant indexes) are listed but do not make the store wrong. ``differences`` are what
    the store holds otherwise than the models declare it (a type, nullability, a default, a
    foreign key, an index's columns or uniqueness), one line each naming ``table.column`` or
    ``table.index``; ``tolerated_differences`` are the documented TMWS deviations
    (docs/compatibility.md), listed but not counted as wrong. Triggers and views are never
    ours: any found is a problem. ``journal_mode`` and ``quick_check`` are None where they do
    not apply (PostgreSQL).
    """

    path: Path | None
    application_id: int
    schema_version: int
    journal_mode: str | None = "wal"
    missing_tables: list[str] = field(default_factory=list)
    extra_tables: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)  # "table.column"
    extra_columns: list[str] = field(default_factory=list)
    missing_indexes: list[str] = field(default_factory=list)
    extra_indexes: list[str] = field(default_factory=list)
    # "table.column: type VARCHAR(36) in the store, CHAR(32) in the models", and the like.
    differences: list[str] = field(default_factory=list)
    tolerated_differences: list[str] = field(default_factory=list)
    # "trigger NAME on TABLE" or "view NAME": SQL of someone else's that would run inside
    # the store's own statements.
    foreign_triggers_and_views: list[str] = field(default_factory=list)
    quick_check: list[str] | None = field(default_factory=list)
    foreign_key_violations: list[str] = field(default_factory=list)
    # Violations that every TMWS-written file has, listed but not counted as wrong.
    tolerated_violations: list[str] = field(default_factory=list)
    # Not problems: folders other users can reach, which the store never changes itself.
    warnings: list[str] = field(default_factory=list)
    url: str | None = None

    @property
    def ours(self) -> bool:
        """Stamped by tmws_store with the current schema version."""
        return (self.application_id, self.schema_version) == (
            schema.APPLICATION_ID,
            schema.SCHEMA_VERSION,
        )

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """One line per problem, naming the table, column or index."""
        wal = self.journal_mode in ("wal", None)
        lines = [] if wal else [f"journal mode {self.journal_mode}, not wal"]
        lines += [f"missing table {t}" for t in self.missing_tables]
        lines += [f"missing column {c}" for c in self.missing_columns]
        lines += [f"missing index {i}" for i in self.missing_indexes]
        lines += self.differences
        lines += [f"{o}: not made by TMWS or tmws_store" for o in self.foreign_triggers_and_views]
        if self.quick_check is not None and self.quick_check != ["ok"]:
            lines += [f"quick_check: {m}" for m in self.quick_check]
        lines += [f"foreign key violation: {v}" for v in self.foreign_key_violations]
        return lines


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_store`` moved: rows per table, each read back and found equal."""

    source: str
    destination: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> str:
        """One line for people."""
        tables = sum(1 for count in self.rows.values() if count)
        return (
            f"copied {counted(self.total, 'row')} of {counted(tables, 'table')} from "
            f"{self.source} to {self.destination}; every row read back and checked"
        )


@dataclass(frozen=True)
class StatusReport:
    """A quick look at a store, read without creating, completing or changing anything.

    ``tables`` counts the schema's tables present; ``other_tables`` are not ours. ``rows``,
    when asked for (``status(rows=True)``), holds the row count of each of the schema's tables
    present, all read in one statement (one snapshot, even while others write). The file's
    facts (size, journal mode, permissions, backups) are None for a PostgreSQL store.
    """

    path: Path | None
    exists: bool
    url: str | None = None
    tables: int = 0
    missing_tables: tuple[str, ...] = ()
    other_tables: tuple[str, ...] = ()
    application_id: int = 0
    schema_version: int = 0
    size_bytes: int | None = None
    journal_mode: str | None = None
    permissions: str | None = None
    directory_permissions: str | None = None
    backups: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    rows: dict[str, int] | None = None
    encrypted: bool = False  # a SQLCipher file, read with its key

    @property
    def where(self) -> str:
        """The file, or the database's URL without its password: for messages."""
        return str(self.path) if self.path is not None else str(self.url)

    @property
    def stamped(self) -> bool:
        return self.application_id == schema.APPLICATION_ID

    @property
    def newest_backup(self) -> Path | None:
        return self.backups[-1] if self.backups else None
