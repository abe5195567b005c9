"""Relationships load only when a query asks for them (issue #16), in sync and async sessions.

One agent with 2,000 tasks: a plain ``select(Agent)`` is one SELECT; ``selectinload`` brings
all the tasks with one more; touching a relationship that was not asked for raises an error
that names the option to use; writes through relationships need no load. Statements are
counted with a ``before_cursor_execute`` listener on the store's engine.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import selectinload
from sqlmodel import select

from tmws_store import Agent, RelationshipNotLoadedError, Store, Task

# Enough that loading them eagerly would show in the statement count; the count, not the time,
# is what these tests check (the time is a row of benchmarks/run.py).
TASKS = 200
NOT_LOADED = (
    r"Agent\.tasks was not loaded: .*select\(Agent\)\.options\(selectinload\(Agent\.tasks\)\)"
)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends to the database inside the block."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def selects(sent: list[str]) -> list[str]:
    return [s for s in sent if s.lstrip().upper().startswith("SELECT")]


def count(path: Path, sql: str) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def busy_agent(store: Store) -> Store:
    """The store with agent 'athena', who has 2,000 tasks (through the bulk path)."""
    with store.session() as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
    rows = [
        {"title": f"task {i}", "description": "d", "assigned_agent_id": "athena"}
        for i in range(TASKS)
    ]
    assert store.insert_many(Task, rows) == TASKS
    return store


ATHENA = select(Agent).where(Agent.agent_id == "athena")


# --- reading -------------------------------------------------------------------------------


def test_a_plain_select_of_the_agent_is_one_select_and_loads_no_task(busy_agent: Store) -> None:
    with busy_agent.session(readonly=True) as session, statements(busy_agent.engine) as sent:
        agent = session.exec(ATHENA).one()
        assert "tasks" not in agent.__dict__
    assert len(selects(sent)) == 1, sent
    assert "FROM tasks" not in selects(sent)[0]


async def test_a_plain_select_in_an_async_session_is_one_select(busy_agent: Store) -> None:
    store = Store(busy_agent.path)  # its own async engine, closed in this event loop
    try:
        async with store.async_session(readonly=True) as session:
            with statements(store.async_engine.sync_engine) as sent:
                agent = (await session.exec(ATHENA)).one()
            assert "tasks" not in agent.__dict__
    finally:
        await store.aclose()
    assert len(selects(sent)) == 1, sent


def test_selectinload_loads_every_task_with_one_more_select(busy_agent: Store) -> None:
    with busy_agent.session(readonly=True) as session, statements(busy_agent.engine) as sent:
        agent = session.exec(ATHENA.options(selectinload(Agent.tasks))).one()
    # Only what was named: the agent, then its tasks; none of her other relationships.
    assert len(selects(sent)) == 2, sent
    assert len(agent.tasks) == TASKS  # usable after the block
    assert {task.assigned_agent_id for task in agent.tasks} == {"athena"}


async def test_selectinload_loads_every_task_in_an_async_session(busy_agent: Store) -> None:
    store = Store(busy_agent.path)
    try:
        async with store.async_session(readonly=True) as session:
            with statements(store.async_engine.sync_engine) as sent:
                result = await session.exec(ATHENA.options(selectinload(Agent.tasks)))
                agent = result.one()
            tasks = agent.tasks  # no load here: an implicit one would fail in a coroutine
    finally:
        await store.aclose()
    assert len(selects(sent)) == 2, sent
    assert len(tasks) == TASKS


# --- touching what was not loaded ----------------------------------------------------------


def test_touching_unloaded_tasks_raises_naming_the_option(busy_agent: Store) -> None:
    with busy_agent.session(readonly=True) as session, statements(busy_agent.engine) as sent:
        agent = session.exec(ATHENA).one()
        with pytest.raises(RelationshipNotLoadedError, match=NOT_LOADED):
            agent.tasks  # noqa: B018 - the attribute access is what is tested
    assert len(selects(sent)) == 1, sent  # the refusal sent nothing
    with pytest.raises(RelationshipNotLoadedError, match=NOT_LOADED):  # after the block: the same
        agent.tasks  # noqa: B018


async def test_touching_unloaded_tasks_in_an_async_session_raises_the_same(
    busy_agent: Store,
) -> None:
    # Not MissingGreenlet, which names neither the attribute nor what to do.
    store = Store(busy_agent.path)
    try:
        async with store.async_session(readonly=True) as session:
            agent = (await session.exec(ATHENA)).one()
            with pytest.raises(RelationshipNotLoadedError, match=NOT_LOADED):
                agent.tasks  # noqa: B018
    finally:
        await store.aclose()


def test_the_many_to_one_side_names_its_own_option(busy_agent: Store) -> None:
    with busy_agent.session(readonly=True) as session:
        task = session.exec(select(Task).limit(1)).one()
        expected = r"Task\.assigned_agent was not loaded: .*selectinload\(Task\.assigned_agent\)"
        with pytest.raises(RelationshipNotLoadedError, match=expected):
            task.assigned_agent  # noqa: B018


# --- writing through relationships ---------------------------------------------------------


def test_writes_through_relationships_need_no_load(busy_agent: Store) -> None:
    store = busy_agent
    with store.session() as session:
        # A new agent's list starts empty and takes appends.
        hermes = Agent(agent_id="hermes", display_name="Hermes")
        hermes.tasks.append(Task(title="new agent's task", description="d"))
        session.add(hermes)
    with store.session() as session, statements(store.engine) as sent:
        athena = session.exec(ATHENA).one()
        session.add(Task(title="by constructor", description="d", assigned_agent=athena))
        moved = session.exec(select(Task).where(Task.title == "task 0")).one()
        moved.assigned_agent = session.exec(select(Agent).where(Agent.agent_id == "hermes")).one()
    # Three SELECTs, none of them for athena's 2,000 tasks.
    assert len(selects(sent)) == 3, selects(sent)
    per_agent = "SELECT count(*) FROM tasks WHERE assigned_agent_id = '{}'"
    assert count(store.path, per_agent.format("athena")) == TASKS  # one in, one out
    assert count(store.path, per_agent.format("hermes")) == 2


def test_appending_to_tasks_loaded_with_the_option(busy_agent: Store) -> None:
    with busy_agent.session() as session, statements(busy_agent.engine) as sent:
        agent = session.exec(ATHENA.options(selectinload(Agent.tasks))).one()
        agent.tasks.append(Task(title="appended", description="d"))
    assert len(selects(sent)) == 2, selects(sent)
    sql = "SELECT assigned_agent_id FROM tasks WHERE title = 'appended'"
    con = sqlite3.connect(busy_agent.path)
    try:
        assert con.execute(sql).fetchall() == [("athena",)]
    finally:
        con.close()


async def test_writes_through_relationships_in_an_async_session(busy_agent: Store) -> None:
    store = Store(busy_agent.path)
    try:
        async with store.async_session() as session:
            with statements(store.async_engine.sync_engine) as sent:
                athena = (await session.exec(ATHENA)).one()
            session.add(Task(title="async constructor", description="d", assigned_agent=athena))
        async with store.async_session() as session:
            result = await session.exec(ATHENA.options(selectinload(Agent.tasks)))
            athena = result.one()
            athena.tasks.append(Task(title="async append", description="d"))
    finally:
        await store.aclose()
    assert len(selects(sent)) == 1, sent
    titles = (
        "SELECT count(*) FROM tasks WHERE assigned_agent_id = 'athena' AND title LIKE 'async %'"
    )
    assert count(store.path, titles) == 2


def add_hermes(store: Store, tasks: int = 3) -> None:
    """Agent 'hermes' with a few tasks: deleting through the ORM loads each task's sub-tasks
    (to orphan them), one SELECT per task, so these tests keep the count small."""
    with store.session() as session:
        hermes = Agent(agent_id="hermes", display_name="Hermes")
        hermes.tasks.extend(Task(title=f"hermes {i}", description="d") for i in range(tasks))
        session.add(hermes)


HERMES = select(Agent).where(Agent.agent_id == "hermes")


def test_deleting_an_agent_loaded_alone_still_deletes_its_tasks(busy_agent: Store) -> None:
    # The flush loads the tasks it must delete (cascade_delete): asked for by the delete.
    add_hermes(busy_agent)
    with busy_agent.session() as session:
        with statements(busy_agent.engine) as sent:
            hermes = session.exec(HERMES).one()
        session.delete(hermes)
    assert len(selects(sent)) == 1, sent
    assert count(busy_agent.path, "SELECT count(*) FROM tasks") == TASKS  # athena's are left
    assert count(busy_agent.path, "SELECT count(*) FROM agents") == 1


async def test_deleting_an_agent_in_an_async_session_deletes_its_tasks(busy_agent: Store) -> None:
    add_hermes(busy_agent)
    store = Store(busy_agent.path)
    try:
        async with store.async_session() as session:
            with statements(store.async_engine.sync_engine) as sent:
                hermes = (await session.exec(HERMES)).one()
            await session.delete(hermes)
    finally:
        await store.aclose()
    assert len(selects(sent)) == 1, sent
    assert count(store.path, "SELECT count(*) FROM tasks") == TASKS
