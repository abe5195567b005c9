"""Values a store must never keep, and sessions that must never write; on both back ends.

- NaN and the infinities: refused as a ``ValidationError`` naming the field, in every float
  field and anywhere inside every JSON field of the 42 models, on every path (a model built
  directly and flushed, ``model_validate``, ``insert_many``); nothing is written. JSON that
  skips validation is still never written as the non-JSON text ``NaN``.
- ``session(readonly=True)``: a write raises ``ReadOnlyStoreError`` on SQLite as on
  PostgreSQL, nothing is written, and the pooled connection writes again afterwards.
"""

import asyncio
import traceback
from collections.abc import Callable
from typing import Any, get_args, get_origin

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, func, inspect, select, update
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import Session

from tmws_store import (
    Agent,
    ConstraintError,
    DetectedPattern,
    ExecutionTrace,
    LearningPattern,
    LicenseKey,
    LicenseKeyUsage,
    Memory,
    ReadOnlyStoreError,
    SkillSuggestion,
    Store,
    TMWSModel,
)
from tmws_store.models._base import column_checks, storable_integer, storable_text
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


# --- values the driver cannot bind, and JSON that would not read back as written -----------


def checked_fields(model: type[TMWSModel], check: Callable[[Any], Any]) -> list[str]:
    return [name for name, found in column_checks(model).items() if found is check]


def refused_on_every_path(store: Store, model: type[TMWSModel], data: dict[str, Any]) -> str:
    """Each path refuses ``data`` with a ValidationError naming one field, which is returned;
    its message never holds the value (a text may be a secret)."""
    messages, fields = [], []
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    messages.append(str(caught.value))
    fields.append(refused_fields(caught))
    with pytest.raises(ValidationError) as caught, store.session() as session:
        session.add(model(**data))  # validated at the flush
    fields.append(refused_fields(caught))
    with pytest.raises(ValidationError) as caught:
        store.insert_many(model, [data])
    fields.append(refused_fields(caught))
    assert model.__name__ in str(caught.value)
    assert fields[0] == fields[1] == fields[2] and len(fields[0]) == 1, fields
    (field,) = fields[0]
    return str(field)


def test_every_integer_and_text_field_refuses_what_sqlite_cannot_keep(
    valid_rows: dict[str, dict[str, Any]], any_store: Store
) -> None:
    """A number outside 64 bits and a text with a lone surrogate passed validation, then
    failed in the driver with a raw OverflowError / UnicodeEncodeError naming nothing."""
    integers = {model: checked_fields(model, storable_integer) for model in MODELS}
    texts = {model: checked_fields(model, storable_text) for model in MODELS}
    assert sum(map(len, integers.values())) == 52 and sum(map(len, texts.values())) == 137
    assert "total_tasks" in integers[Agent] and "display_name" in texts[Agent]
    for model in MODELS:
        good = valid_rows[model.__tablename__]
        cases = [(name, bad) for name in integers[model] for bad in (2**63, -(2**63) - 1)]
        cases += [(name, "secret\ud800text") for name in texts[model]]
        for name, bad in cases:
            assert refused_on_every_path(any_store, model, {**good, name: bad}) == name
        assert count(any_store, model) == 0, model.__name__
    # The limits themselves are kept on SQLite; PostgreSQL's INTEGER is 32 bits (as TMWS
    # declares it there), and refuses more as a StoreError.
    largest = {"agent_id": "a", "display_name": "é", "total_tasks": 2**63 - 1}
    if any_store.backend == "postgresql":
        with pytest.raises(ConstraintError, match="out of range") as caught:
            any_store.insert_many(Agent, [largest])
        assert str(2**63 - 1) not in "".join(traceback.format_exception(caught.value))
        return
    any_store.insert_many(Agent, [largest])
    with any_store.session(readonly=True) as session:
        assert session.exec(select(Agent.total_tasks)).one()[0] == 2**63 - 1


@pytest.mark.parametrize(
    "bad",
    [
        {"n": {1: "first", "1": "second"}},  # read back as {"1": "second"}: a value lost
        {"nested": {True: "yes"}},  # read back with the key "true"
        {"n": 10**5000},  # more digits than json.dumps writes
    ],
    ids=["colliding_keys", "bool_key", "long_integer"],
)
def test_json_that_would_not_read_back_as_written_is_refused(any_store: Store, bad: Any) -> None:
    values = {**MEMORY, "context": bad}
    assert refused_on_every_path(any_store, Memory, values) == "context"
    assert count(any_store, Memory) == 0


def test_a_bare_integer_outside_64_bits_in_an_any_json_field_is_refused(
    valid_rows: dict[str, dict[str, Any]], any_store: Store
) -> None:
    """SQLite keeps a JSON column's bare number with NUMERIC affinity: 12345678901234567891
    was stored as a float and read back as 1.2345678901234567e+19."""
    model = LearningPattern
    assert model.model_fields["pattern_data"].annotation is Any  # a bare number is allowed
    good = valid_rows[model.__tablename__]
    for bad in (2**63, -(2**63) - 1, 12345678901234567891):
        assert refused_on_every_path(any_store, model, {**good, "pattern_data": bad}) == (
            "pattern_data"
        )
    kept = [2**63 - 1, -(2**63), 0.1, [2**70]]  # exactly, also inside an array
    rows = [{**good, "id": None, "pattern_name": f"p{i}", "pattern_data": value}
            for i, value in enumerate(kept)]  # fmt: skip
    any_store.insert_many(model, [{k: v for k, v in row.items() if v is not None} for row in rows])
    with any_store.session(readonly=True) as session:
        found = session.exec(select(model.pattern_data).order_by(model.pattern_name)).scalars()
        assert [repr(value) for value in found] == [repr(value) for value in kept]


