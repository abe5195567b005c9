"""Testing your own code with tmws_store's pytest fixtures (installed with the package).

    python -m pytest examples/test_with_fixtures.py
    python examples/test_with_fixtures.py      # the same: it runs pytest on itself

Every test gets a fresh, current store in its own temp dir; the real ~/.tmws is never
touched, and nothing is shared between tests. The fixtures:

- ``tmws_store``: a ``Store``; open sessions on it yourself.
- ``tmws_session``: a sync session on it, committed when the test passes.
- ``tmws_async_session``: the async twin, for ``async def`` tests (needs pytest-asyncio;
  mark the test ``@pytest.mark.asyncio`` unless your project sets ``asyncio_mode = auto``).
- ``tmws_store_factory``: as many separate stores as a test needs.
"""

from collections.abc import Callable

import pytest
from sqlmodel import Session, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tmws_store import Agent, Memory, Store


def remember(session: Session, agent_id: str, text: str) -> Memory:
    """The code under test: store a memory for an agent."""
    memory = Memory(content=text, agent_id=agent_id, namespace="tests")
    session.add(memory)
    return memory


def test_remember_stores_a_memory(tmws_session: Session) -> None:
    remember(tmws_session, "athena", "hello")
    tmws_session.flush()  # send the pending insert, so the query below sees it
    stored = tmws_session.exec(select(Memory)).all()
    assert [m.content for m in stored] == ["hello"]


def test_each_test_starts_empty(tmws_store: Store) -> None:
    # Runs after the test above, which wrote a memory: that was in another store.
    with tmws_store.session(readonly=True) as session:
        assert session.exec(select(Memory)).all() == []


def test_several_stores(tmws_store_factory: Callable[..., Store]) -> None:
    first, second = tmws_store_factory("first"), tmws_store_factory("second")
    with first.session() as session:
        session.add(Agent(agent_id="a", display_name="A"))
    with second.session(readonly=True) as session:
        assert session.exec(select(Agent)).all() == []


@pytest.mark.asyncio
async def test_async_session(tmws_async_session: AsyncSession) -> None:
    tmws_async_session.add(Agent(agent_id="b", display_name="B"))
    await tmws_async_session.flush()
    agents = (await tmws_async_session.exec(select(Agent))).all()
    assert [a.agent_id for a in agents] == ["b"]


if __name__ == "__main__":
    # Run as a script, the file tests itself, writing no cache folder beside it. tmws_store is
    # imported already (above), so pytest cannot rewrite the asserts of its plugin, which has
    # none: pytest's warning about that is left out.
    options = ["-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    raise SystemExit(pytest.main([*options, __file__]))
