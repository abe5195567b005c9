"""What the tests share besides fixtures: the TMWS reference files and small helpers.

Test modules import from here (``from .helpers import ...``); ``conftest.py`` keeps only
fixtures.
"""

import hashlib
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest
    from alembic.operations import Operations

# The shared reference files sit beside the repository (in CI too: shared/ next to the clone).
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "tmws-reference"
REF42 = REFERENCE / "tmws-2.4.18-42-tables.db"
REF34 = REFERENCE / "tmws-2.4.18-prefix-34-tables.db"

# The 42 tables of a complete TMWS 2.4.18 install, written out rather than derived from
# the package, so that a table missing from the package cannot go unnoticed.
TMWS_TABLES = frozenset(
    {
        "agent_namespaces",
        "agent_teams",
        "agents",
        "api_audit_log",
        "api_keys",
        "detected_patterns",
        "discovered_tools",
        "execution_traces",
        "learning_patterns",
        "license_key_usage",
        "license_keys",
        "mcp_connections",
        "memories",
        "memory_consolidations",
        "memory_patterns",
        "memory_sharing",
        "pattern_usage_history",
        "personas",
        "phase_templates",
        "refresh_tokens",
        "security_audit_logs",
        "skill_activations",
        "skill_mcp_tools",
        "skill_memory_filters",
        "skill_shared_agents",
        "skill_suggestions",
        "skill_versions",
        "skills",
        "task_templates",
        "tasks",
        "token_consumption",
        "tool_dependencies",
        "tool_instances",
        "tool_verification_history",
        "trust_score_history",
        "users",
        "verification_records",
        "workflow_execution_logs",
        "workflow_executions",
        "workflow_schedules",
        "workflow_step_executions",
        "workflows",
    }
)


def copy_reference(source: Path, dest_dir: Path) -> Path:
    """A private copy of a shared reference database (never written in place)."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?immutable=1", uri=True)
    dest = dest_dir / source.name
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return dest


def all_rows(path: Path, tables: set[str]) -> dict[str, list]:
    """Every row of the named tables of a SQLite file, sorted: for before/after comparisons."""
    con = sqlite3.connect(path)
    try:
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def run_sql(path: Path, *statements: str) -> Path:
    """Run ``statements`` on the SQLite file at ``path`` (created if missing); returns it."""
    con = sqlite3.connect(path)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    return path


def altered_copy(reference: Path, tmp: Path, *statements: str) -> Path:
    """A private copy of a reference file with ``statements`` run on it."""
    return run_sql(copy_reference(reference, tmp), *statements)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_mood(op: "Operations") -> None:
    """A migration step for tests: memories get a ``mood`` column and its index."""
    op.execute("ALTER TABLE memories ADD COLUMN mood TEXT")
    op.execute("CREATE INDEX ix_memories_mood ON memories (mood)")


def trace_start_up(monkeypatch: "pytest.MonkeyPatch") -> list[str]:
    """Record every statement ``init()``'s own connection runs from now on (in this test)."""
    from tmws_store.backends.sqlite import startup

    statements: list[str] = []
    real_connect = startup.connect

    def traced_connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
        con = real_connect(path, busy_timeout)
        con.set_trace_callback(statements.append)
        return con

    monkeypatch.setattr(startup, "connect", traced_connect)
    return statements
