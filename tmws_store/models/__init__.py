"""Every table module, imported here so that importing the package registers all tables.

This is the one registration point: ``tmws_store.schema`` creates the tables of
``TMWSModel.metadata``, which is complete as soon as this package is imported. A test checks
that every module in this folder is imported here.
"""

from . import (
    agents,
    audit,
    learning,
    licenses,
    mcp,
    memory,
    personas,
    phases,
    skills,
    tasks,
    tokens,
    tools,
    traces,
    users,
    verification,
    workflows,
)
from ._base import TMWSModel

__all__ = [
    "TMWSModel",
    "agents",
    "audit",
    "learning",
    "licenses",
    "mcp",
    "memory",
    "personas",
    "phases",
    "skills",
    "tasks",
    "tokens",
    "tools",
    "traces",
    "users",
    "verification",
    "workflows",
]
