"""Shared fixtures. The real ~/.tmws is never touched: every test gets its own TMWS_HOME."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tmws_store import Store

from ._postgres import PostgresServer, fresh_database

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


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point HOME and TMWS_HOME at temp dirs so no test can reach the real ~/.tmws."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMWS_HOME", str(home / ".tmws"))
    monkeypatch.delenv("TMWS_DATABASE_URL", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An initialised store on a fresh file in the test's temp dir."""
    with Store(tmp_path / "tmws.db") as s:
        s.init()
        yield s


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


@pytest.fixture
def ref42_copy(tmp_path: Path) -> Path:
    """A temp copy of the complete 42-table TMWS reference database."""
    return copy_reference(REF42, tmp_path)


@pytest.fixture
def ref34_copy(tmp_path: Path) -> Path:
    """A temp copy of the 34-table pre-fix TMWS reference database."""
    return copy_reference(REF34, tmp_path)


# --- PostgreSQL: a real server that the run starts itself (tests/_postgres.py) -----------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server (tests/_postgres.py) for the whole run, started on first
    use and stopped, its directory deleted, at the end. No server installed: an error, no skip."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL (postgresql+psycopg) of a new empty database, dropped after the test."""
    with fresh_database(postgres_server) as url:
        yield url
