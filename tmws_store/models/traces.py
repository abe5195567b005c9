"""Autonomous learning: tool execution traces, the patterns found in them, skill suggestions.

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``detected_patterns.detected_at``: TMWS's model default (``func.now`` uncalled) makes every
  ORM insert without an explicit value fail; here it defaults to the current UTC time. The
  DDL, with its ``DEFAULT CURRENT_TIMESTAMP``, is unchanged.
- ``execution_traces``: no ``idx_execution_traces_cleanup``; it duplicates
  ``ix_execution_traces_expires_at`` exactly.
- ``skill_suggestions``: no ``idx_skill_suggestions_orchestration``; it duplicates
  ``ix_skill_suggestions_orchestration_id`` exactly.
"""

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlmodel import Field

from ..types import JSONValue, UTCDateTime, utc_now
from ._base import (
    TMWSModel,
    created_at_field,
    dict_field,
    id_field,
    updated_at_field,
)


class ExecutionTrace(TMWSModel, table=True):
    """One MCP tool call of an agent, kept for pattern detection until it expires."""

    __tablename__ = "execution_traces"
    __table_args__ = (
        Index("idx_execution_traces_agent_tool", "agent_id", "tool_name"),
        Index(
            "idx_execution_traces_pattern_detection",
            "namespace",
            "created_at",
            "orchestration_id",
            "tool_name",
        ),
        Index("idx_execution_traces_sequence", "orchestration_id", "sequence_number"),
        CheckConstraint(
            "execution_time_ms >= 0", name="ck_execution_traces_execution_time_positive"
        ),
        CheckConstraint("ttl_days >= 1 AND ttl_days <= 3650", name="ck_execution_traces_ttl_valid"),
    )

    agent_id: str = Field(max_length=36, index=True)
    namespace: str = Field(max_length=255, index=True)
    tool_name: str = Field(max_length=255, index=True)
    input_params: dict[str, Any] = dict_field(sa_column_kwargs={"server_default": text("'{}'")})
    output_result: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    success: bool = Field(default=True, sa_column_kwargs={"server_default": text("1")})
    error_message: str | None = Field(default=None, sa_type=Text)
    error_type: str | None = Field(default=None, max_length=255)
    execution_time_ms: float = Field(
        default=0.0, ge=0.0, sa_column_kwargs={"server_default": text("0.0")}
    )
    orchestration_id: str | None = Field(default=None, max_length=36, index=True)
    sequence_number: int | None = None
    context_snapshot: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    pattern_id: str | None = Field(default=None, max_length=36, index=True)
    ttl_days: int = Field(
        default=30, ge=1, le=3650, sa_column_kwargs={"server_default": text("30")}
    )
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


# The states the CHECK ck_detected_patterns_state allows (a Literal, as tasks.py mirrors its
# CHECKs: a bad state is a ValidationError naming the field, not a refused row).
PatternState = Literal[
    "DETECTED", "VALIDATING", "VALIDATED", "APPROVED", "SKILL_CREATED", "REJECTED"
]


class DetectedPattern(TMWSModel, table=True):
    """A recurring sequence of tool calls, on its way to becoming a skill."""

    __tablename__ = "detected_patterns"
    __table_args__ = (
        Index("idx_detected_patterns_agent_state", "agent_id", "state"),
        Index("idx_detected_patterns_namespace_state", "namespace", "state"),
        CheckConstraint(
            "state IN ('DETECTED', 'VALIDATING', 'VALIDATED', 'APPROVED', 'SKILL_CREATED', "
            "'REJECTED')",
            name="ck_detected_patterns_state",
        ),
        CheckConstraint("frequency >= 3", name="ck_detected_patterns_min_frequency"),
        CheckConstraint(
            "avg_success_rate >= 0.0 AND avg_success_rate <= 1.0",
            name="ck_detected_patterns_success_rate",
        ),
    )

    namespace: str = Field(max_length=255, index=True)
    agent_id: str | None = Field(default=None, max_length=36, index=True)
    tool_sequence: Any = Field(sa_type=JSONValue, nullable=False)
    pattern_hash: str = Field(max_length=64, unique=True)
    frequency: int = Field(default=3, ge=3, sa_column_kwargs={"server_default": text("3")})
    avg_success_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, sa_column_kwargs={"server_default": text("1.0")}
    )
    avg_execution_time_ms: float | None = None
    sop_draft: str | None = Field(default=None, sa_type=Text)
    sop_title: str | None = Field(default=None, max_length=255)
    state: PatternState = Field(
        default="DETECTED",
        sa_type=String(50),  # the VARCHAR(50) that max_length=50 gave a str field
        index=True,
        sa_column_kwargs={"server_default": text("'DETECTED'")},
    )
    skill_id: str | None = Field(default=None, max_length=36)
    validation_errors: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    validated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=36)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    detected_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": text("CURRENT_TIMESTAMP")},
        nullable=False,
    )
    last_occurrence_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class SkillSuggestion(TMWSModel, table=True):
    """A skill suggested to an agent during an orchestration, and the feedback on it."""

    __tablename__ = "skill_suggestions"
    __table_args__ = (
        Index(
            "idx_skill_suggestions_effectiveness",
            "skill_id",
            "was_activated",
            "was_helpful",
        ),
        CheckConstraint(
            "relevance_score >= 0.0 AND relevance_score <= 1.0",
            name="ck_skill_suggestions_relevance_score",
        ),
    )

    orchestration_id: str = Field(max_length=36, index=True)
    skill_id: str = Field(max_length=36, index=True)
    agent_id: str = Field(max_length=36, index=True)
    namespace: str = Field(max_length=255, index=True)
    relevance_score: float = Field(ge=0.0, le=1.0)
    suggestion_reason: str | None = Field(default=None, sa_type=Text)
    was_activated: bool | None = None
    was_helpful: bool | None = None
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    feedback_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
