"""Tasks and task templates (tables ``tasks`` and ``task_templates``).

The DDL is TMWS's, CHECK constraints included. Each single-column CHECK is mirrored by a
Pydantic constraint (``ge``/``le``/``gt``, ``min_length``, a ``Literal`` of the allowed access
levels), so a bad value is a ValidationError naming the field before anything reaches SQLite;
``completion_after_start`` spans two columns and is left to SQLite (an IntegrityError).

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- TMWS names the self-referential relationships the wrong way round (its ``Task.children``
  is the one parent, its ``Task.parent`` the list of children). Here ``Task.parent`` is the
  parent task and ``Task.children`` the list of subtasks. Only Python names differ.
"""

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from sqlalchemy import CheckConstraint, Index, Text
from sqlmodel import Field

from ..types import UTCDateTime
from ._base import (
    CheckedAccessLevel,
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
    from .agents import Agent


class TaskStatus(enum.StrEnum):
    """Lifecycle of a task. Stored as the value."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class TaskPriority(enum.StrEnum):
    """Priority of a task. Stored as the value."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"
    CRITICAL = "critical"


class Task(TMWSModel, table=True):
    """A unit of work assigned to an agent, possibly part of a workflow or a parent task."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("idx_tasks_agent_status", "assigned_agent_id", "status"),
        Index("idx_tasks_due_date", "due_date"),
        Index("idx_tasks_hierarchy", "parent_task_id", "status"),
        Index("idx_tasks_namespace_status", "namespace", "status"),
        Index("idx_tasks_performance", "quality_score", "actual_duration"),
        Index("idx_tasks_priority_status", "priority", "status"),
        Index("idx_tasks_progress", "progress_percentage"),
        Index("idx_tasks_retry", "retry_count", "max_retries"),
        Index("idx_tasks_scheduled", "scheduled_at"),
        Index("idx_tasks_type_status", "task_type", "status"),
        Index("idx_tasks_workflow", "workflow_id", "status"),
        # Schema v2: the newest tasks of an agent or a namespace (migrations/v2.py).
        Index("ix_tasks_agent_created", "assigned_agent_id", "created_at"),
        Index("ix_tasks_namespace_created", "namespace", "created_at"),
        CheckConstraint("LENGTH(title) >= 1", name="title_not_empty"),
        CheckConstraint("LENGTH(description) >= 1", name="description_not_empty"),
        CheckConstraint(
            "access_level IN ('private', 'shared', 'public', 'system')",
            name="access_level_check",
        ),
        CheckConstraint(
            "progress_percentage >= 0.0 AND progress_percentage <= 100.0",
            name="progress_bounds",
        ),
        CheckConstraint(
            "estimated_duration IS NULL OR estimated_duration > 0",
            name="estimated_duration_positive",
        ),
        CheckConstraint(
            "actual_duration IS NULL OR actual_duration >= 0",
            name="actual_duration_non_negative",
        ),
        CheckConstraint("retry_count >= 0", name="retry_count_non_negative"),
        CheckConstraint("max_retries >= 0", name="max_retries_non_negative"),
        CheckConstraint(
            "quality_score IS NULL OR (quality_score >= 0.0 AND quality_score <= 10.0)",
            name="quality_score_bounds",
        ),
        CheckConstraint(
            "completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at",
            name="completion_after_start",
        ),
    )

    title: str = Field(sa_type=Text, min_length=1)
    description: str = Field(sa_type=Text, min_length=1)
    task_type: str = Field(default="general", sa_type=Text, index=True)
    assigned_agent_id: str | None = Field(default=None, sa_type=Text, index=True)
    collaborating_agents: list[Any] = list_field()
    namespace: str = Field(default="default", sa_type=Text, index=True)
    access_level: CheckedAccessLevel = Field(default="private", sa_type=Text, index=True)
    status: TaskStatus = enum_field(TaskStatus.PENDING, index=True)
    priority: TaskPriority = enum_field(TaskPriority.MEDIUM, index=True)
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dependencies: list[Any] = list_field()
    parent_task_id: str | None = Field(default=None, max_length=36, foreign_key="tasks.id")
    workflow_id: str | None = Field(default=None, max_length=36, index=True)
    task_config: dict[str, Any] = dict_field()
    input_data: dict[str, Any] = dict_field()
    output_data: dict[str, Any] = dict_field()
    progress_percentage: float = Field(default=0.0, ge=0.0, le=100.0)
    estimated_duration: int | None = Field(default=None, gt=0)
    actual_duration: int | None = Field(default=None, ge=0)
    retry_count: int = Field(default=0, ge=0)
    max_retries: int = Field(default=3, ge=0)
    error_message: str | None = Field(default=None, sa_type=Text)
    error_details: dict[str, Any] = dict_field()
    execution_log: list[Any] = list_field()
    tags: list[Any] = list_field()
    context_tags: list[Any] = list_field()
    resource_requirements: dict[str, Any] = dict_field()
    resource_usage: dict[str, Any] = dict_field()
    quality_score: float | None = Field(default=None, ge=0.0, le=10.0)
    success_criteria: dict[str, Any] = dict_field()
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    # tasks.assigned_agent_id = agents.agent_id: the agent's unique name, not its id, and no
    # foreign key in the DDL, hence the explicit join. The other side is Agent.tasks.
    assigned_agent: Optional["Agent"] = relationship(
        "tasks", primaryjoin="foreign(Task.assigned_agent_id) == Agent.agent_id"
    )
    # Self-referential on parent_task_id. remote_side=Task.id makes ``parent`` the
    # many-to-one (this task's parent) and ``children`` the one-to-many list of subtasks;
    # TMWS has the two names swapped (see the module docstring). No delete cascade, as in
    # TMWS: deleting a parent through the ORM sets its subtasks' parent_task_id to NULL.
    parent: Optional["Task"] = relationship("children", remote_side="Task.id")
    children: list["Task"] = relationship("parent")


class TaskTemplate(TMWSModel, table=True):
    """A template that tasks are created from."""

    __tablename__ = "task_templates"
    __table_args__ = (
        Index("idx_task_templates_namespace", "namespace", "is_active"),
        Index("idx_task_templates_success", "success_rate"),
        Index("idx_task_templates_usage", "usage_count"),
        CheckConstraint(
            "default_access_level IN ('private', 'shared', 'public', 'system')",
            name="default_access_level_check",
        ),
        CheckConstraint(
            "estimated_duration IS NULL OR estimated_duration > 0",
            name="estimated_duration_positive",
        ),
        CheckConstraint("success_rate >= 0.0 AND success_rate <= 1.0", name="success_rate_bounds"),
    )

    template_id: str = Field(sa_type=Text, unique=True, index=True)
    name: str = Field(sa_type=Text)
    description: str | None = Field(default=None, sa_type=Text)
    title_template: str = Field(sa_type=Text)
    description_template: str = Field(sa_type=Text)
    required_fields: list[Any] = list_field()
    optional_fields: list[Any] = list_field()
    default_task_type: str = Field(default="templated", sa_type=Text)
    default_priority: TaskPriority = enum_field(TaskPriority.MEDIUM)
    default_access_level: CheckedAccessLevel = Field(default="private", sa_type=Text)
    default_config: dict[str, Any] = dict_field()
    estimated_duration: int | None = Field(default=None, gt=0)
    namespace: str = Field(default="default", sa_type=Text, index=True)
    created_by: str | None = Field(default=None, sa_type=Text)
    is_active: bool = Field(default=True, index=True)
    usage_count: int = 0
    success_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
