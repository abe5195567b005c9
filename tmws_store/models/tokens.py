"""Token consumption per agent and hour."""

from datetime import datetime
from typing import TYPE_CHECKING, Optional

from sqlmodel import Field

from ..types import UTCDateTime, utc_now
from ._base import (
    TMWSModel,
    relationship,
)

if TYPE_CHECKING:
    from .agents import Agent


class TokenConsumption(TMWSModel, table=True):
    """Tokens an agent consumed in one hour (key: agent id and hour ``YYYYMMDDHH``)."""

    __tablename__ = "token_consumption"

    agent_id: str = Field(
        max_length=36, primary_key=True, foreign_key="agents.id", ondelete="CASCADE"
    )
    window_hour: str = Field(max_length=10, primary_key=True)
    consumption_count: int = 0
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)

    agent: Optional["Agent"] = relationship("token_consumptions")
