"""The acceptance test for the whole schema, the one TMWS lacked, and the DDL comparison.

The 42 table names are written out here, not derived from the package.
"""

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from tmws_store import TMWSModel
from tmws_store.migrations.v2 import NEW_INDEXES

from .helpers import REF42, REFERENCE, TMWS_TABLES

# The licence tables' uuid columns move from UUID (NUMERIC affinity) to CHAR(32) (TEXT).
AFFINITY_CHANGES = {
    ("license_keys", "id"),
    ("license_keys", "agent_id"),
    ("license_key_usage", "id"),
    ("license_key_usage", "license_key_id"),
}

FRESH_STORE = textwrap.dedent(
    """
    import json, sqlite3, sys
    from tmws_store import Store
    Store(sys.argv[1]).init()
    con = sqlite3.connect(sys.argv[1])
    count = con.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
    names = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'"))
    print(json.dumps({"count": count, "names": names}))
    """
)


def affinity(declared: str) -> str:
    """SQLite's type-affinity rules (datatype3.html, section 3.1)."""
    d = declared.upper()
    if "INT" in d:
        return "INTEGER"
    if any(k in d for k in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in d or not d:
        return "BLOB"
    if any(k in d for k in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def columns(path: Path, table: str) -> dict[str, tuple[bool, str]]:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    try:
        rows = con.execute(f'PRAGMA table_info("{table}")').fetchall()
        return {r[1]: (bool(r[3]), affinity(r[2])) for r in rows}
    finally:
        con.close()


@pytest.mark.slow
def test_a_bare_import_creates_exactly_the_42_tables_of_tmws(tmp_path: Path) -> None:
    db = tmp_path / "tmws.db"
    out = subprocess.run(
        [sys.executable, "-c", FRESH_STORE, str(db)], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result == {"count": 42, "names": sorted(TMWS_TABLES)}

    for table in TMWS_TABLES:
        ours, theirs = columns(db, table), columns(REF42, table)
        assert list(ours) == list(theirs), f"{table}: column names or order differ"
        for name, (notnull, their_affinity) in theirs.items():
            our_notnull, our_affinity = ours[name]
            assert our_notnull == notnull, f"{table}.{name}: NOT NULL differs"
            if (table, name) in AFFINITY_CHANGES:
                assert (their_affinity, our_affinity) == ("NUMERIC", "TEXT")
            else:
                assert our_affinity == their_affinity, f"{table}.{name}: affinity differs"


READ_ALL_ROWS = textwrap.dedent(
    """
    import json, sys
    from sqlmodel import Session, create_engine, select
    import tmws_store
    engine = create_engine("sqlite:///" + sys.argv[1])
    counts = {}
    with Session(engine) as session:
        for name in tmws_store.__all__:
            model = getattr(tmws_store, name)
            if isinstance(model, type) and getattr(model, "__table__", None) is not None:
                rows = session.exec(select(model)).all()
                for row in rows:
                    json.loads(row.model_dump_json())
                counts[model.__tablename__] = len(rows)
    print(json.dumps(counts))
    """
)


@pytest.mark.slow
def test_all_89_reference_rows_read_through_the_public_models(ref42_copy: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", READ_ALL_ROWS, str(ref42_copy)],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = json.loads(out.stdout)
    assert set(counts) == TMWS_TABLES
    con = sqlite3.connect(ref42_copy)
    raw = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TMWS_TABLES}
    assert counts == raw
    assert sum(counts.values()) == 89


# --- the CREATE text, character for character ----------------------------------------------

# Each deliberate difference from TMWS's DDL, and why (see docs/compatibility.md).
TABLE_SQL_DIFFERS = {
    "license_keys": "uuid columns CHAR(32) instead of UUID; no never-satisfiable agent FK",
    "license_key_usage": "uuid columns CHAR(32) instead of UUID",
}
INDEXES_LEFT_OUT = {  # each duplicates another index of the same table exactly
    "ix_memory_expires",
    "ix_workflow_last_executed",
    "idx_execution_traces_cleanup",
    "idx_skill_suggestions_orchestration",
    "idx_tool_instances_status",
    "ix_mcp_connection_server_name",
    "ix_mcp_connection_status",
    "idx_audit_logs_client_ip",
}
INDEXES_ADDED = {  # on foreign-key columns that had none
    "ix_memories_parent_memory_id",
    "ix_memory_consolidations_consolidated_memory_id",
    "ix_learning_patterns_parent_pattern_id",
    "ix_skills_created_by",
    "ix_skill_versions_created_by",
    "ix_tool_dependencies_depends_on_tool_id",
    "ix_trust_score_history_verification_record_id",
    "ix_verification_records_evidence_memory_id",
    "ix_workflow_execution_logs_step_execution_id",
} | {name for name, _, _ in NEW_INDEXES}  # schema v2: the newest rows of an agent or namespace


def reference_sql() -> dict[str, str]:
    con = sqlite3.connect(f"{REF42.resolve().as_uri()}?immutable=1", uri=True)
    try:
        return dict(con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        con.close()


def test_create_statements_are_tmws_text_but_for_the_documented_fixes() -> None:
    theirs = reference_sql()
    dialect = sqlite.dialect()
    ours: dict[str, str] = {}
    for table in TMWSModel.metadata.sorted_tables:
        ours[table.name] = str(CreateTable(table).compile(dialect=dialect)).strip()
        for index in table.indexes:
            ours[str(index.name)] = str(CreateIndex(index).compile(dialect=dialect)).strip()

    differing = {name for name in ours.keys() & theirs.keys() if ours[name] != theirs[name]}
    assert differing == set(TABLE_SQL_DIFFERS)
    assert theirs.keys() - ours.keys() == INDEXES_LEFT_OUT
    assert ours.keys() - theirs.keys() == INDEXES_ADDED


@pytest.mark.slow
def test_compare_schema_tool_finds_only_the_licence_affinity_change(tmp_path: Path) -> None:
    from tmws_store import Store

    db = tmp_path / "tmws.db"
    with Store(db) as store:
        store.init()
    tool = REFERENCE.parent / "tools" / "compare_schema.py"
    out = subprocess.run([sys.executable, str(tool), str(db)], capture_output=True, text=True)
    breaking = sorted(line for line in out.stdout.splitlines() if line.startswith("BREAKS"))
    expected = sorted(
        f"BREAKS  {table}.{column}: affinity TEXT (CHAR(32)) vs NUMERIC (UUID)"
        for table, column in AFFINITY_CHANGES
    )
    assert breaking == expected, out.stdout
    assert re.search(r"^4 breaking differences", out.stdout, re.M)
