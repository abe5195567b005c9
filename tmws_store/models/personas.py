"""Personas: the Trinitas agent characters (Athena, Artemis, ...) and their configuration.

Table ``personas``, as TMWS declares it: ``type`` and ``role`` hold the enum values,
``trigger_words`` is nullable JSON of any shape, the other JSON columns default to an empty
array or object. No deliberate difference from TMWS.
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field

from ..types import JSONValue, UTCDateTime
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


class PersonaType(enum.StrEnum):
    """Which Trinitas persona a row describes. Stored as the value."""

    CLOTHO = "clotho"
    LACHESIS = "lachesis"
    ATHENA = "athena"
    HERA = "hera"
    ARTEMIS = "artemis"
    HESTIA = "hestia"
    ERIS = "eris"
    MUSES = "muses"
    APHRODITE = "aphrodite"
    METIS = "metis"
    AURORA = "aurora"
    BELLONA = "bellona"
    SESHAT = "seshat"


class PersonaRole(enum.StrEnum):
    """The role a persona plays in the team. Stored as the value."""

    ORCHESTRATOR = "orchestrator"
    CONDUCTOR = "conductor"
    STRATEGIST = "strategist"
    OPTIMIZER = "optimizer"
    AUDITOR = "auditor"
    COORDINATOR = "coordinator"
    DOCUMENTER = "documenter"
    DESIGNER = "designer"
    DEVELOPER = "developer"
    RESEARCHER = "researcher"


class Persona(TMWSModel, table=True):
    """A persona: its character, specialties, trigger words and preferences."""

    __tablename__ = "personas"
    __table_args__ = (
        Index("ix_persona_active_last_active", "is_active", "last_active_at"),
        Index("ix_persona_role_active", "role", "is_active"),
        Index("ix_persona_type_active", "type", "is_active"),
    )

    name: str = Field(sa_type=Text, unique=True, index=True)
    type: PersonaType = enum_field(PersonaType, index=True)
    role: PersonaRole = enum_field(PersonaRole, index=True)
    display_name: str = Field(sa_type=Text)
    description: str = Field(sa_type=Text)
    specialties: list[Any] = list_field()
    tier: str | None = Field(default=None, sa_type=Text)
    emoji: str | None = Field(default=None, sa_type=Text)
    markdown_source: str | None = Field(default=None, sa_type=Text)
    version: str | None = Field(default=None, sa_type=Text)
    trigger_words: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    config: dict[str, Any] = dict_field()
    preferences: dict[str, Any] = dict_field()
    is_active: bool = Field(default=True, index=True)
    capabilities: list[Any] = list_field()
    total_tasks: int = 0
    successful_tasks: int = 0
    average_response_time: float | None = None
    last_active_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()
