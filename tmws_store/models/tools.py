"""Tool discovery: discovered tools, their dependencies, running instances and verifications.

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``tool_dependencies.depends_on_tool_id`` gets an index: it is a foreign key.
- ``tool_instances``: no ``idx_tool_instances_status``; it duplicates
  ``ix_tool_instances_status`` exactly.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field

from ..types import UTCDateTime, utc_now
from ._base import (
    TMWSModel,
    created_at_field,
    dict_field,
    id_field,
    metadata_field,
    relationship,
    updated_at_field,
)


class DiscoveredTool(TMWSModel, table=True):
    """A tool (MCP server, CLI, API, library) found in a namespace."""

    __tablename__ = "discovered_tools"
    __table_args__ = (
        Index("idx_discovered_tools_category_active", "category", "is_active"),
        Index(
            "idx_discovered_tools_category_namespace",
            "category",
            "namespace",
            "is_active",
        ),
        Index("idx_discovered_tools_namespace_active", "namespace", "is_active"),
    )

    tool_id: str = Field(max_length=100, unique=True, index=True)
    name: str = Field(max_length=100)
    category: str = Field(max_length=50, index=True)
    source_path: str = Field(max_length=500)
    version: str = Field(max_length=20)
    tool_metadata: dict[str, Any] = dict_field()
    namespace: str = Field(max_length=100, index=True)
    discovered_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    last_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_active: bool = True
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    dependencies: list["ToolDependency"] = relationship(
        "tool", cascade_delete=True, foreign_keys="ToolDependency.tool_id"
    )
    instances: list["ToolInstance"] = relationship("tool", cascade_delete=True)
    verification_history: list["ToolVerificationHistory"] = relationship(
        "tool", cascade_delete=True
    )


class ToolDependency(TMWSModel, table=True):
    """One tool depending on another."""

    __tablename__ = "tool_dependencies"
    __table_args__ = (Index("idx_tool_dependencies_tool_id", "tool_id"),)

    tool_id: str = Field(max_length=36, foreign_key="discovered_tools.id", ondelete="CASCADE")
    depends_on_tool_id: str = Field(
        max_length=36, foreign_key="discovered_tools.id", ondelete="CASCADE", index=True
    )
    dependency_type: str = Field(max_length=50)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    tool: DiscoveredTool | None = relationship(
        "dependencies", foreign_keys="ToolDependency.tool_id"
    )


class ToolInstance(TMWSModel, table=True):
    """A running instance of a tool (for example a container)."""

    __tablename__ = "tool_instances"
    __table_args__ = (Index("idx_tool_instances_tool_status", "tool_id", "status"),)

    tool_id: str = Field(
        max_length=36, index=True, foreign_key="discovered_tools.id", ondelete="CASCADE"
    )
    instance_id: str = Field(max_length=100, unique=True, index=True)
    status: str = Field(max_length=20, index=True)
    container_id: str | None = Field(default=None, max_length=100)
    container_name: str | None = Field(default=None, max_length=100)
    host: str | None = Field(default=None, max_length=100)
    port: int | None = None
    cpu_limit: str | None = Field(default=None, max_length=20)
    memory_limit: str | None = Field(default=None, max_length=20)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    tool: DiscoveredTool | None = relationship("instances")


class ToolVerificationHistory(TMWSModel, table=True):
    """One check that a tool works."""

    __tablename__ = "tool_verification_history"
    __table_args__ = (
        Index("idx_tool_verification_success", "success"),
        Index("idx_tool_verification_tool_time", "tool_id", "verified_at"),
    )

    tool_id: str = Field(
        max_length=36, index=True, foreign_key="discovered_tools.id", ondelete="CASCADE"
    )
    verified_at: datetime = Field(
        default_factory=utc_now, sa_type=UTCDateTime, index=True, nullable=False
    )
    success: bool
    verification_method: str = Field(max_length=50)
    error_message: str | None = Field(default=None, sa_type=Text)
    verification_metadata: dict[str, Any] = dict_field()
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    tool: DiscoveredTool | None = relationship("verification_history")
