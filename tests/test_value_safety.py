"""Values a store must never keep, and sessions that must never write; on both back ends.

- NaN and the infinities: refused as a ``ValidationError`` naming the field, in every float
  field and anywhere inside every JSON field of the 42 models, on every path (a model built
  directly and flushed, ``model_validate``, ``insert_many``); nothing is written. JSON that
  skips validation is still never written as the non-JSON text ``NaN``.
- ``session(readonly=True)``: a write raises ``ReadOnlyStoreError`` on SQLite as on
  PostgreSQL, nothing is written, and the pooled connection writes again afterwards.
"""

import asyncio
from collections.abc import Callable
from typing import Any, get_args, get_origin

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, func, inspect, select, update
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from tmws_store import Agent, Memory, ReadOnlyStoreError, Store, TMWSModel
from tmws_store.types import JSONValue

from .helpers import REF42, copy_reference

NON_FINITE = [float("nan"), float("inf"), float("-inf")]
MODELS = sorted(
    (m.class_ for m in TMWSModel._sa_registry.mappers),  # type: ignore[attr-defined]
    key=lambda cls: cls.__tablename__,
)


def count(store: Store, model: type[TMWSModel]) -> int:
    with store.session(readonly=True) as session:
        return session.exec(select(func.count()).select_from(model)).one()[0]


def refused_fields(caught: pytest.ExceptionInfo[ValidationError]) -> set[Any]:
    return {error["loc"][0] for error in caught.value.errors()}


# --- NaN and infinities: one model, every path, both back ends -----------------------------

MEMORY = {"content": "c", "agent_id": "athena", "namespace": "demo"}


def nested_in_json(bad: float) -> dict[str, Any]:
    return {"metadata_json": {"scores": [1, {"deep": bad}]}}


def float_field(bad: float) -> dict[str, Any]:
    return {"importance_score": bad}


def refuse_on_every_path(store: Store, values: dict[str, Any]) -> None:
    """Each path raises a ValidationError naming exactly the bad field, and writes nothing."""
    (field,) = values
    with pytest.raises(ValidationError) as caught, store.session() as session:
        session.add(Memory(**MEMORY, **values))  # not validated here: at the flush
    assert refused_fields(caught) == {field}
    with pytest.raises(ValidationError) as caught, store.session() as session:
        session.add(Memory.model_validate({**MEMORY, **values}))
    assert refused_fields(caught) == {field}
    with pytest.raises(ValidationError) as caught:
        store.insert_many(Memory, [MEMORY, {**MEMORY, **values}])
    assert refused_fields(caught) == {field}
    assert "Memory" in str(caught.value)
    assert count(store, Memory) == 0


@pytest.mark.parametrize("where", [float_field, nested_in_json], ids=lambda f: f.__name__)
def test_nan_and_infinities_are_refused_on_every_path(
    any_store: Store, where: Callable[[float], dict[str, Any]]
) -> None:
    for bad in NON_FINITE:
        refuse_on_every_path(any_store, where(bad))


def test_a_non_finite_number_put_into_json_in_place_is_refused(any_store: Store) -> None:
    with any_store.session() as session:
        memory = Memory(**MEMORY, context={"kept": 1})
        session.add(memory)
    with pytest.raises(ValidationError, match="context"), any_store.session() as session:
        loaded = session.get(Memory, memory.id)
        assert loaded is not None
        loaded.context["scores"] = [0.5, float("nan")]  # tracked edit: an UPDATE at the flush
    with any_store.session(readonly=True) as session:
        again = session.get(Memory, memory.id)
    assert again is not None and again.context == {"kept": 1}


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


# --- NaN and infinities: every float and JSON field of the 42 models -----------------------


def float_fields(model: type[TMWSModel]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if float in (get_args(field.annotation) or (field.annotation,))
    ]


def json_fields(model: type[TMWSModel]) -> list[str]:
    columns = inspect(model).columns  # keyed by attribute: metadata_json, not metadata
    return [name for name in model.model_fields if isinstance(columns[name].type, JSONValue)]


def bad_json(model: type[TMWSModel], name: str, bad: float) -> Any:
    """A value of the field's shape (array, object or any) with ``bad`` nested inside."""
    if get_origin(model.model_fields[name].annotation) is list:
        return ["ok", {"deep": [bad]}]
    return {"deep": [1, {"deeper": bad}]}


def bad_cases(model: type[TMWSModel]) -> list[tuple[str, Any]]:
    """(field, bad value) for every float and JSON field of ``model``, each bad number."""
    floats = [(name, bad) for name in float_fields(model) for bad in NON_FINITE]
    jsons = [
        (name, bad_json(model, name, bad)) for name in json_fields(model) for bad in NON_FINITE
    ]
    return floats + jsons


@pytest.fixture(scope="module")
def valid_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One valid row per table: the first row of the TMWS reference database, as a dict."""
    path = copy_reference(REF42, tmp_path_factory.mktemp("ref"))
    engine = create_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            return {
                model.__tablename__: session.scalars(select(model)).first().model_dump()
                for model in MODELS
            }
    finally:
        engine.dispose()


def test_every_float_and_json_field_of_the_42_models_refuses_them(
    valid_rows: dict[str, dict[str, Any]], any_store: Store
) -> None:
    # The lists are found from the models: check they really hold what they should.
    assert len(MODELS) == 42
    assert float_fields(Memory) == ["importance_score", "relevance_score", "learning_weight"]
    assert "average_response_time_ms" in float_fields(Agent)  # float | None
    assert {"context", "tags", "metadata_json"} <= set(json_fields(Memory))
    # As many as tmws_store/models declares (float annotations; JSON sa_types and helpers).
    assert sum(len(float_fields(model)) for model in MODELS) == 29
    assert sum(len(json_fields(model)) for model in MODELS) == 86
    for model in MODELS:
        good = valid_rows[model.__tablename__]
        model.model_validate(good)  # the row itself is valid: each refusal is the bad value's
        for name, bad in bad_cases(model):
            data = {**good, name: bad}
            where = f"{model.__name__}.{name} = {bad!r}"
            with pytest.raises(ValidationError) as caught:
                model.model_validate(data)
            assert refused_fields(caught) == {name}, where
            with pytest.raises(ValidationError) as caught, any_store.session() as session:
                session.add(model(**data))  # SQLModel does not validate here: at the flush
            assert refused_fields(caught) == {name}, where
            with pytest.raises(ValidationError) as caught:
                any_store.insert_many(model, [data])
            assert refused_fields(caught) == {name}, where
        assert count(any_store, model) == 0, model.__name__


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
