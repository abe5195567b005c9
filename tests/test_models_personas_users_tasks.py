"""Personas, users and auth, tasks and token consumption (7 tables).

Round trips, TMWS's stored formats, TMWS's own reference rows, validation (including the
Pydantic mirrors of the tasks tables' CHECK constraints) and every relationship declared in
these modules, navigated in a sync session.
"""

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import Session, create_engine, select

from tmws_store import CheckViolationError, Store, UniqueViolationError
from tmws_store.models._base import TMWSModel
from tmws_store.models.agents import Agent
from tmws_store.models.personas import Persona, PersonaRole, PersonaType
from tmws_store.models.tasks import Task, TaskPriority, TaskStatus, TaskTemplate
from tmws_store.models.tokens import TokenConsumption
from tmws_store.models.users import APIKey, RefreshToken, User, UserStatus

DASHED_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DATETIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
TOKYO = timezone(timedelta(hours=9))

MODELS = [Persona, User, APIKey, RefreshToken, Task, TaskTemplate, TokenConsumption]


def count(path: Path, table: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    finally:
        con.close()


def raw_rows(path: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def raw_row(path: Path, sql: str) -> tuple:
    (row,) = raw_rows(path, sql)
    return row


def sample_rows() -> dict[type[TMWSModel], list[TMWSModel]]:
    """One or two rows per table (and the agent they point at), parents first."""
    agent = Agent(agent_id="hestia-auditor", display_name="Hestia")
    user = User(
        username="admin",
        email="admin@example.com",
        password_hash="$2b$12$" + "a" * 53,
        last_login_at=datetime(2026, 1, 2, 12, 0, tzinfo=TOKYO),
    )
    parent = Task(
        title="Audit",
        description="Audit the auth module",
        assigned_agent_id="hestia-auditor",
        status=TaskStatus.RUNNING,
        priority=TaskPriority.HIGH,
        tags=["security"],
        input_data={"path": "src/security"},
    )
    child = Task(title="Check JWT", description="Sub-task", parent_task_id=parent.id)
    return {
        Agent: [agent],
        Persona: [
            Persona(
                name="athena-conductor",
                type=PersonaType.ATHENA,
                role=PersonaRole.CONDUCTOR,
                display_name="Athena",
                description="d",
                specialties=["orchestration"],
                trigger_words=["athena", "conductor"],
            )
        ],
        User: [user],
        APIKey: [
            APIKey(
                key_id="0" * 32,
                name="CI",
                key_hash="f" * 64,
                key_prefix="tmws_ci_",
                user_id=user.id,
            )
        ],
        RefreshToken: [
            RefreshToken(
                token_id="1" * 64,
                token_hash="e" * 64,
                expires_at=datetime(2026, 2, 1, tzinfo=UTC),
                user_id=user.id,
            )
        ],
        Task: [parent, child],
        TaskTemplate: [
            TaskTemplate(
                template_id="bugfix-v1",
                name="Bug fix",
                title_template="Fix {component}",
                description_template="Repro: {steps}",
                required_fields=["component", "steps"],
            )
        ],
        TokenConsumption: [
            TokenConsumption(agent_id=agent.id, window_hour="2026010203", consumption_count=1500)
        ],
    }


@pytest.fixture
def filled(store: Store) -> tuple[Store, dict[type[TMWSModel], list[TMWSModel]]]:
    rows = sample_rows()
    with store.session() as session:
        for model_rows in rows.values():  # parents first: foreign keys are enforced
            session.add_all(model_rows)
    return store, rows


# --- round trips and stored formats --------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__tablename__)
def test_round_trip(model: type[TMWSModel], store: Store) -> None:
    rows = sample_rows()
    written = sorted((r.model_dump() for r in rows[model]), key=lambda d: repr(sorted(d)))
    with store.session() as session:
        for model_rows in rows.values():
            session.add_all(model_rows)
    with store.session(readonly=True) as session:
        loaded = [r.model_dump() for r in session.exec(select(model)).all()]
    assert sorted(loaded, key=lambda d: repr(sorted(d))) == written
    assert len(loaded) == len(rows[model])


def test_stored_formats_are_tmws_formats(filled) -> None:
    store, rows = filled
    path = store.path
    persona = raw_row(
        path,
        "SELECT id, type, role, specialties, trigger_words, config, is_active, created_at,"
        " updated_at, metadata, last_active_at FROM personas",
    )
    assert DASHED_UUID.match(persona[0])
    assert persona[1:7] == (
        "athena",
        "conductor",
        '["orchestration"]',
        '["athena", "conductor"]',
        "{}",
        1,
    )
    assert DATETIME_TEXT.match(persona[7]) and DATETIME_TEXT.match(persona[8])
    assert persona[9:] == ("{}", None)

    user = raw_row(
        path,
        "SELECT id, status, roles, permissions, backup_codes, last_login_at, mfa_enabled,"
        " session_timeout_minutes, agent_namespace FROM users",
    )
    assert DASHED_UUID.match(user[0])
    # 12:00 in Tokyo is stored as 03:00 UTC text, without an offset.
    assert user[1:] == (
        "active",
        '["user"]',
        "{}",
        None,
        "2026-01-02 03:00:00.000000",
        0,
        480,
        "default",
    )

    key = raw_row(
        path, "SELECT user_id, scopes, allowed_ips, is_active, total_requests FROM api_keys"
    )
    assert key == (user[0], '["read"]', None, 1, 0)

    token = raw_row(
        path, "SELECT user_id, expires_at, is_revoked, last_used_at FROM refresh_tokens"
    )
    assert token == (user[0], "2026-02-01 00:00:00.000000", 0, None)

    parent_id = rows[Task][0].id
    tasks = {
        r[0]: r[1:]
        for r in raw_rows(
            path,
            "SELECT title, status, priority, access_level, task_type, tags, input_data,"
            " parent_task_id, progress_percentage, max_retries, collaborating_agents FROM tasks",
        )
    }
    assert tasks["Audit"] == (
        "running",
        "high",
        "private",
        "general",
        '["security"]',
        '{"path": "src/security"}',
        None,
        0.0,
        3,
        "[]",
    )
    assert tasks["Check JWT"][:3] == ("pending", "medium", "private")
    assert tasks["Check JWT"][6] == parent_id

    template = raw_row(
        path,
        "SELECT default_priority, default_access_level, default_task_type, required_fields,"
        " optional_fields, default_config, success_rate FROM task_templates",
    )
    assert template == ("medium", "private", "templated", '["component", "steps"]', "[]", "{}", 0.0)

    consumption = raw_row(
        path,
        "SELECT agent_id, window_hour, consumption_count, created_at, updated_at"
        " FROM token_consumption",
    )
    # agent_id holds agents.id (the dashed uuid), not the agent's name.
    assert consumption[:3] == (rows[Agent][0].id, "2026010203", 1500)
    assert DASHED_UUID.match(consumption[0])
    assert DATETIME_TEXT.match(consumption[3]) and DATETIME_TEXT.match(consumption[4])


def test_json_lists_edited_in_place_are_saved(filled) -> None:
    store, _ = filled
    with store.session() as session:
        user = session.exec(select(User)).one()
        user.roles.append("admin")
        key = session.exec(select(APIKey)).one()
        key.scopes.append("memory")
    assert raw_row(store.path, "SELECT roles FROM users") == ('["user", "admin"]',)
    assert raw_row(store.path, "SELECT scopes FROM api_keys") == ('["read", "memory"]',)


def test_token_consumption_key_is_agent_and_hour(filled) -> None:
    store, rows = filled
    agent_id = rows[Agent][0].id
    assert [c.name for c in inspect(TokenConsumption).primary_key] == ["agent_id", "window_hour"]
    with store.session() as session:
        # Another hour of the same agent is another row.
        session.add(TokenConsumption(agent_id=agent_id, window_hour="2026010204"))
    with store.session(readonly=True) as session:
        row = session.get(TokenConsumption, (agent_id, "2026010203"))
        assert row is not None and row.consumption_count == 1500
    with pytest.raises(UniqueViolationError), store.session() as session:
        session.add(TokenConsumption(agent_id=agent_id, window_hour="2026010203"))
    assert count(store.path, "token_consumption") == 2


def test_token_consumption_updated_at_is_refreshed_on_update(store: Store) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    agent = Agent(agent_id="a", display_name="A")
    with store.session() as session:
        session.add(agent)
        session.add(
            TokenConsumption(
                agent_id=agent.id, window_hour="2026010203", created_at=old, updated_at=old
            )
        )
    with store.session() as session:
        row = session.exec(select(TokenConsumption)).one()
        row.consumption_count += 10
    created, updated = raw_row(store.path, "SELECT created_at, updated_at FROM token_consumption")
    assert created == "2020-01-01 00:00:00.000000"
    assert updated > "2025"  # set to now by the update


# --- TMWS's reference rows -----------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__tablename__)
def test_every_reference_row_reads_through_the_model(model, ref42_copy: Path) -> None:
    engine = create_engine(f"sqlite:///{ref42_copy}")
    try:
        with Session(engine) as session:
            rows = session.exec(select(model)).all()
    finally:
        engine.dispose()
    assert len(rows) == count(ref42_copy, model.__tablename__) > 0
    for row in rows:
        dumped = json.loads(row.model_dump_json())
        assert set(dumped) == set(model.model_fields)
        assert model.model_validate(row.model_dump()).model_dump() == row.model_dump()


def test_reference_values_come_back_typed(ref42_copy: Path) -> None:
    engine = create_engine(f"sqlite:///{ref42_copy}")
    try:
        with Session(engine) as session:
            users = {u.username: u for u in session.exec(select(User))}
            persona = session.exec(select(Persona).where(Persona.name == "athena-conductor")).one()
            template = session.exec(select(TaskTemplate)).one()
    finally:
        engine.dispose()
    assert users["dev_user"].status is UserStatus.PENDING
    assert users["admin"].roles == ["super_admin"]
    assert users["admin"].backup_codes == ["1111-2222", "3333-4444"]
    assert users["admin"].last_login_at == datetime(2026, 11, 23, 22, 1, 25, tzinfo=UTC)
    assert (persona.type, persona.role) == (PersonaType.ATHENA, PersonaRole.CONDUCTOR)
    assert persona.trigger_words == ["athena", "conductor"]
    assert template.default_priority is TaskPriority.HIGH


# --- validation ----------------------------------------------------------------------------

VALID: dict[type[TMWSModel], dict[str, Any]] = {
    Persona: {
        "name": "n",
        "type": "athena",
        "role": "conductor",
        "display_name": "N",
        "description": "d",
    },
    User: {"username": "u", "email": "u@example.com", "password_hash": "h"},
    APIKey: {"key_id": "k", "name": "n", "key_hash": "h", "key_prefix": "p", "user_id": "u"},
    RefreshToken: {
        "token_id": "t",
        "token_hash": "h",
        "expires_at": "2026-01-01T00:00:00Z",
        "user_id": "u",
    },
    Task: {"title": "t", "description": "d"},
    TaskTemplate: {
        "template_id": "t",
        "name": "n",
        "title_template": "t",
        "description_template": "d",
    },
    TokenConsumption: {"agent_id": "a", "window_hour": "2026010203"},
}

BAD = [
    # bad enum values
    (Persona, "type", "zeus"),
    (Persona, "role", "king"),
    (User, "status", "banned"),
    (Task, "status", "done"),
    (Task, "priority", "asap"),
    (TaskTemplate, "default_priority", "asap"),
    # wrong types
    (Persona, "total_tasks", "many"),
    (Persona, "specialties", "not a list"),
    (User, "failed_login_attempts", "none"),
    (User, "roles", "admin"),
    (APIKey, "is_active", "perhaps"),
    (APIKey, "scopes", {"read": True}),
    (RefreshToken, "expires_at", "not a date"),
    (Task, "progress_percentage", "half"),
    (Task, "task_config", ["not", "a", "dict"]),
    (TaskTemplate, "usage_count", 1.5),
    (TokenConsumption, "consumption_count", "lots"),
    # over-long strings where TMWS declares a length
    (User, "username", "u" * 65),
    (User, "email", "e" * 256),
    (User, "last_login_ip", "1" * 46),
    (APIKey, "key_id", "k" * 33),
    (APIKey, "name", "n" * 129),
    (APIKey, "key_prefix", "p" * 9),
    (RefreshToken, "token_id", "t" * 65),
    (RefreshToken, "user_id", "u" * 37),
    (Task, "parent_task_id", "p" * 37),
    (Task, "workflow_id", "w" * 37),
    (TokenConsumption, "window_hour", "20260102034"),
    (TokenConsumption, "agent_id", "a" * 37),
    # values the tasks tables' CHECK constraints refuse
    (Task, "title", ""),
    (Task, "description", ""),
    (Task, "access_level", "team"),
    (Task, "progress_percentage", 100.5),
    (Task, "estimated_duration", 0),
    (Task, "actual_duration", -1),
    (Task, "retry_count", -1),
    (Task, "max_retries", -1),
    (Task, "quality_score", 10.5),
    (TaskTemplate, "default_access_level", "everyone"),
    (TaskTemplate, "estimated_duration", -5),
    (TaskTemplate, "success_rate", 1.5),
]
BAD_CASES = [
    pytest.param(model, field, value, id=f"{model.__tablename__}.{field}={value!r:.12}")
    for model, field, value in BAD
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__tablename__)
def test_the_valid_data_is_valid(model) -> None:
    assert isinstance(model.model_validate(VALID[model]), model)


@pytest.mark.parametrize(("model", "field", "value"), BAD_CASES)
def test_model_validate_names_the_bad_field(model, field, value) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate({**VALID[model], field: value})
    assert [e["loc"][0] for e in info.value.errors()] == [field]
    assert model.__name__ in str(info.value)


@pytest.mark.parametrize(("model", "field", "value"), BAD_CASES)
def test_a_bad_instance_built_directly_writes_nothing(model, field, value, store: Store) -> None:
    # A JSON field given the wrong shape too: it is kept untracked, and refused here, as
    # model_validate and insert_many refuse it (it used to be SQLAlchemy's bare ValueError).
    bad = model(**{**VALID[model], field: value})  # SQLModel does not validate here
    with pytest.raises(ValidationError, match=field), store.session() as session:
        session.add(bad)
    assert count(store.path, model.__tablename__) == 0


def test_completion_before_start_is_refused_by_sqlite(store: Store) -> None:
    # The one CHECK spanning two columns has no Pydantic mirror: SQLite refuses the row.
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    task = Task(title="t", description="d", started_at=start, completed_at=start - timedelta(1))
    with pytest.raises(CheckViolationError, match="completion_after_start"), store.session() as s:
        s.add(task)
    assert count(store.path, "tasks") == 0


# --- relationships -------------------------------------------------------------------------


def test_relationships_navigate_in_a_sync_session(filled) -> None:
    # A relationship loads only when the query asks for it: each is named in an option.
    store, rows = filled
    agent, user = rows[Agent][0], rows[User][0]
    parent, child = rows[Task]
    with store.session(readonly=True) as session:
        u = session.get(
            User,
            user.id,
            options=[
                selectinload(User.api_keys).joinedload(APIKey.user),
                selectinload(User.refresh_tokens).joinedload(RefreshToken.user),
            ],
        )
        assert [k.key_prefix for k in u.api_keys] == ["tmws_ci_"]
        assert [t.token_id for t in u.refresh_tokens] == ["1" * 64]
        assert u.api_keys[0].user is u
        assert u.refresh_tokens[0].user is u

        # The Agent sides (declared in agents.py) point back at the same rows.
        a = session.get(
            Agent,
            agent.id,
            options=[selectinload(Agent.tasks), selectinload(Agent.token_consumptions)],
        )
        tasks = session.exec(
            select(Task).options(
                joinedload(Task.parent),
                selectinload(Task.children),
                joinedload(Task.assigned_agent),
            )
        ).all()
        p, c = (next(t for t in tasks if t.id == task.id) for task in (parent, child))
        assert c.parent is p and p.parent is None  # parent: the many-to-one
        assert p.children == [c] and c.children == []  # children: the one-to-many list
        assert p.assigned_agent is a
        assert c.assigned_agent is None

        consumption = session.exec(
            select(TokenConsumption).options(joinedload(TokenConsumption.agent))
        ).one()
        assert consumption.agent is a
        assert p in a.tasks and consumption in a.token_consumptions


def test_reference_task_hierarchy(ref42_copy: Path) -> None:
    # In TMWS's file the sub-task 'Check JWT expiry handling' has the audit as its parent.
    engine = create_engine(f"sqlite:///{ref42_copy}")
    try:
        with Session(engine) as session:
            query = select(Task).options(
                joinedload(Task.parent),
                selectinload(Task.children),
                joinedload(Task.assigned_agent),
            )
            tasks = {t.title: t for t in session.exec(query)}
            audit, sub = tasks["Audit authentication module"], tasks["Check JWT expiry handling"]
            assert sub.parent is audit and audit.parent is None
            assert audit.children == [sub]
            assert audit.assigned_agent.agent_id == "hestia-auditor"
            user = session.exec(
                select(User)
                .where(User.username == "admin")
                .options(selectinload(User.api_keys), selectinload(User.refresh_tokens))
            ).one()
            assert [k.name for k in user.api_keys] == ["CI key"]
            assert len(user.refresh_tokens) == 1
    finally:
        engine.dispose()


def test_both_sides_stay_in_step_in_memory() -> None:
    user = User(username="u", email="u@example.com", password_hash="h")
    token = RefreshToken(token_id="t", token_hash="h", expires_at=datetime.now(UTC), user_id="x")
    token.user = user
    assert user.refresh_tokens == [token]
    key = APIKey(key_id="k", name="n", key_hash="h", key_prefix="p", user_id="x")
    user.api_keys.append(key)
    assert key.user is user
    parent, child = Task(title="p", description="d"), Task(title="c", description="d")
    child.parent = parent
    assert parent.children == [child]


def test_deleting_a_user_deletes_its_keys_and_tokens(filled) -> None:
    store, rows = filled
    with store.session() as session:
        session.delete(session.get(User, rows[User][0].id))
    assert [count(store.path, t) for t in ("users", "api_keys", "refresh_tokens")] == [0, 0, 0]


def test_deleting_a_parent_task_orphans_its_subtasks(filled) -> None:
    store, rows = filled
    parent, child = rows[Task]
    with store.session() as session:
        session.delete(session.get(Task, parent.id))
    assert raw_row(store.path, "SELECT id, parent_task_id FROM tasks") == (child.id, None)
