"""Schema migrations: one ordered chain, each step written once for SQLite and PostgreSQL.

A step is a function of an Alembic ``Operations`` object bound to the store's connection
inside the step's own transaction (``op.create_index``, ``op.batch_alter_table``, ...):
Alembic as a library, without its ``alembic_version`` table (TMWS files already carry one of
their own, which stays as it is) and without its script folder. Each back end runs the chain
under its start-up lock and moves its stamp in the same transaction as the step, so a crash
leaves the old version whole or the new one (``backends/sqlite/startup.py``,
``backends/postgresql.py``). Alembic is imported only when a step runs: a current store
never loads it.

Version 1 is TMWS 2.4.18's schema, which a TMWS file is completed to before the chain runs.
To change the schema, follow ``docs/schema-changes.md``: change the models, write the next
snapshot (``python -m tests.test_schema_drift``), add a module ``vN.py`` with its ``MIGRATION``
and list it here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.operations import Operations
    from sqlalchemy import Connection

__all__ = ["MIGRATIONS", "Migration", "operations"]


@dataclass(frozen=True)
class Migration:
    """One step: ``upgrade`` brings a store from ``version - 1`` to ``version``."""

    version: int
    upgrade: "Callable[[Operations], None]"


def operations(connection: "Connection") -> "Operations":
    """Alembic's operations on ``connection``, in the transaction the caller holds."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    return Operations(MigrationContext.configure(connection))


def _chain() -> tuple[Migration, ...]:
    from . import v2

    return (v2.MIGRATION,)


MIGRATIONS: tuple[Migration, ...] = _chain()
