"""In-place edits of a JSON value are saved however the object got the value: built by the
constructor or ``model_validate``, assigned later, or attached again to a new session.

SQLModel stores the plain value over the tracked copy SQLAlchemy keeps, so edits made after
the object's first flush were silently lost: only loaded objects tracked them
(tests/test_write_parity.py). Each test edits in place after a flush or a commit, then reads
the row back with plain sqlite3.
"""

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tmws_store import Memory, Store, TMWSModel
from tmws_store.models._base import tracked_json_classes
from tmws_store.types import TrackedDict, TrackedList

from .helpers import reference_row_data


def stored(path: Path, content: str) -> tuple[list[Any], dict[str, Any]]:
    """The tags and context of the memory with ``content``, as the file holds them."""
    con = sqlite3.connect(path)
    try:
        tags, context = con.execute(
            "SELECT tags, context FROM memories WHERE content = ?", (content,)
        ).fetchone()
    finally:
        con.close()
    return json.loads(tags), json.loads(context)


def made_by_constructor() -> Memory:
    return Memory(content="m", agent_id="a", namespace="n", tags=["a"], context={"k": 1})


def made_by_model_validate() -> Memory:
    values = {"content": "m", "agent_id": "a", "namespace": "n", "tags": ["a"]}
    return Memory.model_validate(values | {"context": {"k": 1}})


def assigned_after() -> Memory:
    memory = Memory(content="m", agent_id="a", namespace="n")
    memory.tags = ["a"]
    memory.context = {"k": 1}
    return memory


MAKERS = [made_by_constructor, made_by_model_validate, assigned_after]


@pytest.mark.parametrize("make", MAKERS)
def test_edits_after_the_first_flush_are_saved(
    tmws_store: Store, make: Callable[[], Memory]
) -> None:
    with tmws_store.session() as session:
        memory = make()
        session.add(memory)
        session.flush()  # the row is written; later edits must mark it changed again
        memory.tags.append("b")
        memory.context["k2"] = 2
    assert stored(tmws_store.path, "m") == (["a", "b"], {"k": 1, "k2": 2})


@pytest.mark.parametrize("make", MAKERS)
def test_edits_of_an_object_attached_to_a_new_session_are_saved(
    tmws_store: Store, make: Callable[[], Memory]
) -> None:
    with tmws_store.session() as session:
        memory = make()
        session.add(memory)
    with tmws_store.session() as session:
        session.add(memory)  # committed before; objects stay usable after the block
        memory.tags.append("c")
        memory.context["k"] = 3
    assert stored(tmws_store.path, "m") == (["a", "c"], {"k": 3})


@pytest.mark.asyncio
async def test_edits_after_a_flush_are_saved_in_async_sessions(tmws_store: Store) -> None:
    async with tmws_store.async_session() as session:
        memory = made_by_constructor()
        session.add(memory)
        await session.flush()
        memory.tags.append("b")
        memory.context["k2"] = 2
    await tmws_store.aclose()
    assert stored(tmws_store.path, "m") == (["a", "b"], {"k": 1, "k2": 2})


def test_every_json_value_a_constructor_is_given_is_tracked(tmp_path: Path) -> None:
    """All 42 models, from every reference row: each JSON value given is held tracked, by
    SQLAlchemy and Pydantic alike (one object, in the instance's __dict__)."""
    checked: set[tuple[str, str]] = set()
    for model, row in reference_row_data(tmp_path / "reference"):
        obj = model(**row)
        for name, tracked in tracked_json_classes(model).items():
            value = vars(obj).get(name)
            if value is None:
                continue
            assert type(value) is tracked and getattr(obj, name) is value, (model, name)
            checked.add((model.__tablename__, name))
    all_tracked = {
        (m.__tablename__, name)
        for m in (mapper.class_ for mapper in TMWSModel._sa_registry.mappers)  # type: ignore[attr-defined]
        for name in tracked_json_classes(m)
    }
    assert checked and checked <= all_tracked
    assert {TrackedDict, TrackedList} == {
        tracked
        for m in (mapper.class_ for mapper in TMWSModel._sa_registry.mappers)  # type: ignore[attr-defined]
        for tracked in tracked_json_classes(m).values()
    }
