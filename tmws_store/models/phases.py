"""Phase templates: reusable multi-phase plans."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, text
from sqlmodel import Field

from ._base import (
    TMWSModel,
    created_at_field,
    enum_field,
    id_field,
    metadata_field,
    updated_at_field,
)


class TemplateType(enum.StrEnum):
    """Kinds of phase template. Stored as the value (``FULL_DEVELOPMENT`` is ``'full'``)."""

    QUICK_FIX = "quick_fix"
    SECURITY_AUDIT = "security_audit"
    FULL_DEVELOPMENT = "full"
    RESEARCH = "research"
    CUSTOM = "custom"


class TaskComplexity(enum.StrEnum):
    """How complex the tasks a template suits are. Stored as the value."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class PhaseTemplate(TMWSModel, table=True):
    """A reusable multi-phase plan (quick fix, security audit, full development, ...)."""

    __tablename__ = "phase_templates"
    __table_args__ = (
        Index("ix_phase_templates_complexity_active", "task_complexity", "is_active"),
        Index("ix_phase_templates_is_deleted", "is_deleted"),
        Index("ix_phase_templates_system_active", "is_system", "is_active"),
        Index("ix_phase_templates_type_active", "template_type", "is_active"),
    )

    template_id: str = Field(max_length=255, unique=True, index=True)
    template_type: TemplateType = enum_field(TemplateType, index=True)
    display_name: str = Field(max_length=255)
    description: str = Field(sa_type=Text)
    phases_json: str = Field(sa_type=Text)
    trigger_keywords_json: str = Field(
        default="[]", sa_type=Text, sa_column_kwargs={"server_default": text("'[]'")}
    )
    task_complexity: TaskComplexity = enum_field(TaskComplexity, index=True)
    estimated_duration: str = Field(max_length=50)
    is_system: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": text("'0'")}
    )
    is_active: bool = Field(
        default=True, index=True, sa_column_kwargs={"server_default": text("'1'")}
    )
    version: str = Field(
        default="1.0.0",
        max_length=20,
        sa_column_kwargs={"server_default": text("'1.0.0'")},
    )
    usage_count: int = Field(default=0, sa_column_kwargs={"server_default": text("'0'")})
    success_rate: float = Field(default=0.0, sa_column_kwargs={"server_default": text("'0.0'")})
    is_deleted: bool = Field(default=False, sa_column_kwargs={"server_default": text("'0'")})
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()
