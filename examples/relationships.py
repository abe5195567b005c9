"""Related rows, loaded only when asked for: an agent with 1,000 tasks, sync and async.

    python examples/relationships.py

A relationship (``agent.tasks``, ``task.assigned_agent``, ...) is loaded when the query names
it in an option, ``selectinload(Agent.tasks)``; touching one that was not asked for raises
an error that says which option to add. The same code works in sync and async sessions.
Writes through relationships need no load. Uses a scratch folder, deleted at the end.
"""

import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import selectinload
from sqlmodel import select

from tmws_store import Agent, RelationshipNotLoadedError, Store, Task

TASKS = 1_000
ATHENA = select(Agent).where(Agent.agent_id == "athena")
# SQLModel types ``Agent.tasks`` as the list it holds on an object, not as the class attribute
# that loader options take: type checkers need to be told (it runs as intended).
WITH_TASKS = selectinload(Agent.tasks)  # type: ignore[arg-type]


def fill(store: Store) -> None:
    """Athena, with her tasks added through the relationship and the bulk path."""
    with store.session() as session:
        athena = Agent(agent_id="athena", display_name="Athena")
        athena.tasks.append(Task(title="Plan the week", description="first things first"))
        session.add(athena)  # a new object's list starts empty: appends need no load
    rows = [
        {"title": f"task {i}", "description": "routine", "assigned_agent_id": "athena"}
        for i in range(1, TASKS)
    ]
    store.insert_many(Task, rows)


def read_sync(store: Store) -> None:
    start = time.perf_counter()
    with store.session(readonly=True) as session:
        alone = session.exec(ATHENA).one()
    alone_ms = (time.perf_counter() - start) * 1e3
    print(f"athena alone: {alone_ms:.1f} ms, none of her {TASKS} tasks loaded")
    try:
        alone.tasks  # noqa: B018 - not asked for: raises, in any session or none
    except RelationshipNotLoadedError as exc:
        print(f"touching alone.tasks: {exc}")

    start = time.perf_counter()
    with store.session(readonly=True) as session:
        athena = session.exec(ATHENA.options(WITH_TASKS)).one()
    with_ms = (time.perf_counter() - start) * 1e3
    print(f"athena with her tasks: {with_ms:.1f} ms, {len(athena.tasks)} tasks loaded")


def write_sync(store: Store) -> None:
    with store.session() as session:
        athena = session.exec(ATHENA).one()  # her tasks are not loaded, and need not be
        session.add(Task(title="Review the storage layer", description="d", assigned_agent=athena))
    with store.session(readonly=True) as session:
        athena = session.exec(ATHENA.options(WITH_TASKS)).one()
    print(f"after Task(assigned_agent=athena): {len(athena.tasks)} tasks")


async def read_and_write_async(store: Store) -> None:
    # The same options in an async session; an implicit load would fail there anyway.
    async with store.async_session() as session:
        athena = (await session.exec(ATHENA.options(WITH_TASKS))).one()
        athena.tasks.append(Task(title="Write the report", description="d"))
    async with store.async_session(readonly=True) as session:
        athena = (await session.exec(ATHENA.options(WITH_TASKS))).one()
    print(f"async, after athena.tasks.append(...): {len(athena.tasks)} tasks")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tmws-relationships-") as scratch:
        # "async with" closes the aiosqlite connections in this loop.
        async with Store(Path(scratch) / "tmws.db") as store:
            fill(store)
            read_sync(store)
            write_sync(store)
            await read_and_write_async(store)


if __name__ == "__main__":
    asyncio.run(main())
