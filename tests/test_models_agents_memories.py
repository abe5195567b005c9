"""Agents, namespaces, teams and memories (7 tables): round trips, TMWS's stored formats,
reference rows, validation."""

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import Session, create_engine, select

from tmws_store import (
    AccessLevel,
    Agent,
    AgentNamespace,
    AgentStatus,
    AgentTeam,
    Memory,
    MemoryConsolidation,
    MemoryPattern,
    MemorySharing,
    Store,
)

DASHED_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DATETIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def sample_rows() -> list:
    memory = Memory(content="c", agent_id="athena", namespace="ns", tags=["a"], context={"k": 1})
    return [
        AgentNamespace(namespace="ns", admin_agents=["athena"], config={"x": True}),
        AgentTeam(team_id="t1", team_name="Team", shared_namespace="ns", members=["athena"]),
        Agent(agent_id="athena", display_name="Athena", status=AgentStatus.INACTIVE),
        memory,
        MemoryConsolidation(
            source_memory_ids=[memory.id],
            consolidated_memory_id=memory.id,
            consolidation_type="summary",
            agent_id="athena",
        ),
        MemoryPattern(
            pattern_type="sequence",
            agent_id="athena",
            namespace="ns",
            pattern_data={"p": 1},
            confidence=0.7,
        ),
        MemorySharing(
            memory_id=memory.id, shared_with_agent_id="hera", shared_by_agent_id="athena"
        ),
    ]


def test_round_trip_every_core_table(store: Store) -> None:
    rows = sample_rows()
    dumped = {type(r): r.model_dump() for r in rows}
    with store.session() as session:
        session.add_all(rows)
    with store.session() as session:
        for model, expected in dumped.items():
            (loaded,) = session.exec(select(model)).all()
            assert loaded.model_dump() == expected


def test_stored_formats_are_tmws_formats(store: Store) -> None:
    with store.session() as session:
        session.add_all(sample_rows())
    con = sqlite3.connect(store.path)
    agent = con.execute(
        "SELECT id, created_at, status, default_access_level, capabilities, metadata FROM agents"
    ).fetchone()
    assert DASHED_UUID.match(agent[0])
    assert DATETIME_TEXT.match(agent[1])
    assert agent[2:] == ("inactive", "private", "{}", "{}")
    tags, context = con.execute("SELECT tags, context FROM memories").fetchone()
    assert (tags, context) == ('["a"]', '{"k": 1}')  # json.dumps text, as TMWS writes it


def test_datetimes_are_stored_in_utc_and_returned_aware(store: Store) -> None:
    tokyo = timezone(timedelta(hours=9))
    with store.session() as session:
        session.add(
            Agent(
                agent_id="a",
                display_name="A",
                last_active_at=datetime(2025, 12, 12, 22, tzinfo=tokyo),
            )
        )
    (stored,) = sqlite3.connect(store.path).execute("SELECT last_active_at FROM agents").fetchone()
    assert stored == "2025-12-12 13:00:00.000000"
    with store.session() as session:
        agent = session.exec(select(Agent)).one()
    assert agent.last_active_at == datetime(2025, 12, 12, 13, tzinfo=UTC)
    assert agent.last_active_at.tzinfo is not None


def test_in_place_json_edits_are_saved(store: Store) -> None:
    with store.session() as session:
        session.add(Agent(agent_id="a", display_name="A"))
    with store.session() as session:
        agent = session.exec(select(Agent)).one()
        agent.capabilities["search"] = True
        agent.metadata_json["note"] = "x"
    with store.session() as session:
        agent = session.exec(select(Agent)).one()
    assert (agent.capabilities, agent.metadata_json) == ({"search": True}, {"note": "x"})


CORE_MODELS = [
    AgentNamespace,
    AgentTeam,
    Agent,
    Memory,
    MemoryConsolidation,
    MemoryPattern,
    MemorySharing,
]


