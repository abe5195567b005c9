"""Audit trails: API requests and security events.

Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- ``api_audit_log.ip_address``: TMWS's validator turns it into an ``IPv4Address`` object that
  SQLite cannot store, so TMWS can never record an IP. Here it is validated as an IPv4 or
  IPv6 address and stored as its canonical text in the same VARCHAR(45) column.
- ``api_audit_log.method`` is upper-cased before validation (``'get'`` is stored ``'GET'``),
  as in TMWS, and must be one of the methods its CHECK constraint allows.
- ``security_audit_logs``: no ``idx_audit_logs_client_ip``; it duplicates
  ``ix_security_audit_logs_client_ip`` exactly.
"""

import enum
import ipaddress
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator
from sqlalchemy import CheckConstraint, Index, String
from sqlmodel import Field

from ..types import JSONValue, UTCDateTime
from ._base import (
    TMWSModel,
    created_at_field,
    id_field,
    updated_at_field,
)


def _canonical_ip(value: Any) -> Any:
    if value is None:
        return None
    return str(ipaddress.ip_address(str(value)))  # raises ValueError: Pydantic reports it


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


IPAddressText = Annotated[str, BeforeValidator(_canonical_ip)]
HTTPMethod = Annotated[Literal["GET", "POST", "PUT", "DELETE", "PATCH"], BeforeValidator(_upper)]


class SecurityEventSeverity(enum.StrEnum):
    """Severities written to ``security_audit_logs.severity``."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class SecurityEventType(enum.StrEnum):
    """Some of the event types written to ``security_audit_logs.event_type``."""

    LOGIN_SUCCESS = "login_success"
    LOGIN_FAILED = "login_failed"
    ADMIN_ACTION = "admin_action"


class APIAuditLog(TMWSModel, table=True):
    """One API request: endpoint, method, bodies, status, caller and duration."""

    __tablename__ = "api_audit_log"
    __table_args__ = (
        Index("idx_api_audit_log_created_at", "created_at"),
        Index("idx_api_audit_log_endpoint", "endpoint"),
        Index("idx_api_audit_log_user_id", "user_id"),
        CheckConstraint("method IN ('GET', 'POST', 'PUT', 'DELETE', 'PATCH')", name="chk_method"),
    )

    endpoint: str = Field(max_length=255)
    method: HTTPMethod = Field(sa_type=String(10))
    request_body: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    response_status: int | None = None
    response_body: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    user_id: str | None = Field(default=None, max_length=100)
    ip_address: IPAddressText | None = Field(default=None, max_length=45)
    duration_ms: int | None = None
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class SecurityAuditLog(TMWSModel, table=True):
    """A security event (logins, admin actions, blocked requests), keyed by an integer."""

    __tablename__ = "security_audit_logs"
    __table_args__ = (
        Index("idx_audit_logs_event_type_timestamp", "event_type", "timestamp"),
        Index("idx_audit_logs_timestamp_severity", "timestamp", "severity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_type: str = Field(max_length=50, index=True)
    severity: str = Field(max_length=20, index=True)
    timestamp: datetime = Field(sa_type=UTCDateTime, index=True)
    client_ip: str = Field(max_length=45, index=True)
    user_id: str | None = Field(default=None, max_length=100, index=True)
    session_id: str | None = Field(default=None, max_length=100, index=True)
    endpoint: str | None = Field(default=None, max_length=255)
    method: str | None = Field(default=None, max_length=10)
    user_agent: str | None = Field(default=None, max_length=500)
    referer: str | None = Field(default=None, max_length=500)
    message: str | None = Field(default=None, max_length=1000)
    details: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    location: Any = Field(default=None, sa_type=JSONValue, nullable=True)
    risk_score: int | None = Field(default=0, index=True)
    blocked: bool | None = False
    event_hash: str | None = Field(default=None, max_length=16, index=True)
