"""Verification of agents' claims and the trust-score history it produces.

Both tables refer to ``agents.agent_id`` (a unique TEXT column) from VARCHAR(64) columns, as
in TMWS. Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``verification_records.evidence_memory_id`` and ``trust_score_history.verification_record_id``
  get an index: they are foreign keys.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from sqlalchemy import ForeignKey, Text
from sqlmodel import Field

from ..types import JSONValue, UTCDateTime, utc_now
from ._base import (
    TMWSModel,
    created_at_field,
    id_field,
    relationship,
    updated_at_field,
)

if TYPE_CHECKING:
    from .agents import Agent
    from .memory import Memory


class VerificationRecord(TMWSModel, table=True):
    """A claim an agent made, the command that checked it and whether it held."""

    __tablename__ = "verification_records"

    agent_id: str = Field(
        max_length=64,
        index=True,
        sa_column_args=[ForeignKey("agents.agent_id", name="fk_verification_agent")],
    )
    claim_type: str = Field(max_length=64, index=True)
    claim_content: Any = Field(sa_type=JSONValue, nullable=False)
    verification_command: str = Field(sa_type=Text)
    verification_result: Any = Field(sa_type=JSONValue, nullable=False)
    accurate: bool = Field(index=True)
    evidence_memory_id: str | None = Field(
        default=None,
        max_length=36,
        index=True,
        sa_column_args=[ForeignKey("memories.id", name="fk_verification_evidence")],
    )
    verified_at: datetime = Field(sa_type=UTCDateTime, index=True)
    verified_by_agent_id: str | None = Field(default=None, max_length=64)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    agent: Optional["Agent"] = relationship("verification_records")
    evidence_memory: Optional["Memory"] = relationship()


class TrustScoreHistory(TMWSModel, table=True):
    """A change of an agent's trust score and its reason."""

    __tablename__ = "trust_score_history"

    agent_id: str = Field(
        max_length=64,
        index=True,
        sa_column_args=[ForeignKey("agents.agent_id", name="fk_trust_history_agent")],
    )
    old_score: float
    new_score: float
    verification_record_id: str | None = Field(
        default=None,
        max_length=36,
        index=True,
        sa_column_args=[
            ForeignKey("verification_records.id", name="fk_trust_history_verification")
        ],
    )
    reason: str = Field(max_length=255)
    changed_at: datetime = Field(
        default_factory=utc_now, sa_type=UTCDateTime, index=True, nullable=False
    )
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    agent: Optional["Agent"] = relationship("trust_history")
    verification_record: VerificationRecord | None = relationship()
