"""Skills: versioned SKILL.md documents, activations, MCP tools, sharing and memory filters.

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``skills.created_by`` and ``skill_versions.created_by`` get an index: they are foreign keys.
"""

from datetime import datetime

from sqlalchemy import Index, Text, text
from sqlmodel import Field

from ..types import UTCDateTime
from ._base import (
    TMWSModel,
    created_at_field,
    enum_field,
    id_field,
    relationship,
    updated_at_field,
)
from .agents import AccessLevel


class Skill(TMWSModel, table=True):
    """A skill: a named, versioned procedure that agents can load."""

    __tablename__ = "skills"
    __table_args__ = (
        Index("ix_skills_is_deleted", "is_deleted"),
        Index("ix_skills_namespace_name", "namespace", "name", unique=True),
    )

    name: str = Field(max_length=255)
    display_name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, sa_type=Text)
    namespace: str = Field(max_length=255, index=True)
    created_by: str = Field(max_length=36, foreign_key="agents.id", ondelete="CASCADE", index=True)
    persona: str | None = Field(default=None, max_length=50, index=True)
    access_level: AccessLevel = enum_field(AccessLevel.PRIVATE)
    tags_json: str = Field(
        default="[]", sa_type=Text, sa_column_kwargs={"server_default": text("'[]'")}
    )
    version_count: int = Field(default=1, sa_column_kwargs={"server_default": text("'1'")})
    active_version: int = Field(default=1, sa_column_kwargs={"server_default": text("'1'")})
    is_deleted: bool = Field(default=False, sa_column_kwargs={"server_default": text("'0'")})
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    versions: list["SkillVersion"] = relationship("skill", cascade_delete=True)
    activations: list["SkillActivation"] = relationship("skill", cascade_delete=True)
    mcp_tools: list["SkillMCPTool"] = relationship("skill", cascade_delete=True)
    shared_agents: list["SkillSharedAgent"] = relationship("skill", cascade_delete=True)
    memory_filters: list["SkillMemoryFilter"] = relationship("skill", cascade_delete=True)


class SkillVersion(TMWSModel, table=True):
    """One version of a skill's SKILL.md, split into its three disclosure layers."""

    __tablename__ = "skill_versions"
    __table_args__ = (Index("ix_skill_versions_skill_version", "skill_id", "version", unique=True),)

    skill_id: str = Field(max_length=36, index=True, foreign_key="skills.id", ondelete="CASCADE")
    version: int
    content: str = Field(sa_type=Text)
    metadata_json: str | None = Field(default=None, sa_type=Text)
    core_instructions: str | None = Field(default=None, sa_type=Text)
    auxiliary_content: str | None = Field(default=None, sa_type=Text)
    content_hash: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=36, foreign_key="agents.id", index=True)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    skill: Skill | None = relationship("versions")


class SkillActivation(TMWSModel, table=True):
    """A record of an agent loading a skill."""

    __tablename__ = "skill_activations"
    __table_args__ = (Index("ix_skill_activations_agent_time", "agent_id", "activated_at"),)

    skill_id: str = Field(max_length=36, index=True, foreign_key="skills.id", ondelete="CASCADE")
    agent_id: str = Field(max_length=36, index=True, foreign_key="agents.id", ondelete="CASCADE")
    version: int
    namespace: str = Field(max_length=255, index=True)
    activation_type: str | None = Field(default=None, max_length=20)
    layer_loaded: int | None = None
    tokens_loaded: int | None = None
    activated_at: datetime = Field(
        sa_type=UTCDateTime,
        index=True,
        sa_column_kwargs={"server_default": text("CURRENT_TIMESTAMP")},
    )
    duration_ms: int | None = None
    success: bool | None = None
    error_message: str | None = Field(default=None, sa_type=Text)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    skill: Skill | None = relationship("activations")


class SkillMCPTool(TMWSModel, table=True):
    """An MCP tool a skill uses."""

    __tablename__ = "skill_mcp_tools"

    skill_id: str = Field(max_length=36, index=True, foreign_key="skills.id", ondelete="CASCADE")
    mcp_server_name: str | None = Field(default=None, max_length=255)
    tool_name: str | None = Field(default=None, max_length=255)
    detail_level: str = Field(
        default="summary",
        max_length=20,
        sa_column_kwargs={"server_default": text("'summary'")},
    )
    load_when_condition: str | None = Field(default=None, sa_type=Text)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    skill: Skill | None = relationship("mcp_tools")


class SkillSharedAgent(TMWSModel, table=True):
    """An agent a skill is shared with."""

    __tablename__ = "skill_shared_agents"
    __table_args__ = (
        Index("ix_skill_shared_agents_skill_agent", "skill_id", "agent_id", unique=True),
    )

    skill_id: str = Field(max_length=36, index=True, foreign_key="skills.id", ondelete="CASCADE")
    agent_id: str = Field(max_length=36, index=True, foreign_key="agents.id", ondelete="CASCADE")
    shared_at: datetime = Field(
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": text("CURRENT_TIMESTAMP")},
    )
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    skill: Skill | None = relationship("shared_agents")


class SkillMemoryFilter(TMWSModel, table=True):
    """A filter choosing which memories a skill sees."""

    __tablename__ = "skill_memory_filters"

    skill_id: str = Field(max_length=36, index=True, foreign_key="skills.id", ondelete="CASCADE")
    filter_type: str = Field(max_length=50)
    filter_value: str = Field(sa_type=Text)
    priority: int = Field(default=0, index=True, sa_column_kwargs={"server_default": text("'0'")})
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    skill: Skill | None = relationship("memory_filters")