def test_a_translated_error_prints_no_value_of_the_row(any_store: Store) -> None:
    """A ReadOnlyStoreError's traceback printed the driver's error as its cause, with the
    INSERT's parameters: here a password's hash."""
    secret = "$2b$12$" + "s" * 53
    with pytest.raises(ReadOnlyStoreError) as caught, any_store.session(readonly=True) as s:
        s.add(Agent(agent_id="a", display_name="A", metadata_json={"hash": secret}))
    printed = "".join(traceback.format_exception(caught.value))
    assert "ReadOnlyStoreError" in printed
    assert secret not in printed


def test_a_licence_uuid_that_is_not_one_is_refused_naming_the_field(
    valid_rows: dict[str, dict[str, Any]], any_store: Store
) -> None:
    """LicenseKey's and LicenseKeyUsage's ids are TMWS's 32-hex-digit uuids: "athena" passed
    validation, then failed at the write with SQLAlchemy's StatementError and every value
    of the row (the licence key's hash among them) in its text."""
    for model, name in [(LicenseKey, "agent_id"), (LicenseKey, "id"),
                        (LicenseKeyUsage, "license_key_id")]:  # fmt: skip
        good = valid_rows[model.__tablename__]
        assert refused_on_every_path(any_store, model, {**good, name: "athena"}) == name
        assert count(any_store, model) == 0


def test_an_error_met_inside_a_session_block_shows_no_value_of_the_row(any_store: Store) -> None:
    """A flush inside the block raises before the block can translate: the driver's error
    text showed the INSERT's parameters, here a name standing for a secret."""
    secret = "secret-display-name"
    with any_store.session() as session:
        session.add(Agent(agent_id="a", display_name=secret))
        session.add(Agent(agent_id="a", display_name=secret))
        with pytest.raises(DBAPIError) as caught:  # as the caller's own code meets it
            session.flush()
        session.rollback()
    printed = "".join(traceback.format_exception(caught.value))
    assert "agents" in printed  # the statement is shown; its values are not
    assert secret not in printed


def test_a_wrong_container_in_a_json_field_is_a_validation_error_on_every_path(
    any_store: Store,
) -> None:
    """Memory(tags="x"), or assigning it, raised SQLAlchemy's bare ValueError ("Attribute
    'tags' does not accept objects of type str") naming no model, and a tuple was refused
    there while model_validate and insert_many took it."""
    for bad in ("x", {"a": 1}):
        assert refused_on_every_path(any_store, Memory, {**MEMORY, "tags": bad}) == "tags"
        with pytest.raises(ValidationError) as caught, any_store.session() as session:
            memory = Memory(**MEMORY)
            memory.tags = bad  # type: ignore[assignment]
            session.add(memory)
        assert refused_fields(caught) == {"tags"}
    assert count(any_store, Memory) == 0
    with any_store.session() as session:
        session.add(Memory(**MEMORY, tags=("from", "constructor")))  # type: ignore[arg-type]
        session.add(Memory.model_validate({**MEMORY, "tags": ("from", "validate")}))
    any_store.insert_many(Memory, [{**MEMORY, "tags": ("from", "insert_many")}])
    with any_store.session() as session:
        stored = sorted(session.exec(select(Memory)).scalars(), key=lambda m: m.tags[1])
        assert [m.tags for m in stored] == [
            ["from", "constructor"],
            ["from", "insert_many"],
            ["from", "validate"],
        ]
        stored[0].tags.append("edited")  # loaded: tracked as ever
    with any_store.session(readonly=True) as session:
        assert ["from", "constructor", "edited"] in session.exec(
            select(Memory.tags)
        ).scalars().all()


# Values the CHECK constraints of these tables refuse, each mirrored by a field constraint,
# and None in the NOT NULL JSON fields typed Any.
CHECKED_BY_THE_DATABASE = [
    (ExecutionTrace, "ttl_days", 0),
    (ExecutionTrace, "execution_time_ms", -1.0),
    (DetectedPattern, "frequency", 2),
    (DetectedPattern, "state", "whatever"),
    (DetectedPattern, "avg_success_rate", 1.5),
    (LearningPattern, "confidence_score", 7.0),
    (LearningPattern, "access_level", "team"),
    (LearningPattern, "usage_count", -1),
    (SkillSuggestion, "relevance_score", 1.5),
    (DetectedPattern, "tool_sequence", None),
    (LearningPattern, "pattern_data", None),
]


@pytest.mark.parametrize(
    ("model", "name", "bad"), CHECKED_BY_THE_DATABASE, ids=lambda v: getattr(v, "__name__", None)
)
def test_what_a_check_or_not_null_would_refuse_is_a_validation_error_first(
    valid_rows: dict[str, dict[str, Any]],
    any_store: Store,
    model: type[TMWSModel],
    name: str,
    bad: Any,
) -> None:
    """These passed validation and were refused by the database (a CheckViolationError or
    NotNullViolationError), so insert_many's promise of a ValidationError giving the row's
    position did not hold."""
    good = valid_rows[model.__tablename__]
    assert refused_on_every_path(any_store, model, {**good, name: bad}) == name
    with pytest.raises(ValidationError) as caught:
        any_store.insert_many(model, [good, {**good, name: bad}])
    assert caught.value.__notes__ == [f"in row 1 given to insert_many({model.__name__}, ...)"]
    assert count(any_store, model) == 0