@pytest.mark.parametrize("model", CORE_MODELS, ids=lambda m: m.__tablename__)
def test_reference_rows_read_and_dump(model, ref42_copy: Path) -> None:
    engine = create_engine(f"sqlite:///{ref42_copy}")
    with Session(engine) as session:
        rows = session.exec(select(model)).all()
    engine.dispose()
    raw_count = (
        sqlite3.connect(ref42_copy)
        .execute(f"SELECT count(*) FROM {model.__tablename__}")
        .fetchone()[0]
    )
    assert len(rows) == raw_count > 0
    for row in rows:
        json.loads(row.model_dump_json())
        assert model.model_validate(row.model_dump()).model_dump() == row.model_dump()


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Agent, {"agent_id": "a", "display_name": "A", "status": "bogus"}, "status"),
        (Agent, {"agent_id": "a", "display_name": "A", "health_score": "high"}, "health_score"),
        (
            Agent,
            {"agent_id": "a", "display_name": "A", "last_active_at": "not a date"},
            "last_active_at",
        ),
        (
            Memory,
            {"content": "c", "agent_id": "a", "namespace": "n", "access_level": "everyone"},
            "access_level",
        ),
        (Memory, {"content": "c", "agent_id": "a", "namespace": "n", "tags": "not-a-list"}, "tags"),
        (
            Memory,
            {"content": "c", "agent_id": "a", "namespace": "n", "parent_memory_id": "x" * 37},
            "parent_memory_id",
        ),
        (Agent, {"display_name": "A"}, "agent_id"),
    ],
)
def test_model_validate_names_the_bad_field(model, data, field) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    assert field in {e["loc"][0] for e in info.value.errors()}
    assert model.__name__ in str(info.value)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Agent(agent_id="a", display_name="A", status="bogus"), "status"),
        (
            lambda: Agent(agent_id="a", display_name="A", last_active_at="not a date"),
            "last_active_at",
        ),
        (
            lambda: Memory(content="c", agent_id="a", namespace="n", parent_memory_id="x" * 99),
            "parent_memory_id",
        ),
    ],
)
def test_directly_built_bad_instances_are_never_written(store: Store, make, field) -> None:
    with pytest.raises(ValidationError) as info, store.session() as session:
        session.add(Agent(agent_id="good", display_name="Good"))  # same transaction
        session.add(make())
    assert field in str(info.value)
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT count(*) FROM agents").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM memories").fetchone()[0] == 0


def test_bad_value_assigned_later_is_not_written(store: Store) -> None:
    with store.session() as session:
        session.add(Agent(agent_id="a", display_name="A"))
    with pytest.raises(ValidationError, match="health_score"), store.session() as session:
        agent = session.exec(select(Agent)).one()
        agent.health_score = "very"  # type: ignore[assignment]
    stored = sqlite3.connect(store.path).execute("SELECT health_score FROM agents").fetchone()[0]
    assert stored == 1.0


def test_validated_strings_are_coerced_before_writing(store: Store) -> None:
    with store.session() as session:
        session.add(
            Agent(
                agent_id="a",
                display_name="A",
                status="suspended",
                last_active_at="2026-01-02T03:04:05Z",
            )
        )
    with store.session() as session:
        agent = session.exec(select(Agent)).one()
    assert agent.status is AgentStatus.SUSPENDED
    assert agent.last_active_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert AccessLevel("team") is AccessLevel.TEAM


def test_json_schema_is_available() -> None:
    schema = Memory.model_json_schema()
    assert {"content", "agent_id", "namespace", "access_level", "metadata_json"} <= set(
        schema["properties"]
    )


def test_new_ids_are_random_uuid4_in_tmws_forms() -> None:
    import uuid

    from tmws_store.types import new_hex_id, new_id

    dashed = [new_id() for _ in range(5000)]
    hexes = [new_hex_id() for _ in range(5000)]
    assert len(set(dashed)) == len(set(hexes)) == 5000
    for value in dashed:
        parsed = uuid.UUID(value)
        assert (str(parsed), parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)
    for value in hexes:
        parsed = uuid.UUID(value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)
