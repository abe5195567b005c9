"""Licence keys and their usage records.

TMWS declares the ids of these tables ``UUID`` and stores them as 32-char hex without
dashes. Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- The uuid columns are declared ``CHAR(32)`` instead of ``UUID``. ``UUID`` has NUMERIC
  affinity in SQLite, so an id whose hex happens to be all digits would be stored as a number
  and lost; ``CHAR(32)`` has TEXT affinity. Values are still 32-char hex, as TMWS reads them,
  and ``new_hex_id`` never makes a numeric-looking id, so even TMWS-made files (which keep
  their ``UUID`` columns when adopted) are safe from ids written here.
- ``license_keys.agent_id`` has no FOREIGN KEY clause. TMWS declares one to ``agents.id``, but
  stores the agent's uuid as 32-char hex while ``agents.id`` is dashed, so the key can never
  be satisfied, and with foreign keys enforced every insert would fail. The column keeps its
  index, and ``LicenseKey.agent`` / ``Agent.license_keys`` match the two forms explicitly.
  In a file adopted from TMWS the old clause is still there (we never rewrite a user's
  table), so SQLite refuses new licence rows there while foreign keys are on; reading,
  updating and deleting work.
"""

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Optional

from sqlalchemy import CheckConstraint, Index, Text
from sqlmodel import Field

from ..types import HexUUID, UTCDateTime, new_hex_id
from ._base import (
    TMWSModel,
    enum_field,
    relationship,
)

if TYPE_CHECKING:
    from .agents import Agent


class TierEnum(enum.StrEnum):
    """Licence tiers. Stored as the value, which equals the name (``'PRO'``)."""

    FREE = "FREE"
    PRO = "PRO"
    ENTERPRISE = "ENTERPRISE"
    ADMINISTRATOR = "ADMINISTRATOR"


class LicenseKey(TMWSModel, table=True):
    """A licence key of an agent (only its hash is stored)."""

    __tablename__ = "license_keys"
    __table_args__ = (
        Index("idx_license_keys_agent", "agent_id", "is_active"),
        Index("idx_license_keys_expiration", "expires_at", "is_active"),
        Index("idx_license_keys_hash_lookup", "license_key_hash", "is_active"),
        CheckConstraint(
            "expires_at IS NULL OR expires_at > issued_at",
            name="check_expiration_after_issuance",
        ),
    )

    id: str = Field(default_factory=new_hex_id, sa_type=HexUUID, primary_key=True)
    agent_id: str = Field(sa_type=HexUUID, index=True)
    tier: TierEnum = enum_field(TierEnum)
    license_key_hash: str = Field(max_length=64, unique=True)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_active: bool = True
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, sa_type=Text)

    # TMWS stores the agent's uuid here as 32-char hex, agents.id holds it dashed: match the
    # two forms explicitly (see the module docstring). Both sides become dashless text: on
    # PostgreSQL the column is a native uuid, whose text form has dashes.
    agent: Optional["Agent"] = relationship(
        primaryjoin="func.replace(cast(foreign(LicenseKey.agent_id), String), '-', '') == "
        "func.replace(Agent.id, '-', '')",
        viewonly=True,
    )
    usage_records: list["LicenseKeyUsage"] = relationship("license_key", cascade_delete=True)


class LicenseKeyUsage(TMWSModel, table=True):
    """One use of a licensed feature."""

    __tablename__ = "license_key_usage"
    __table_args__ = (
        Index("idx_license_key_usage_feature", "license_key_id", "feature_accessed"),
        Index("idx_license_key_usage_time", "license_key_id", "used_at"),
    )

    id: str = Field(default_factory=new_hex_id, sa_type=HexUUID, primary_key=True)
    license_key_id: str = Field(
        sa_type=HexUUID, index=True, foreign_key="license_keys.id", ondelete="CASCADE"
    )
    used_at: datetime = Field(sa_type=UTCDateTime)
    feature_accessed: str | None = Field(default=None, max_length=128)
    usage_metadata: str | None = Field(default=None, sa_type=Text)

    license_key: LicenseKey | None = relationship("usage_records")
