"""Agents, their namespaces and teams (tables ``agents``, ``agent_namespaces``, ``agent_teams``)."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Index, Text, text
from sqlmodel import Field

from ..types import UTCDateTime
from ._base import (
    TMWSModel,
    created_at_field,
    dict_field,
    enum_field,
    id_field,
    list_field,
    metadata_field,
    relationship,
    updated_at_field,
)

if TYPE_CHECKING:
    from .licenses import LicenseKey
    from .tasks import Task
    from .tokens import TokenConsumption
    from .verification import TrustScoreHistory, VerificationRecord


class AccessLevel(enum.StrEnum):
    """Who may read a memory, a skill or an agent's data. Stored as the value."""

    PRIVATE = "private"
    TEAM = "team"
    SHARED = "shared"
    PUBLIC = "public"
    SYSTEM = "system"


class AgentStatus(enum.StrEnum):
    """Lifecycle of an agent. Stored as the value."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"
    DEPRECATED = "deprecated"


class AgentNamespace(TMWSModel, table=True):
    """A namespace isolating agents' memories, with its admins and members."""

    __tablename__ = "agent_namespaces"

    namespace: str = Field(sa_type=Text, unique=True, index=True)
    description: str | None = Field(default=None, sa_type=Text)
    owner_agent_id: str | None = Field(default=None, sa_type=Text)
    admin_agents: list[Any] = list_field()
    member_agents: list[Any] = list_field()
    default_access_level: AccessLevel = enum_field(AccessLevel.PRIVATE)
    config: dict[str, Any] = dict_field()
    is_active: bool = Field(default=True, index=True)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()


class AgentTeam(TMWSModel, table=True):
    """A team of agents sharing a namespace."""

    __tablename__ = "agent_teams"

    team_id: str = Field(sa_type=Text, unique=True, index=True)
    team_name: str = Field(sa_type=Text)
    description: str | None = Field(default=None, sa_type=Text)
    members: list[Any] = list_field()
    leader_agent_id: str | None = Field(default=None, sa_type=Text)
    config: dict[str, Any] = dict_field()
    shared_namespace: str = Field(sa_type=Text)
    is_active: bool = Field(default=True, index=True)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()


class Agent(TMWSModel, table=True):
    """An AI agent: identity, configuration, health and trust statistics."""

    __tablename__ = "agents"
    __table_args__ = (
        Index("ix_agent_org_namespace", "organization_id", "namespace"),
        Index("ix_agent_status_active", "status", "last_active_at"),
        Index("ix_agent_type_status", "agent_type", "status"),
    )

    agent_id: str = Field(sa_type=Text, unique=True, index=True)
    display_name: str = Field(sa_type=Text)
    organization_id: str | None = Field(default=None, sa_type=Text, index=True)
    namespace: str = Field(default="default", sa_type=Text, index=True)
    agent_type: str | None = Field(default=None, sa_type=Text)
    capabilities: dict[str, Any] = dict_field()
    config: dict[str, Any] = dict_field()
    default_access_level: AccessLevel = enum_field(AccessLevel.PRIVATE)
    status: AgentStatus = enum_field(AgentStatus.ACTIVE, index=True)
    health_score: float = 1.0
    total_memories: int = 0
    total_tasks: int = 0
    successful_tasks: int = 0
    average_response_time_ms: float | None = None
    trust_score: float = 0.5
    total_verifications: int = 0
    accurate_verifications: int = 0
    api_key_hash: str | None = Field(default=None, sa_type=Text)
    tier: str = Field(default="FREE", sa_type=Text, index=True)
    role: str = Field(
        default="viewer",
        sa_type=Text,
        index=True,
        sa_column_kwargs={"server_default": text("'viewer'")},
    )
    last_active_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    tasks: list["Task"] = relationship(
        "assigned_agent",
        cascade_delete=True,
        primaryjoin="Agent.agent_id == foreign(Task.assigned_agent_id)",
    )
    verification_records: list["VerificationRecord"] = relationship("agent", cascade_delete=True)
    trust_history: list["TrustScoreHistory"] = relationship("agent", cascade_delete=True)
    license_keys: list["LicenseKey"] = relationship(
        # The forms differ (see LicenseKey.agent): compared as dashless text on both sides.
        primaryjoin="func.replace(Agent.id, '-', '') == "
        "func.replace(cast(foreign(LicenseKey.agent_id), String), '-', '')",
        viewonly=True,
    )
    token_consumptions: list["TokenConsumption"] = relationship("agent", cascade_delete=True)
