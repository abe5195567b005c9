"""MCP server connections of agents.

``status`` is a plain TEXT column holding ``ConnectionStatus`` values, as in TMWS.
Deliberate differences from TMWS 2.4.18 (files stay readable both ways):
- no ``ix_mcp_connection_server_name`` and no ``ix_mcp_connection_status``: they duplicate
  ``ix_mcp_connections_server_name`` and ``ix_mcp_connections_status`` exactly.
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, text
from sqlmodel import Field

from ..types import JSONValue, UTCDateTime
from ._base import (
    TMWSModel,
    created_at_field,
    id_field,
    list_field,
    updated_at_field,
)


class ConnectionStatus(enum.StrEnum):
    """Values written to ``mcp_connections.status``."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    ACTIVE = "active"
    DISCONNECTING = "disconnecting"
    ERROR = "error"


class MCPConnection(TMWSModel, table=True):
    """An agent's connection to an MCP server, with the tools it offers."""

    __tablename__ = "mcp_connections"
    __table_args__ = (Index("ix_mcp_connection_namespace_agent", "namespace", "agent_id"),)

    server_name: str = Field(sa_type=Text, index=True)
    namespace: str = Field(sa_type=Text, index=True)
    agent_id: str = Field(sa_type=Text, index=True)
    status: str = Field(sa_type=Text, index=True)
    config_json: Any = Field(sa_type=JSONValue, nullable=False)
    tools_json: list[Any] = list_field(sa_column_kwargs={"server_default": text("'[]'")})
    error_message: str | None = Field(default=None, sa_type=Text)
    error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    connected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disconnected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    id: str = id_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
