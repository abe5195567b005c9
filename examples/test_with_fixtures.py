"""Testing your own code with tmws_store's pytest fixtures (installed with the package).

    python -m pytest examples/test_with_fixtures.py

Each test gets a fresh, current store in its own temp dir; the real ~/.tmws is not touched.
"""

from sqlmodel import select

from tmws_store import Agent, Memory


def remember(session, agent_id: str, text: str) -> Memory:
    """The code under test: store a memory for an agent."""
    memory = Memory(content=text, agent_id=agent_id, namespace="tests")
    session.add(memory)
    return memory


def test_remember_stores_a_memory(tmws_session) -> None:
    remember(tmws_session, "athena", "hello")
    tmws_session.flush()
    stored = tmws_session.exec(select(Memory)).all()
    assert [m.content for m in stored] == ["hello"]


def test_each_test_starts_empty(tmws_store) -> None:
    with tmws_store.session() as session:
        assert session.exec(select(Memory)).all() == []


def test_several_stores(tmws_store_factory) -> None:
    first, second = tmws_store_factory("first"), tmws_store_factory("second")
    with first.session() as session:
        session.add(Agent(agent_id="a", display_name="A"))
    with second.session() as session:
        assert session.exec(select(Agent)).all() == []


async def test_async_session(tmws_async_session) -> None:
    tmws_async_session.add(Agent(agent_id="b", display_name="B"))
    await tmws_async_session.flush()
    agents = (await tmws_async_session.exec(select(Agent))).all()
    assert [a.agent_id for a in agents] == ["b"]
