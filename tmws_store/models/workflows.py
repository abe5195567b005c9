"""Workflows, their executions, steps, logs and schedules.

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``workflow_executions``, ``workflow_step_executions``, ``workflow_execution_logs`` and
  ``workflow_schedules`` have no default for their ``id`` in TMWS, so inserting without one
  fails; here they get a new uuid like every other table (the DDL is unchanged).
- ``workflows``: no ``ix_workflow_last_executed``; it duplicates
  ``ix_workflows_last_executed_at`` exactly.
- ``workflow_execution_logs.step_execution_id`` gets an index: it is a foreign key.

``workflows.workflow_type`` and ``workflows.status`` store the member NAME
(``'SEQUENTIAL'``, ``'DRAFT'``), as TMWS does; every other enum column stores values.
``workflow_schedules.is_active`` is an INTEGER 0/1 column in TMWS, kept as ``int``.
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, text
from sqlmodel import Field

from ..types import JSONValue, UTCDateTime, utc_now
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


class WorkflowType(enum.StrEnum):
    """How a workflow runs its steps. Stored as the member name (``'SEQUENTIAL'``)."""

    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    CONDITIONAL = "conditional"
    HYBRID = "hybrid"


class WorkflowStatus(enum.StrEnum):
    """Lifecycle of a workflow. Stored as the member name (``'DRAFT'``)."""

    DRAFT = "draft"
    ACTIVE = "active"
    INACTIVE = "inactive"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Workflow(TMWSModel, table=True):
    """A named sequence of steps that agents run."""

    __tablename__ = "workflows"
    __table_args__ = (
        Index("ix_workflow_created_by_status", "created_by", "status"),
        Index("ix_workflow_status_type", "status", "workflow_type"),
    )

    name: str = Field(sa_type=Text, index=True)
    description: str = Field(sa_type=Text)
    workflow_type: WorkflowType = enum_field(WorkflowType.SEQUENTIAL, store_names=True, index=True)
    status: WorkflowStatus = enum_field(WorkflowStatus.DRAFT, store_names=True, index=True)
    steps: list[Any] = list_field()
    current_step_index: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    execution_count: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_executed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    error_message: str | None = Field(default=None, sa_type=Text)
    failed_step_index: int | None = None
    created_by: str | None = Field(default=None, sa_type=Text, index=True)
    tags: list[Any] = list_field()
    config: dict[str, Any] = dict_field()
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    executions: list["WorkflowExecution"] = relationship("workflow", cascade_delete=True)
    schedules: list["WorkflowSchedule"] = relationship("workflow", cascade_delete=True)


class WorkflowExecution(TMWSModel, table=True):
    """One run of a workflow."""

    __tablename__ = "workflow_executions"
    __table_args__ = (
        Index("idx_workflow_executions_started_at", "started_at"),
        Index("idx_workflow_executions_status", "status"),
        Index("idx_workflow_executions_triggered_by", "triggered_by"),
        Index("idx_workflow_executions_workflow_id", "workflow_id"),
    )

    id: str = id_field()
    workflow_id: str = Field(max_length=36, foreign_key="workflows.id")
    started_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=50)
    triggered_by: str | None = Field(default=None, max_length=100)
    trigger_type: str | None = Field(default=None, max_length=50)
    input_data: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    output_data: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    execution_time_seconds: float | None = None
    cpu_time_seconds: float | None = None
    memory_peak_mb: float | None = None
    error_message: str | None = Field(default=None, sa_type=Text)
    error_details: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    retry_count: int | None = 0
    metadata_json: dict[str, Any] | None = dict_field(nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    workflow: Workflow | None = relationship("executions")
    step_executions: list["WorkflowStepExecution"] = relationship(
        "workflow_execution", cascade_delete=True
    )
    logs: list["WorkflowExecutionLog"] = relationship("workflow_execution", cascade_delete=True)


class WorkflowStepExecution(TMWSModel, table=True):
    """One step of a workflow run."""

    __tablename__ = "workflow_step_executions"
    __table_args__ = (
        Index("idx_step_executions_status", "status"),
        Index("idx_step_executions_step_name", "step_name"),
        Index("idx_step_executions_workflow_execution_id", "workflow_execution_id"),
    )

    id: str = id_field()
    workflow_execution_id: str = Field(max_length=36, foreign_key="workflow_executions.id")
    step_name: str = Field(max_length=200)
    step_index: int
    step_type: str | None = Field(default=None, max_length=50)
    started_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=50)
    input_data: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    output_data: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    execution_time_seconds: float | None = None
    error_message: str | None = Field(default=None, sa_type=Text)
    error_details: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    retry_count: int | None = 0
    metadata_json: dict[str, Any] | None = dict_field(nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    workflow_execution: WorkflowExecution | None = relationship("step_executions")


class WorkflowExecutionLog(TMWSModel, table=True):
    """A log line of a workflow run."""

    __tablename__ = "workflow_execution_logs"
    __table_args__ = (
        Index("idx_execution_logs_level", "level"),
        Index("idx_execution_logs_timestamp", "timestamp"),
        Index("idx_execution_logs_workflow_execution_id", "workflow_execution_id"),
    )

    id: str = id_field()
    workflow_execution_id: str = Field(max_length=36, foreign_key="workflow_executions.id")
    step_execution_id: str | None = Field(
        default=None, max_length=36, foreign_key="workflow_step_executions.id", index=True
    )
    timestamp: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    level: str = Field(max_length=20)
    message: str = Field(sa_type=Text)
    component: str | None = Field(default=None, max_length=100)
    function: str | None = Field(default=None, max_length=100)
    line_number: int | None = None
    context_data: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    workflow_execution: WorkflowExecution | None = relationship("logs")


class WorkflowSchedule(TMWSModel, table=True):
    """When a workflow runs by itself."""

    __tablename__ = "workflow_schedules"
    __table_args__ = (
        Index("idx_workflow_schedules_is_active", "is_active"),
        Index("idx_workflow_schedules_next_run_at", "next_run_at"),
        Index("idx_workflow_schedules_workflow_id", "workflow_id"),
    )

    id: str = id_field()
    workflow_id: str = Field(max_length=36, foreign_key="workflows.id")
    schedule_type: str = Field(max_length=50)
    schedule_expression: str | None = Field(default=None, max_length=200)
    start_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_active: int | None = 1
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    input_data: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    metadata_json: dict[str, Any] | None = dict_field(nullable=True)
    total_runs: int | None = 0
    successful_runs: int | None = 0
    failed_runs: int | None = 0
    created_at: datetime | None = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default_factory=utc_now, sa_type=UTCDateTime)

    workflow: Workflow | None = relationship("schedules")
