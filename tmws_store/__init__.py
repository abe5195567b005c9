"""tmws_store: the TMWS database (``~/.tmws/data/tmws.db``), its 42 tables and its Store.

Every table class is also the Pydantic schema of its rows::

    from tmws_store import Agent, Memory, Store

    with Store() as store:
        store.init()
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
"""

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
from .models import TMWSModel
from .models.agents import AccessLevel, Agent, AgentNamespace, AgentStatus, AgentTeam
from .models.audit import APIAuditLog, SecurityAuditLog, SecurityEventSeverity, SecurityEventType
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
from .schema import APPLICATION_ID, SCHEMA_VERSION
from .startup import InitReport
from .store import Store

__version__ = "0.1.0"

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
