"""Schema version 2: indexes for the reads agents make most, and no impossible licence key.

Indexes, chosen by measurement (200,000 memories of 50 agents in 20 namespaces and 100,000
tasks, raw sqlite3, median of 30): each read below scanned an index on its filter column and
sorted in a temporary B-tree; with the new index it reads the newest rows in order.

| read | before | after |
|---|---|---|
| newest 100 memories of one agent | 13.4 ms | 1.3 ms |
| newest 100 memories of one namespace | 27.1 ms | 0.7 ms |
| newest 50 tasks of one agent | 7.0 ms | 0.5 ms |
| newest 50 tasks of one namespace | 11.0 ms | 0.4 ms |

Left out: (agent_id, namespace, created_at) for memories (1.3 to 0.5 ms; the existing
(agent_id, namespace) index already narrows it) and (assigned_agent_id, status, created_at)
for tasks (2.4 to 0.5 ms, idem): each index costs every write.

The licence key: TMWS declared ``license_keys.agent_id REFERENCES agents (id)`` but stores
the agent's id as 32 hex digits while ``agents.id`` is dashed, so with foreign keys enforced
no licence key can ever be inserted into a TMWS file. Fresh stores never had that key; an
adopted file loses it here, its table rebuilt with every other part as it was (TMWS's
declared ``UUID`` types, so every stored value keeps its storage class; its CHECK, UNIQUE
and indexes). TMWS itself reads and writes the file as before: it never relied on the key.
"""

from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, inspect
from sqlalchemy.types import UserDefinedType

from . import Migration

if TYPE_CHECKING:
    from alembic.operations import Operations

__all__ = ["MIGRATION", "NEW_INDEXES"]

# (name, table, columns): the models declare the same (models/memory.py, models/tasks.py).
NEW_INDEXES = (
    ("ix_memories_agent_created", "memories", ("agent_id", "created_at")),
    ("ix_memories_namespace_created", "memories", ("namespace", "created_at")),
    ("ix_tasks_agent_created", "tasks", ("assigned_agent_id", "created_at")),
    ("ix_tasks_namespace_created", "tasks", ("namespace", "created_at")),
)


class _Declared(UserDefinedType[Any]):
    """A column type written exactly as the file declared it (TMWS's ``UUID``).

    Rebuilt from SQLAlchemy's reflected type, ``UUID`` would come back as ``NUMERIC``: the
    same affinity, but not TMWS's text.
    """

    cache_ok = True

    def __init__(self, declared: str) -> None:
        self.declared = declared

    def get_col_spec(self, **kw: Any) -> str:
        return self.declared


def _declared_types(op: "Operations", table: str) -> dict[str, Any]:
    """Each column's type as the store declares it; on SQLite the very text of its DDL."""
    connection = op.get_bind()
    reflected = {c["name"]: c["type"] for c in inspect(connection).get_columns(table)}
    if connection.dialect.name != "sqlite":
        return reflected
    rows = connection.exec_driver_sql(f"SELECT name, type FROM pragma_table_info('{table}')")
    return {name: _Declared(text) for name, text in rows}


def _drop_the_impossible_licence_key(op: "Operations") -> None:
    connection = op.get_bind()
    keys = [
        key
        for key in inspect(connection).get_foreign_keys("license_keys")
        if key["constrained_columns"] == ["agent_id"] and key["referred_table"] == "agents"
    ]
    if not keys:
        return  # a store made by tmws_store: it never had the key
    types = _declared_types(op, "license_keys")
    # The key's column is declared again, as the file declares it, without the key; the
    # primary key's too, or the rebuild would write TMWS's UUID as NUMERIC. Everything else
    # (other columns, CHECK, UNIQUE, indexes) is reflected and rebuilt as it was.
    again = (
        Column("id", types["id"], primary_key=True, nullable=False),
        Column("agent_id", types["agent_id"], nullable=False),
    )
    with op.batch_alter_table("license_keys", recreate="always", reflect_args=again):
        pass


def upgrade(op: "Operations") -> None:
    for name, table, columns in NEW_INDEXES:
        # if_not_exists: a file may carry one already (a copy of a newer store, unstamped).
        op.create_index(name, table, list(columns), if_not_exists=True)
    _drop_the_impossible_licence_key(op)


MIGRATION = Migration(2, upgrade)
