"""Token consumption per agent and hour (table ``token_consumption``).

One row counts the tokens one agent used in one hour. The key is composite, as in TMWS:
``(agent_id, window_hour)``, where ``agent_id`` is the agent's ``agents.id`` (the dashed
uuid, not its ``agent_id`` name) and ``window_hour`` the UTC hour as ``YYYYMMDDHH`` text.
TMWS gives ``created_at`` and ``updated_at`` Python defaults only (no server default), so the
DDL has none either. No deliberate difference from TMWS.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Optional

from sqlmodel import Field

from ..types import UTCDateTime, utc_now
from ._base import TMWSModel, relationship

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
    # TMWS refreshes it in Python on every update (its ``onupdate``), not with SQL.
    updated_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"onupdate": utc_now},
    )

    # agents.id = token_consumption.agent_id; the other side is Agent.token_consumptions.
    agent: Optional["Agent"] = relationship("token_consumptions")
