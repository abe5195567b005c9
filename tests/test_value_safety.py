"""Values a store must never keep, and sessions that must never write; on both back ends.

- NaN and the infinities: JSON is never written as the non-JSON text ``NaN``, even by a
  statement that skips validation.
- ``session(readonly=True)``: a write raises ``ReadOnlyStoreError`` on SQLite as on
  PostgreSQL, nothing is written, and the pooled connection writes again afterwards.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import StatementError

from tmws_store import Agent, Memory, ReadOnlyStoreError, Store, TMWSModel

BACKENDS = ["sqlite", "postgresql"]


def open_store(target: str) -> Store:
    return Store(url=target) if "://" in target else Store(target)


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, initialised store on each back end (as in test_backends.py)."""
    target = str(tmp_path / "tmws.db")
    if request.param == "postgresql":
        target = request.getfixturevalue("postgres_url")
    with open_store(target) as store:
        store.init()
        yield store


def count(store: Store, model: type[TMWSModel]) -> int:
    with store.session(readonly=True) as session:
        return session.exec(select(func.count()).select_from(model)).one()[0]


# --- NaN and infinities -------------------------------------------------------------------

MEMORY = {"content": "c", "agent_id": "athena", "namespace": "demo"}


def test_json_that_skips_validation_is_never_written_as_nan(any_store: Store) -> None:
    # An UPDATE statement runs no model validation: the JSON type itself must refuse to
    # write the non-JSON text NaN (which SQLite kept, and PostgreSQL refused only once sent).
    with any_store.session() as session:
        session.add(Memory(**MEMORY, metadata_json={"kept": 1}))
    nan_update = update(Memory).values(metadata_json={"x": float("nan")})
    with pytest.raises(StatementError) as caught, any_store.session() as session:
        session.execute(nan_update)
    assert isinstance(caught.value.orig, ValueError)
    assert "not JSON compliant" in str(caught.value.orig)
    with any_store.session(readonly=True) as session:
        assert session.scalars(select(Memory.metadata_json)).all() == [{"kept": 1}]


# --- read-only sessions --------------------------------------------------------------------


def test_a_read_only_session_cannot_write_and_the_next_session_can(any_store: Store) -> None:
    def refused_write() -> object:
        refused = pytest.raises(ReadOnlyStoreError, match=r"read-only session .*nothing")
        with refused, any_store.session(readonly=True) as session:
            dbapi = session.connection().connection.dbapi_connection
            session.add(Agent(agent_id="ares", display_name="Ares"))
        return dbapi

    first = refused_write()
    assert count(any_store, Agent) == 0
    with any_store.session() as session:
        # The same pooled connection the read-only session had: it writes again.
        assert session.connection().connection.dbapi_connection is first
        session.add(Agent(agent_id="athena", display_name="Athena"))
    assert refused_write() is first  # and refuses again once read-only
    with any_store.session(readonly=True) as session:
        assert session.scalars(select(Agent.agent_id)).all() == ["athena"]


def test_an_async_read_only_session_cannot_write_and_the_next_session_can(
    any_store: Store,
) -> None:
    async def raw_connection(session: Any) -> object:
        connection = await session.connection()
        return (await connection.get_raw_connection()).dbapi_connection

    async def refused_write() -> object:
        refused = pytest.raises(ReadOnlyStoreError, match=r"read-only session .*nothing")
        with refused:
            async with any_store.async_session(readonly=True) as session:
                dbapi = await raw_connection(session)
                session.add(Agent(agent_id="ares", display_name="Ares"))
        return dbapi

    async def main() -> list[str]:
        first = await refused_write()
        async with any_store.async_session() as session:
            assert await raw_connection(session) is first
            session.add(Agent(agent_id="athena", display_name="Athena"))
        assert await refused_write() is first
        async with any_store.async_session(readonly=True) as session:
            names = list((await session.exec(select(Agent.agent_id))).scalars().all())
        await any_store.aclose()
        return names

    assert asyncio.run(main()) == ["athena"]
