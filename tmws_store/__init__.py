"""tmws_store: the TMWS database (``~/.tmws/data/tmws.db``), its 42 tables and its Store.

Every table class is also the Pydantic schema of its rows::

    from tmws_store import Agent, Memory, Store

    with Store() as store:
        store.init()
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    DatabaseLockedError,
    ForeignDatabaseError,
    MigrationError,
    NewerSchemaError,
    NotADatabaseError,
    ReadOnlyStoreError,
    StorageFullError,
    StoreError,
    UnsupportedURLError,
)
from .schema import APPLICATION_ID, SCHEMA_VERSION
from .startup import InitReport
from .store import Store

__version__ = "0.1.0"

# The model classes and their enums, by defining module. They are imported on first use, all
# at once: building the 42 classes is most of the cost of importing the package, and a program
# that only starts the store (the CLI, a health check) needs none of them. Whichever name comes
# first, ``tmws_store.models`` imports every model module, so the registry is always complete.
_MODEL_EXPORTS: dict[str, tuple[str, ...]] = {
    "models": ("TMWSModel",),
    "models.agents": (
        "AccessLevel",
        "Agent",
        "AgentNamespace",
        "AgentStatus",
        "AgentTeam",
    ),
    "models.audit": (
        "APIAuditLog",
        "SecurityAuditLog",
        "SecurityEventSeverity",
        "SecurityEventType",
    ),
    "models.learning": (
        "LearningPattern",
        "PatternUsageHistory",
    ),
    "models.licenses": (
        "LicenseKey",
        "LicenseKeyUsage",
        "TierEnum",
    ),
    "models.mcp": (
        "ConnectionStatus",
        "MCPConnection",
    ),
    "models.memory": (
        "Memory",
        "MemoryConsolidation",
        "MemoryPattern",
        "MemorySharing",
    ),
    "models.personas": (
        "Persona",
        "PersonaRole",
        "PersonaType",
    ),
    "models.phases": (
        "PhaseTemplate",
        "TaskComplexity",
        "TemplateType",
    ),
    "models.skills": (
        "Skill",
        "SkillActivation",
        "SkillMCPTool",
        "SkillMemoryFilter",
        "SkillSharedAgent",
        "SkillVersion",
    ),
    "models.tasks": (
        "Task",
        "TaskPriority",
        "TaskStatus",
        "TaskTemplate",
    ),
    "models.tokens": ("TokenConsumption",),
    "models.tools": (
        "DiscoveredTool",
        "ToolDependency",
        "ToolInstance",
        "ToolVerificationHistory",
    ),
    "models.traces": (
        "DetectedPattern",
        "ExecutionTrace",
        "SkillSuggestion",
    ),
    "models.users": (
        "APIKey",
        "APIKeyScope",
        "RefreshToken",
        "User",
        "UserRole",
        "UserStatus",
    ),
    "models.verification": (
        "TrustScoreHistory",
        "VerificationRecord",
    ),
    "models.workflows": (
        "Workflow",
        "WorkflowExecution",
        "WorkflowExecutionLog",
        "WorkflowSchedule",
        "WorkflowStatus",
        "WorkflowStepExecution",
        "WorkflowType",
    ),
}

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from .models import TMWSModel
    from .models.agents import AccessLevel, Agent, AgentNamespace, AgentStatus, AgentTeam
    from .models.audit import (
        APIAuditLog,
        SecurityAuditLog,
        SecurityEventSeverity,
        SecurityEventType,
    )
    from .models.learning import LearningPattern, PatternUsageHistory
    from .models.licenses import LicenseKey, LicenseKeyUsage, TierEnum
    from .models.mcp import ConnectionStatus, MCPConnection
    from .models.memory import Memory, MemoryConsolidation, MemoryPattern, MemorySharing
    from .models.personas import Persona, PersonaRole, PersonaType
    from .models.phases import PhaseTemplate, TaskComplexity, TemplateType
    from .models.skills import (
        Skill,
        SkillActivation,
        SkillMCPTool,
        SkillMemoryFilter,
        SkillSharedAgent,
        SkillVersion,
    )
    from .models.tasks import Task, TaskPriority, TaskStatus, TaskTemplate
    from .models.tokens import TokenConsumption
    from .models.tools import DiscoveredTool, ToolDependency, ToolInstance, ToolVerificationHistory
    from .models.traces import DetectedPattern, ExecutionTrace, SkillSuggestion
    from .models.users import APIKey, APIKeyScope, RefreshToken, User, UserRole, UserStatus
    from .models.verification import TrustScoreHistory, VerificationRecord
    from .models.workflows import (
        Workflow,
        WorkflowExecution,
        WorkflowExecutionLog,
        WorkflowSchedule,
        WorkflowStatus,
        WorkflowStepExecution,
        WorkflowType,
    )


def __getattr__(name: str) -> Any:
    """Import the models on first use of any of their names (PEP 562)."""
    if not any(name in names for names in _MODEL_EXPORTS.values()):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module_name, names in _MODEL_EXPORTS.items():
        module = import_module(f".{module_name}", __name__)  # the first imports all 42
        for exported in names:
            globals()[exported] = getattr(module, exported)  # later lookups are plain reads
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "APIAuditLog",
    "APIKey",
    "APIKeyScope",
    "APPLICATION_ID",
    "AccessLevel",
    "Agent",
    "AgentNamespace",
    "AgentStatus",
    "AgentTeam",
    "ConnectionStatus",
    "DatabaseLockedError",
    "DetectedPattern",
    "DiscoveredTool",
    "ExecutionTrace",
    "ForeignDatabaseError",
    "InitReport",
    "LearningPattern",
    "LicenseKey",
    "LicenseKeyUsage",
    "MCPConnection",
    "Memory",
    "MemoryConsolidation",
    "MemoryPattern",
    "MemorySharing",
    "MigrationError",
    "NewerSchemaError",
    "NotADatabaseError",
    "PatternUsageHistory",
    "Persona",
    "PersonaRole",
    "PersonaType",
    "PhaseTemplate",
    "ReadOnlyStoreError",
    "RefreshToken",
    "SCHEMA_VERSION",
    "SecurityAuditLog",
    "SecurityEventSeverity",
    "SecurityEventType",
    "Skill",
    "SkillActivation",
    "SkillMCPTool",
    "SkillMemoryFilter",
    "SkillSharedAgent",
    "SkillSuggestion",
    "SkillVersion",
    "StorageFullError",
    "Store",
    "StoreError",
    "TMWSModel",
    "Task",
    "TaskComplexity",
    "TaskPriority",
    "TaskStatus",
    "TaskTemplate",
    "TemplateType",
    "TierEnum",
    "TokenConsumption",
    "ToolDependency",
    "ToolInstance",
    "ToolVerificationHistory",
    "TrustScoreHistory",
    "UnsupportedURLError",
    "User",
    "UserRole",
    "UserStatus",
    "VerificationRecord",
    "Workflow",
    "WorkflowExecution",
    "WorkflowExecutionLog",
    "WorkflowSchedule",
    "WorkflowStatus",
    "WorkflowStepExecution",
    "WorkflowType",
]
