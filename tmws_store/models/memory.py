"""Memories and what is built on them: consolidations, patterns and sharing grants.

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``memories``: no ``ix_memory_expires``; it duplicates ``ix_memories_expires_at`` exactly.
- ``memories.parent_memory_id`` and ``memory_consolidations.consolidated_memory_id`` get an
  index: they are foreign keys, and without one every check of the key scans the table.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field

from ..types import UTCDateTime, utc_now
from ._base import (
    TMWSModel,
    created_at_field,
    dict_field,
    enum_field,
    id_field,
    list_field,
    metadata_field,
    updated_at_field,
)
from .agents import AccessLevel


class Memory(TMWSModel, table=True):
    """One memory of an agent. Its vector lives in ChromaDB; only the model name is here."""

    __tablename__ = "memories"
    __table_args__ = (
        Index("ix_memory_access_level", "access_level", "agent_id"),
        Index("ix_memory_accessed", "accessed_at", "access_count"),
        Index("ix_memory_agent_namespace", "agent_id", "namespace"),
        Index("ix_memory_importance", "importance_score", "relevance_score"),
        # Schema v2: the newest memories of an agent or a namespace (migrations/v2.py).
        Index("ix_memories_agent_created", "agent_id", "created_at"),
        Index("ix_memories_namespace_created", "namespace", "created_at"),
    )

    content: str = Field(sa_type=Text)
    summary: str | None = Field(default=None, sa_type=Text)
    agent_id: str = Field(sa_type=Text, index=True)
    namespace: str = Field(sa_type=Text, index=True)
    embedding_model: str = Field(default="zylonai/multilingual-e5-large", sa_type=Text)
    embedding_dimension: int = 1024
    access_level: AccessLevel = enum_field(AccessLevel.PRIVATE, index=True)
    shared_with_agents: list[Any] = list_field()
    context: dict[str, Any] = dict_field()
    tags: list[Any] = list_field()
    source_url: str | None = Field(default=None, sa_type=Text)
    importance_score: float = 0.5
    relevance_score: float = 0.5
    access_count: int = 0
    learning_weight: float = 1.0
    pattern_ids: list[Any] = list_field()
    accessed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    version: int = 1
    parent_memory_id: str | None = Field(
        default=None, max_length=36, sa_type=String(36), foreign_key="memories.id", index=True
    )
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()


class MemoryConsolidation(TMWSModel, table=True):
    """A record of several memories consolidated into one."""

    __tablename__ = "memory_consolidations"

    source_memory_ids: list[Any] = list_field(required=True)
    consolidated_memory_id: str = Field(
        max_length=36, sa_type=String(36), foreign_key="memories.id", index=True
    )
    consolidation_type: str = Field(sa_type=Text)
    agent_id: str = Field(sa_type=Text, index=True)
    consolidation_metadata: dict[str, Any] = dict_field()
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    id: str = id_field()
    updated_at: datetime = updated_at_field()


class MemoryPattern(TMWSModel, table=True):
    """A pattern found across an agent's memories."""

    __tablename__ = "memory_patterns"
    __table_args__ = (
        Index("ix_pattern_agent_type", "agent_id", "pattern_type"),
        Index("ix_pattern_confidence", "confidence", "frequency"),
    )

    pattern_type: str = Field(sa_type=Text)
    agent_id: str = Field(sa_type=Text, index=True)
    namespace: str = Field(sa_type=Text, index=True)
    pattern_data: dict[str, Any] = dict_field(required=True)
    confidence: float
    frequency: int = 1
    memory_ids: list[Any] = list_field()
    is_active: bool = Field(default=True, index=True)
    last_triggered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()


class MemorySharing(TMWSModel, table=True):
    """A grant of one memory to another agent (key: memory, grantee, id)."""

    __tablename__ = "memory_sharing"
    __table_args__ = (
        Index("ix_sharing_agent", "shared_with_agent_id", "shared_at"),
        Index("ix_sharing_expires", "expires_at"),
    )

    memory_id: str = Field(
        primary_key=True, max_length=36, sa_type=String(36), foreign_key="memories.id"
    )
    shared_with_agent_id: str = Field(primary_key=True, sa_type=Text)
    permission: str = Field(default="read", sa_type=Text)
    shared_by_agent_id: str = Field(sa_type=Text)
    shared_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
