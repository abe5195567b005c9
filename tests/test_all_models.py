"""Every one of the 42 models: round trips of TMWS's own rows, stored formats, validation and
relationships, in sync and async sessions.

The rows come from a copy of the complete TMWS reference database: each is read through its
model, validated, written to a fresh store, and must land as the very same raw values TMWS
wrote (datetimes gain TMWS's microsecond digits when TMWS's server default left them off).
"""

import enum
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import String, inspect
from sqlalchemy.orm import selectinload
from sqlmodel import Session, create_engine, select

import tmws_store
from tmws_store import Store, TMWSModel
from tmws_store.types import JSONValue, StrEnumType, UTCDateTime

MODELS = sorted(
    (m.class_ for m in TMWSModel._sa_registry.mappers),  # type: ignore[attr-defined]
    key=lambda cls: cls.__tablename__,
)
TABLE_ORDER = [t.name for t in TMWSModel.metadata.sorted_tables]
BY_TABLE = {m.__tablename__: m for m in MODELS}
DATETIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def test_there_are_42_models_all_exported() -> None:
    assert len(MODELS) == 42
    assert all(getattr(tmws_store, m.__name__) is m for m in MODELS)


def reference_rows(path: Path) -> dict[str, list[TMWSModel]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            return {t: list(session.exec(select(BY_TABLE[t])).all()) for t in TABLE_ORDER}
    finally:
        engine.dispose()


def raw_rows(path: Path, table: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        cols = ", ".join(f'"{c.name}"' for c in TMWSModel.metadata.tables[table].columns)
        return sorted(con.execute(f'SELECT {cols} FROM "{table}"').fetchall(), key=repr)
    finally:
        con.close()


def is_json(column) -> bool:
    return isinstance(column.type, JSONValue) or isinstance(
        getattr(column.type, "impl_instance", None), JSONValue
    )


def normalised(table: str, row: tuple) -> tuple:
    """TMWS's raw values as tmws_store writes them.

    TMWS's server default writes 'YYYY-MM-DD HH:MM:SS' where we write '.000000' too; and
    TMWS sometimes stores None in a JSON column as the JSON text 'null', where we store SQL
    NULL (both read back as None).
    """
    out = []
    for column, value in zip(TMWSModel.metadata.tables[table].columns, row, strict=True):
        if isinstance(column.type, UTCDateTime) and isinstance(value, str) and "." not in value:
            value += ".000000"
        if is_json(column) and value == "null":
            value = None
        out.append(value)
    return tuple(out)


@pytest.fixture(scope="module")
def copied_reference_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Store]:
    """TMWS's reference rows re-written through the models into a fresh store (read only)."""
    from .helpers import REF42, copy_reference

    tmp_path = tmp_path_factory.mktemp("copied")
    reference = copy_reference(REF42, tmp_path)
    rows = reference_rows(reference)
    store = Store(tmp_path / "fresh" / "tmws.db")
    for table in TABLE_ORDER:  # parents before children: foreign keys are enforced
        model = BY_TABLE[table]
        with store.session() as session:
            session.add_all(model.model_validate(row.model_dump()) for row in rows[table])
    yield reference, store
    store.close()


def test_every_reference_row_round_trips_to_the_same_raw_values(copied_reference_store) -> None:
    reference, store = copied_reference_store
    for table in TABLE_ORDER:
        theirs = sorted((normalised(table, r) for r in raw_rows(reference, table)), key=repr)
        assert raw_rows(store.path, table) == theirs, table


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_stored_formats_are_tmws_formats(table: str, copied_reference_store) -> None:
    _, store = copied_reference_store
    columns = list(TMWSModel.metadata.tables[table].columns)
    rows = raw_rows(store.path, table)
    assert rows, f"the reference has no {table} row"
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            if value is None:
                continue
            kind = column.type
            if isinstance(kind, UTCDateTime):
                assert DATETIME_TEXT.match(value), (column, value)
            elif is_json(column):
                json.loads(value)
            elif isinstance(kind, StrEnumType):
                stored = {m.name if kind.store_names else m.value for m in kind.enum_class}
                assert value in stored, (column, value)
            elif column.primary_key and isinstance(kind, String) and kind.length == 36:
                assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", value)


def test_in_place_json_edits_are_saved(store: Store) -> None:
    with store.session() as session:
        task = tmws_store.Task(title="t", description="d", tags=["a"])
        session.add(task)
    with store.session() as session:
        task = session.get(tmws_store.Task, task.id)
        task.tags.append("edited")
        task.task_config["edited"] = True
    with store.session() as session:
        task = session.get(tmws_store.Task, task.id)
    assert task.tags[-1] == "edited" and task.task_config["edited"] is True


# --- validation: bad enum, wrong type, over-long string ------------------------------------


def bad_values(model: type[TMWSModel]) -> list[tuple[str, Any, str]]:
    """(field, bad value, kind) for every field with a checkable type."""
    cases = []
    for name, field in model.model_fields.items():
        columns = model.__table__.columns
        column = columns.get(name) if name in columns else columns.get("metadata")
        annotation = field.annotation
        args = getattr(annotation, "__args__", (annotation,))
        if any(isinstance(a, type) and issubclass(a, enum.Enum) for a in args):
            cases.append((name, "no-such-member", "enum"))
        elif any(a in (int, float) for a in args) and column is not None:
            cases.append((name, "not a number", "type"))
        max_length = next((m.max_length for m in field.metadata if hasattr(m, "max_length")), None)
        if max_length:
            cases.append((name, "x" * (max_length + 1), "length"))
    return cases


VALIDATION_CASES = [
    pytest.param(model, field, value, id=f"{model.__tablename__}.{field}:{kind}")
    for model in MODELS
    for field, value, kind in bad_values(model)
]


def test_every_table_has_a_validation_case() -> None:
    covered = {case.values[0] for case in VALIDATION_CASES}
    assert covered == set(MODELS)
    kinds = {case.id.rsplit(":", 1)[1] for case in VALIDATION_CASES}
    assert kinds == {"enum", "type", "length"}


@pytest.fixture(scope="module")
def valid_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One valid row per table: the first reference row, as a dict."""
    from .helpers import REF42, copy_reference

    path = copy_reference(REF42, tmp_path_factory.mktemp("ref"))
    return {t: rows[0].model_dump() for t, rows in reference_rows(path).items()}


@pytest.mark.parametrize(("model", "field", "value"), VALIDATION_CASES)
def test_model_validate_names_the_bad_field(model, field, value, valid_data) -> None:
    data = {**valid_data[model.__tablename__], field: value}
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    assert [e["loc"][0] for e in info.value.errors()] == [field]
    assert model.__name__ in str(info.value)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__tablename__)
def test_a_bad_instance_built_directly_writes_nothing(model, valid_data, store: Store) -> None:
    field, value, _ = bad_values(model)[0]
    good = model.model_validate(valid_data[model.__tablename__])
    bad = model(**{**good.model_dump(), field: value})  # SQLModel does not validate here
    with pytest.raises(ValidationError, match=field), store.session() as session:
        session.add(bad)
    con = sqlite3.connect(store.path)
    assert con.execute(f'SELECT count(*) FROM "{model.__tablename__}"').fetchone() == (0,)


# --- relationships -------------------------------------------------------------------------

RELATIONSHIPS = [
    pytest.param(model, rel.key, id=f"{model.__name__}.{rel.key}")
    for model in MODELS
    for rel in inspect(model).relationships
]


def test_relationships_are_declared() -> None:
    assert len(RELATIONSHIPS) >= 40


@pytest.mark.parametrize(("model", "attr"), RELATIONSHIPS)
def test_relationship_navigates_in_a_sync_session(model, attr, copied_reference_store) -> None:
    _, store = copied_reference_store
    with store.session(readonly=True) as session:
        rows = session.exec(select(model).options(selectinload(getattr(model, attr)))).all()
        values = [getattr(row, attr) for row in rows]
    related = [v for v in values if v not in (None, [])]
    assert related, f"no {model.__name__} row of the reference has a related {attr}"
    for value in related:
        for item in value if isinstance(value, list) else [value]:
            assert isinstance(item, TMWSModel)


async def test_relationships_load_in_an_async_session(copied_reference_store) -> None:
    _, shared = copied_reference_store
    store = Store(shared.path)  # its own engines: the async one is closed at the end
    async with store.async_session(readonly=True) as session:
        every = [selectinload(r.class_attribute) for r in inspect(tmws_store.Agent).relationships]
        agent = (await session.exec(select(tmws_store.Agent).options(*every))).first()
        loaded = {
            rel.key: getattr(agent, rel.key) for rel in inspect(tmws_store.Agent).relationships
        }
        with_executions = selectinload(tmws_store.Workflow.executions)
        query = select(tmws_store.Workflow).options(with_executions)
        workflow = (await session.exec(query)).first()
        executions = workflow.executions
    await store.aclose()
    assert set(loaded) == {
        "tasks",
        "verification_records",
        "trust_history",
        "license_keys",
        "token_consumptions",
    }
    assert isinstance(executions, list)
