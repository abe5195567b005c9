"""An async agent loop on aiosqlite: observe, remember, recall.

    python examples/async_agent_loop.py

Like the quickstart, it uses a scratch folder, deleted at the end, unless ``TMWS_HOME`` or
``TMWS_DATABASE_URL`` is set, so your real agents' memories are left alone.
"""

import asyncio
import contextlib
import os
import tempfile

from sqlmodel import col, select

from tmws_store import Agent, Memory, Store

AGENT = "muses"


def scratch_home() -> contextlib.AbstractContextManager[object]:
    """A TMWS_HOME in a temporary folder, deleted with the block; nothing if one is set."""
    if os.environ.get("TMWS_HOME") or os.environ.get("TMWS_DATABASE_URL"):
        return contextlib.nullcontext()
    scratch = tempfile.TemporaryDirectory(prefix="tmws-async-")
    os.environ["TMWS_HOME"] = scratch.name
    return scratch


async def newest_memory(store: Store) -> Memory | None:
    """The agent's most recent memory, read in a short read-only transaction."""
    async with store.async_session(readonly=True) as session:
        result = await session.exec(
            select(Memory).where(Memory.agent_id == AGENT).order_by(col(Memory.created_at).desc())
        )
        return result.first()


async def main() -> None:
    # "async with" closes the store's aiosqlite connections when the loop is done. Each
    # connection runs in a thread of its own: left open, it would keep Python from exiting.
    async with Store() as store:
        store.init()  # sync and fast; call it once at start-up

        async with store.async_session() as session:
            if (await session.exec(select(Agent).where(Agent.agent_id == AGENT))).first() is None:
                session.add(Agent(agent_id=AGENT, display_name="Muses", namespace="demo"))

        for step in range(3):
            # One short write transaction per step: other processes and agents using the
            # same file get their turn in between.
            async with store.async_session() as session:
                session.add(Memory(content=f"observation {step}", agent_id=AGENT, namespace="demo"))
            newest = await newest_memory(store)
            assert newest is not None  # we have just written one
            print(f"step {step}: newest memory is {newest.content!r}")
            await asyncio.sleep(0.01)  # the agent's real work would go here


if __name__ == "__main__":
    with scratch_home():
        asyncio.run(main())
