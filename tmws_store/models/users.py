"""Users and authentication: accounts, API keys and refresh tokens.

Only hashes of passwords, keys and tokens are stored (the columns hold TMWS's formats;
``tmws_store.credentials`` makes and checks them). ``users.roles`` and ``api_keys.scopes``
are JSON arrays of ``UserRole`` / ``APIKeyScope`` values; in-place edits of them are saved.
The DDL is TMWS's, unchanged. One Python-only addition: TMWS's ``RefreshToken.user`` has no
other side, here ``User.refresh_tokens`` lists a user's tokens (and deletes them with the
user, as the ``ON DELETE CASCADE`` foreign key would).
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field

from ..types import JSONList, JSONValue, UTCDateTime, default_factory
from ._base import (
    TMWSModel,
    created_at_field,
    dict_field,
    enum_field,
    id_field,
    metadata_field,
    relationship,
    updated_at_field,
)


class UserStatus(enum.StrEnum):
    """Whether a user account may log in. Stored as the value."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"
    LOCKED = "locked"
    PENDING = "pending"


class UserRole(enum.StrEnum):
    """Roles listed in ``users.roles`` (a JSON array of values)."""

    SUPER_ADMIN = "super_admin"
    ADMIN = "admin"
    USER = "user"
    READONLY = "readonly"
    SERVICE = "service"


class APIKeyScope(enum.StrEnum):
    """Scopes listed in ``api_keys.scopes`` (a JSON array of values)."""

    FULL = "full"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    MEMORY = "memory"
    TASKS = "tasks"
    WORKFLOWS = "workflows"


# Factories, not a shared default list: in-place edits of one row must not reach the next.
@default_factory
def default_roles() -> list[Any]:
    """A new user's roles, as TMWS: ``["user"]``."""
    return [UserRole.USER.value]


@default_factory
def default_scopes() -> list[Any]:
    """A new API key's scopes, as TMWS: ``["read"]``."""
    return [APIKeyScope.READ.value]


class User(TMWSModel, table=True):
    """A person or service account of the TMWS API."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_user_email_status", "email", "status"),
        Index("ix_user_namespace", "agent_namespace"),
        Index("ix_user_status_active", "status", "last_login_at"),
    )

    username: str = Field(max_length=64, unique=True, index=True)
    email: str = Field(max_length=255, unique=True, index=True)
    full_name: str | None = Field(default=None, max_length=255)
    password_hash: str = Field(sa_type=Text)
    failed_login_attempts: int = 0
    last_failed_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_login_ip: str | None = Field(default=None, max_length=45)
    status: UserStatus = enum_field(UserStatus.ACTIVE, index=True)
    roles: list[Any] = Field(default_factory=default_roles, sa_type=JSONList, nullable=False)
    permissions: dict[str, Any] = dict_field()
    mfa_enabled: bool = False
    mfa_secret: str | None = Field(default=None, sa_type=Text)
    backup_codes: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    force_password_change: bool = False
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    session_timeout_minutes: int = 480
    preferred_agent_id: str | None = Field(default=None, sa_type=Text)
    agent_namespace: str = Field(default="default", sa_type=Text)
    created_by: str | None = Field(default=None, max_length=64)
    last_modified_by: str | None = Field(default=None, max_length=64)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    # users.id = api_keys.user_id / refresh_tokens.user_id. Deleting a user through the ORM
    # deletes its keys and tokens, as the foreign keys' ON DELETE CASCADE does in SQL.
    api_keys: list["APIKey"] = relationship("user", cascade_delete=True)
    refresh_tokens: list["RefreshToken"] = relationship("user", cascade_delete=True)


class APIKey(TMWSModel, table=True):
    """An API key of a user: only its hash and prefix are stored."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ix_api_key_active", "is_active", "expires_at"),
        Index("ix_api_key_prefix", "key_prefix"),
        Index("ix_api_key_user_active", "user_id", "is_active"),
    )

    key_id: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=128)
    description: str | None = Field(default=None, sa_type=Text)
    key_hash: str = Field(sa_type=Text)
    key_prefix: str = Field(max_length=8)
    scopes: list[Any] = Field(default_factory=default_scopes, sa_type=JSONList, nullable=False)
    allowed_ips: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    rate_limit_per_hour: int | None = None
    is_active: bool = Field(default=True, index=True)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_ip: str | None = Field(default=None, max_length=45)
    total_requests: int = 0
    user_id: str = Field(max_length=36, index=True, foreign_key="users.id", ondelete="CASCADE")
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    metadata_json: dict[str, Any] = metadata_field()

    user: User | None = relationship("api_keys")


class RefreshToken(TMWSModel, table=True):
    """A refresh token of a user: only its hash is stored."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_token_user", "user_id", "is_revoked"),
        Index("ix_refresh_token_valid", "is_revoked", "expires_at"),
    )

    token_id: str = Field(max_length=64, unique=True, index=True)
    token_hash: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    is_revoked: bool = Field(default=False, index=True)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    user_id: str = Field(max_length=36, index=True, foreign_key="users.id", ondelete="CASCADE")
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    user: User | None = relationship("refresh_tokens")
