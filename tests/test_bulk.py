"""The bulk path, Store.insert_many: validated, defaulted, TMWS's formats, all or nothing."""

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlmodel import select

from tmws_store import (
    AccessLevel,
    Agent,
    APIAuditLog,
    LicenseKey,
    Memory,
    Store,
    StoreError,
    Task,
    Workflow,
    WorkflowType,
)


def test_rows_are_validated_defaulted_and_stored_as_tmws_does(store: Store) -> None:
    tokyo = timezone(timedelta(hours=9))
    rows = [
        {
            "content": f"m{i}",
            "agent_id": "a",
            "namespace": "n",
            "tags": ["t"],
            "access_level": "team",
            "accessed_at": datetime(2026, 1, 1, 12, tzinfo=tokyo),
            "metadata_json": {"i": i},
        }
        for i in range(3)
    ]
    assert store.insert_many(Memory, rows) == 3
    con = sqlite3.connect(store.path)
    raw = con.execute(
        "SELECT access_level, tags, accessed_at, metadata, embedding_dimension, length(id) "
        "FROM memories ORDER BY content"
    ).fetchall()
    assert raw == [("team", '["t"]', "2026-01-01 03:00:00.000000", f'{{"i": {i}}}', 1024, 36)
                   for i in range(3)]  # fmt: skip
    with store.session(readonly=True) as session:
        loaded = session.exec(select(Memory).order_by(Memory.content)).all()
    assert [m.access_level for m in loaded] == [AccessLevel.TEAM] * 3
    assert loaded[0].created_at.tzinfo is UTC


def test_the_bulk_path_writes_what_the_orm_writes(store: Store) -> None:
    """Same row through both paths: identical raw values apart from id and timestamps."""
    data = {"name": "wf", "description": "d", "workflow_type": WorkflowType.PARALLEL,
            "steps": [{"s": 1}], "config": {"c": True}}  # fmt: skip
    store.insert_many(Workflow, [data])
    with store.session() as session:
        session.add(Workflow(**{**data, "name": "wf2"}))
    con = sqlite3.connect(store.path)
    rows = con.execute("SELECT * FROM workflows ORDER BY name").fetchall()
    names = [r[1] for r in con.execute("PRAGMA table_info(workflows)")]
    ignore = {"name", "id", "created_at", "updated_at"}
    keep = [i for i, n in enumerate(names) if n not in ignore]
    assert [rows[0][i] for i in keep] == [rows[1][i] for i in keep]
    assert "PARALLEL" in rows[0]


def test_special_columns(store: Store) -> None:
    store.insert_many(APIAuditLog, [{"endpoint": "/x", "method": "get", "ip_address": "::1"}])
    store.insert_many(
        LicenseKey,
        [{"agent_id": "12345678-1234-4234-9234-123456789012", "tier": "PRO",
          "license_key_hash": "h" * 64, "issued_at": datetime.now(UTC)}],
    )  # fmt: skip
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT method, ip_address FROM api_audit_log").fetchone() == ("GET", "::1")
    agent_id, key_id = con.execute("SELECT agent_id, id FROM license_keys").fetchone()
    assert agent_id == "12345678123442349234123456789012" and len(key_id) == 32


def test_one_bad_row_writes_nothing_and_says_which(store: Store) -> None:
    rows = [{"content": "ok", "agent_id": "a", "namespace": "n"}] * 5
    rows.append({"content": "bad", "agent_id": "a", "namespace": "n", "importance_score": "hi"})
    with pytest.raises(ValidationError, match="importance_score") as info:
        store.insert_many(Memory, rows)
    assert "Memory" in str(info.value)
    assert info.value.__notes__ == ["in row 5 given to insert_many(Memory, ...)"]
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT count(*) FROM memories").fetchone() == (0,)


def test_model_instances_are_accepted(store: Store) -> None:
    memories = [Memory(content=str(i), agent_id="a", namespace="n") for i in range(4)]
    assert store.insert_many(Memory, memories) == 4
    with store.session(readonly=True) as session:
        assert {m.id for m in session.exec(select(Memory))} == {m.id for m in memories}


def test_nothing_to_insert(store: Store) -> None:
    assert store.insert_many(Memory, []) == 0


def test_an_instance_given_a_related_object_is_refused_writing_nothing(store: Store) -> None:
    """``Task(assigned_agent=agent)``: the foreign key is filled in by a session's flush, so
    insert_many wrote the task with assigned_agent_id NULL, without a word."""
    agent = Agent(agent_id="athena", display_name="Athena")
    store.insert_many(Agent, [agent])
    tasks = [Task(title="t0", description="d"), Task(title="t1", description="d")]
    tasks[1].assigned_agent = agent
    with pytest.raises(StoreError, match=r"row 1 .* sets the relationship Task.assigned_agent"):
        store.insert_many(Task, tasks)
    with store.session(readonly=True) as session:
        assert session.exec(select(Task)).all() == []
    # Through a session, a related object fills the key in.
    with store.session() as session:
        stored = session.exec(select(Agent)).one()
        session.add(Task(title="t2", description="d", assigned_agent=stored))
    with store.session(readonly=True) as session:
        assert session.exec(select(Task.assigned_agent_id)).all() == [agent.agent_id]
