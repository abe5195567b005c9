"""Quickstart: an agent, its memories and a task; queries; JSON; validation.

    python examples/quickstart.py

``Store()`` finds the database the way every TMWS tool does: ``TMWS_DATABASE_URL``, else
``$TMWS_HOME/data/tmws.db``, else ``~/.tmws/data/tmws.db``. So that trying this example
never adds demo rows to your real agents' data, it uses a scratch folder, deleted at the end,
unless you set ``TMWS_HOME`` or ``TMWS_DATABASE_URL`` yourself.
"""

import contextlib
import os
import tempfile

from pydantic import ValidationError
from sqlmodel import col, select

from tmws_store import Agent, Memory, Store, Task, TaskPriority, TaskStatus


def scratch_home() -> contextlib.AbstractContextManager[object]:
    """A TMWS_HOME in a temporary folder, deleted with the block; nothing if one is set."""
    if os.environ.get("TMWS_HOME") or os.environ.get("TMWS_DATABASE_URL"):
        return contextlib.nullcontext()
    scratch = tempfile.TemporaryDirectory(prefix="tmws-quickstart-")
    os.environ["TMWS_HOME"] = scratch.name
    return scratch


# A Store is cheap to make and opens nothing yet; "with" closes its connections at the end
# (before the scratch folder, if any, is deleted).
with scratch_home(), Store() as store:
    # init() creates the file and all its tables the first time, and afterwards only checks
    # that the file is current (two numbers in its header), so call it at every start.
    print(store.init().summary())

    # --- writing: everything in one "with store.session()" block commits together ---------
    with store.session() as session:
        athena = session.exec(select(Agent).where(Agent.agent_id == "athena")).first()
        if athena is None:  # the first run; later runs find her already there
            athena = Agent(agent_id="athena", display_name="Athena", namespace="demo")
            session.add(athena)
        session.add(
            Memory(
                content="The team prefers small, reviewed commits.",
                agent_id="athena",
                namespace="demo",
                tags=["process"],  # JSON columns take plain lists and dicts
                importance_score=0.8,
            )
        )
        session.add(
            Memory(
                content="Stand-up is at 09:30.",
                agent_id="athena",
                namespace="demo",
                importance_score=0.3,
            )
        )
        session.add(
            Task(
                title="Review the storage layer",
                description="Read tmws_store's start-up code",
                assigned_agent_id="athena",
                priority=TaskPriority.HIGH,  # enums are stored as their values: "high"
            )
        )
    # Committed here. Had the block raised, nothing of it would have been written.

    # --- reading: readonly=True begins a plain read transaction, never blocking writers ---
    with store.session(readonly=True) as session:
        important = session.exec(
            select(Memory)
            .where(Memory.agent_id == "athena", Memory.importance_score >= 0.5)
            .order_by(col(Memory.created_at).desc())
        ).all()
        for memory in important:
            print("important memory:", memory.content, memory.tags)

        pending = session.exec(
            select(Task).where(
                Task.assigned_agent_id == "athena", Task.status == TaskStatus.PENDING
            )
        ).all()
        print("tasks of athena:", [task.title for task in pending])

        # Every row is also a Pydantic model: dump it to a dict or to JSON.
        newest = important[0]
        print("as JSON:", newest.model_dump_json(include={"id", "content", "created_at"}))

# --- validation -----------------------------------------------------------------------------
# Table classes do not validate in their constructor (SQLModel's rule); the store checks
# each row before writing it, and model_validate() checks input as early as you like:
# do that with anything that came from outside (a request, a file, a model's output).
untrusted = {"content": "x", "agent_id": "athena", "namespace": "demo", "access_level": "all"}
try:
    Memory.model_validate(untrusted)
except ValidationError as error:
    problem = error.errors()[0]
    print("refused:", problem["loc"][0], "-", problem["msg"])
