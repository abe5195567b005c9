"""tmws_store: the TMWS database (``~/.tmws/data/tmws.db``), its 42 tables and its Store.

Every table class is also the Pydantic schema of its rows::

    from tmws_store import Agent, Memory, Store

    with Store() as store:
        store.init()
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
"""

from .errors import (
    DatabaseLockedError,
    ForeignDatabaseError,
    MigrationError,
    NewerSchemaError,
    NotADatabaseError,
    ReadOnlyStoreError,
    StorageFullError,
    StoreError,
    UnsupportedURLError,
)
from .models import TMWSModel
from .models.agents import AccessLevel, Agent, AgentNamespace, AgentStatus, AgentTeam
from .models.memory import Memory, MemoryConsolidation, MemoryPattern, MemorySharing
from .schema import APPLICATION_ID, SCHEMA_VERSION
from .startup import InitReport
from .store import Store

__version__ = "0.1.0"

__all__ = [
    "APPLICATION_ID",
    "AccessLevel",
    "Agent",
    "AgentNamespace",
    "AgentStatus",
    "AgentTeam",
    "DatabaseLockedError",
    "ForeignDatabaseError",
    "InitReport",
    "Memory",
    "MemoryConsolidation",
    "MemoryPattern",
    "MemorySharing",
    "MigrationError",
    "NewerSchemaError",
    "NotADatabaseError",
    "ReadOnlyStoreError",
    "SCHEMA_VERSION",
    "StorageFullError",
    "Store",
    "StoreError",
    "TMWSModel",
    "UnsupportedURLError",
]
