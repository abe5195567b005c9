"""An async agent loop on aiosqlite: think, remember, recall.

python examples/async_agent_loop.py
"""

import asyncio

from sqlmodel import select

from tmws_store import Agent, Memory, Store


async def main() -> None:
    async with Store() as store:  # closes its aiosqlite connections at the end
        store.init()
        async with store.async_session() as session:
            agent = (await session.exec(select(Agent).where(Agent.agent_id == "muses"))).first()
            if agent is None:
                session.add(Agent(agent_id="muses", display_name="Muses", namespace="demo"))

        for step in range(3):
            # Each iteration is one short write transaction, so other processes interleave.
            async with store.async_session() as session:
                session.add(
                    Memory(content=f"observation {step}", agent_id="muses", namespace="demo")
                )
            async with store.async_session(readonly=True) as session:
                newest = (
                    await session.exec(
                        select(Memory)
                        .where(Memory.agent_id == "muses")
                        .order_by(Memory.created_at.desc())
                    )
                ).first()
            print(f"step {step}: newest memory is {newest.content!r}")
            await asyncio.sleep(0.01)


asyncio.run(main())
