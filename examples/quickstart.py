"""Quickstart: an agent, its memories and tasks, in the store at the default location.

    python examples/quickstart.py

The store lives at ~/.tmws/data/tmws.db (or $TMWS_HOME/data/tmws.db); set TMWS_HOME to a
scratch folder to try this without touching your real data.
"""

from pydantic import ValidationError
from sqlmodel import select

from tmws_store import Agent, Memory, Store, Task, TaskPriority

with Store() as store:
    print(store.init().summary())  # created the first time, "current" afterwards

    # Writing: everything in the block commits together, or not at all.
    with store.session() as session:
        agent = session.exec(select(Agent).where(Agent.agent_id == "athena")).first()
        if agent is None:
            agent = Agent(agent_id="athena", display_name="Athena", namespace="demo")
            session.add(agent)
        session.add(
            Memory(
                content="The team prefers small, reviewed commits.",
                agent_id="athena",
                namespace="demo",
                tags=["process"],
                importance_score=0.8,
            )
        )
        session.add(
            Task(
                title="Review the storage layer",
                description="Read tmws_store's start-up code",
                assigned_agent_id="athena",
                priority=TaskPriority.HIGH,
            )
        )

    # Reading: the newest memories of one agent, and the agent's tasks.
    with store.session(readonly=True) as session:
        memories = session.exec(
            select(Memory)
            .where(Memory.agent_id == "athena")
            .order_by(Memory.created_at.desc())
            .limit(3)
        ).all()
        for memory in memories:
            print("memory:", memory.content, memory.tags)
        athena = session.exec(select(Agent).where(Agent.agent_id == "athena")).one()
        print("tasks of athena:", [task.title for task in athena.tasks])
        print("as JSON:", memories[0].model_dump_json(include={"id", "content", "created_at"}))

# The models are also Pydantic schemas: bad input is refused with the field named.
try:
    Memory.model_validate({"content": "x", "agent_id": "athena", "namespace": "demo",
                           "access_level": "everyone"})  # fmt: skip
except ValidationError as error:
    print("refused:", error.errors()[0]["loc"][0], "-", error.errors()[0]["msg"])
