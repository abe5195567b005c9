"""Learning patterns and their usage history.

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``learning_patterns.parent_pattern_id`` gets an index: it is a foreign key.
"""

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field

from ..types import JSONValue, UTCDateTime, utc_now
from ._base import (
    CheckedAccessLevel,
    TMWSModel,
    created_at_field,
    id_field,
    metadata_field,
    relationship,
    updated_at_field,
)


class LearningPattern(TMWSModel, table=True):
    """A learned pattern, versioned, with its usage statistics."""

    __tablename__ = "learning_patterns"
    __table_args__ = (
        UniqueConstraint(
            "pattern_name",
            "namespace",
            "agent_id",
            name="uq_learning_patterns_name_namespace_agent",
        ),
        Index("idx_learning_patterns_agent_namespace", "agent_id", "namespace"),
        Index("idx_learning_patterns_category_access", "category", "access_level"),
        Index("idx_learning_patterns_last_used", "last_used_at"),
        Index("idx_learning_patterns_usage", "usage_count"),
        CheckConstraint(
            "access_level IN ('private', 'shared', 'public', 'system')",
            name="ck_learning_patterns_access_level",
        ),
        CheckConstraint(
            "success_rate >= 0.0 AND success_rate <= 1.0",
            name="ck_learning_patterns_success_rate",
        ),
        CheckConstraint(
            "agent_success_rate >= 0.0 AND agent_success_rate <= 1.0",
            name="ck_learning_patterns_agent_success_rate",
        ),
        CheckConstraint(
            "confidence_score >= 0.0 AND confidence_score <= 1.0",
            name="ck_learning_patterns_confidence_score",
        ),
        CheckConstraint("usage_count >= 0", name="ck_learning_patterns_usage_count"),
        CheckConstraint("agent_usage_count >= 0", name="ck_learning_patterns_agent_usage_count"),
    )

    pattern_name: str = Field(max_length=255)
    agent_id: str | None = Field(default=None, sa_type=Text, index=True)
    namespace: str = Field(
        default="default",
        max_length=100,
        index=True,
        sa_column_kwargs={"server_default": text("'default'")},
    )
    category: str = Field(max_length=100, index=True)
    subcategory: str | None = Field(default=None, max_length=100)
    access_level: CheckedAccessLevel = Field(
        default="private",
        sa_type=String(20),  # the VARCHAR(20) that max_length=20 gave a str field
        sa_column_kwargs={"server_default": text("'private'")},
    )
    pattern_data: Any = Field(sa_type=JSONValue, nullable=False)
    version: str = Field(
        default="1.0.0",
        max_length=50,
        sa_column_kwargs={"server_default": text("'1.0.0'")},
    )
    parent_pattern_id: str | None = Field(
        default=None,
        max_length=36,
        foreign_key="learning_patterns.id",
        ondelete="SET NULL",
        index=True,
    )
    usage_count: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": text("0")})
    agent_usage_count: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": text("0")})
    success_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, sa_column_kwargs={"server_default": text("0.0")}
    )
    agent_success_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, sa_column_kwargs={"server_default": text("0.0")}
    )
    avg_execution_time: float | None = None
    complexity_score: float | None = None
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_agent_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    shared_with_agents: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    learning_weight: float = Field(default=1.0, sa_column_kwargs={"server_default": text("1.0")})
    confidence_score: float = Field(
        default=0.5, ge=0.0, le=1.0, sa_column_kwargs={"server_default": text("0.5")}
    )
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    parent_pattern: Optional["LearningPattern"] = relationship(
        "child_patterns", remote_side="LearningPattern.id"
    )
    child_patterns: list["LearningPattern"] = relationship("parent_pattern", cascade_delete=True)
    usage_history: list["PatternUsageHistory"] = relationship("pattern", cascade_delete=True)


class PatternUsageHistory(TMWSModel, table=True):
    """One use of a learning pattern."""

    __tablename__ = "pattern_usage_history"
    __table_args__ = (
        Index("idx_pattern_usage_history_agent_time", "agent_id", "used_at"),
        Index("idx_pattern_usage_history_pattern_time", "pattern_id", "used_at"),
    )

    pattern_id: str = Field(
        max_length=36,
        index=True,
        foreign_key="learning_patterns.id",
        ondelete="CASCADE",
    )
    agent_id: str | None = Field(default=None, sa_type=Text, index=True)
    used_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": text("CURRENT_TIMESTAMP")},
        nullable=False,
    )
    execution_time: float | None = None
    success: bool | None = None
    context_data: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    pattern: LearningPattern | None = relationship("usage_history")
