"""tmws_store: the TMWS database (``~/.tmws/data/tmws.db``), its 42 tables and its Store.

Every table class is also the Pydantic schema of its rows::

    from tmws_store import Agent, Memory, Store

    with Store() as store:
        store.init()
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
"""

from importlib import import_module
from itertools import chain
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import (
    CheckViolationError,
    ConstraintError,
    CopyError,
    DatabaseLockedError,
    EncryptedFileError,
    ForeignDatabaseError,
    ForeignKeyViolationError,
    MigrationError,
    NewerSchemaError,
    NotADatabaseError,
    NotNullViolationError,
    PlainFileError,
    ReadOnlyStoreError,
    RelationshipNotLoadedError,
    ServerUnavailableError,
    StorageFullError,
    StoreError,
    UniqueViolationError,
    UnsupportedURLError,
    WrongKeyError,
)
from .paths import Location, ServerLocation
from .reports import CopyReport, InitReport, StatusReport, VerifyReport
from .schema import APPLICATION_ID, SCHEMA_VERSION
from .store import Store

__version__ = "0.1.0"

# Everything the package exports, by defining module: the one list that __all__ is made of.
# The first five modules are imported above. The model classes and their enums are imported
# on first use, all at once: building the 42 classes is most of the cost of importing the
# package, and a program that only starts the store (the CLI, a health check) needs none of
# them. Whichever name comes first, ``tmws_store.models`` imports every model module, so the
# registry is always complete. (The TYPE_CHECKING block below names the same classes for
# type checkers, which cannot follow a lazy import; a test holds it to this list.)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": tuple(errors.__all__),
    "paths": ("Location", "ServerLocation"),
    "reports": ("CopyReport", "InitReport", "StatusReport", "VerifyReport"),
    "schema": ("APPLICATION_ID", "SCHEMA_VERSION"),
    "store": ("Store",),
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


_LAZY = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import the models on first use of any of their names (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module_name, names in _EXPORTS.items():
        if module_name.startswith("models"):
            module = import_module(f".{module_name}", __name__)  # the first imports all 42
            for exported in names:
                globals()[exported] = getattr(module, exported)  # later lookups are plain reads
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = sorted(chain.from_iterable(_EXPORTS.values()))  # pyright: ignore[reportUnsupportedDunderAll]
