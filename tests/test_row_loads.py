"""Loading rows as objects: the fast paths give exactly what the general ones gave (issue #16).

Datetime text that TMWS writes is parsed in one step, JSON text by the C scanner directly,
and the tracking of JSON values is set up by one listener per class. Each test stores real
text in a real file with sqlite3 and loads it through a session, comparing with what the
general path (``datetime.fromisoformat`` then the conversion to UTC; ``json.loads``) gives.
"""

import gc
import json
import math
import pickle
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, type_coerce
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session, SQLModel, select

from tmws_store import Memory, Store, TMWSModel
from tmws_store.types import JSONDict, JSONList, JSONValue, TrackedDict, TrackedList, UTCDateTime

from .helpers import REF42, copy_reference

MODELS = {m.class_.__tablename__: m.class_ for m in TMWSModel._sa_registry.mappers}  # type: ignore[attr-defined]


def general_datetime(text: str) -> datetime:
    """What every datetime column gave before the fast path: SQLAlchemy's parse, then UTC."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# Every shape a datetime column may hold: TMWS's own text (with and without the fraction),
# shorter fractions, the ISO 'T', offsets of every spelling (some at the fast path's very
# lengths, which must not take a second offset), a date alone, and the extreme years.
DATETIME_TEXTS = [
    "2026-11-23 22:06:25.123456",
    "2026-11-23 22:06:25.000000",
    "2026-11-23 22:06:25",
    "2026-11-23 22:06:25.5",
    "2026-11-23 22:06:25.123",
    "2026-11-23 22:06:25,123456",
    "2026-11-23T22:06:25.123456",
    "2026-11-23T22:06:25",
    "2026-11-23 22:06",
    "2026-11-23",
    "2026-11-23 22:06:25+00:00",
    "2026-11-23 22:06:25.123456+09:00",
    "2026-11-23 22:06:25-05:30",
    "2026-11-23 22:06:25Z",
    "2026-11-23T22+09:00",  # 19 characters, with an offset
    "2026-11-23 22:06:25.1+0900",  # 26 characters, with an offset
    "20261123T220625.1234567890",  # 26 characters, ISO basic form
    "0001-01-01 00:00:00.000000",
    "9999-12-31 23:59:59.999999",
    "2024-02-29 12:00:00.000001",
]


def memory_store(path: Path, count: int) -> Store:
    """A store holding ``count`` memories with ids m0, m1, ..."""
    store = Store(path)
    store.init()
    store.insert_many(
        Memory,
        [{"id": f"m{i}", "content": "x", "agent_id": "a", "namespace": "n"} for i in range(count)],
    )
    return store


def set_raw(store: Store, sql: str, *rows: tuple[Any, ...]) -> None:
    """Write text into the file with sqlite3, as another program would."""
    con = sqlite3.connect(store.path)
    with con:
        con.executemany(sql, rows)
    con.close()


def load_memories(store: Store) -> dict[str, Memory]:
    with Session(store.engine) as session:
        return {m.id: m for m in session.exec(select(Memory)).all()}


def test_every_datetime_shape_loads_as_the_general_path_gives(tmp_path: Path) -> None:
    store = memory_store(tmp_path / "t.db", len(DATETIME_TEXTS))
    set_raw(
        store,
        "UPDATE memories SET created_at = ?, accessed_at = ? WHERE id = ?",
        *((text, text, f"m{i}") for i, text in enumerate(DATETIME_TEXTS)),
    )
    loaded = load_memories(store)
    for i, text in enumerate(DATETIME_TEXTS):
        expected = general_datetime(text)
        for got in (loaded[f"m{i}"].created_at, loaded[f"m{i}"].accessed_at):
            assert got is not None, text
            assert (got, got.tzinfo, got.fold) == (expected, expected.tzinfo, expected.fold), text
            assert got.tzinfo is UTC, text


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23 22:06:2x.123456",
        "2026-11-23 22:06:2.12345Z",
        "not a date at all!!",
        "2026-13-01 00:00:00",
    ],
)
def test_unreadable_datetime_text_fails_as_before(tmp_path: Path, text: str) -> None:
    store = memory_store(tmp_path / "t.db", 1)
    set_raw(store, "UPDATE memories SET created_at = ?", (text,))
    with pytest.raises(ValueError) as expected:
        general_datetime(text)
    with pytest.raises(
        type(expected.value), match=str(expected.value).replace("(", r"\(").replace(")", r"\)")
    ):
        load_memories(store)


def test_every_datetime_and_json_column_of_the_reference_loads_as_before(tmp_path: Path) -> None:
    path = copy_reference(REF42, tmp_path)
    store = Store(path)
    con = sqlite3.connect(path)
    compared = 0
    try:
        with Session(store.engine) as session:
            for name, model in MODELS.items():
                mapper = inspect(model)
                for prop in mapper.column_attrs:
                    column = prop.columns[0]
                    kind = column.type
                    if not isinstance(kind, UTCDateTime | JSONValue):
                        continue
                    raw = dict(
                        con.execute(f'SELECT rowid, "{column.name}" FROM "{name}"').fetchall()
                    )
                    for obj in session.exec(select(model)).all():
                        rowid = con.execute(
                            f'SELECT rowid FROM "{name}" WHERE '
                            + " AND ".join(f'"{c.name}" IS ?' for c in mapper.primary_key),
                            [
                                getattr(obj, mapper.get_property_by_column(c).key)
                                for c in mapper.primary_key
                            ],
                        ).fetchone()[0]
                        stored, got = raw[rowid], getattr(obj, prop.key)
                        if stored is None:
                            assert got is None
                        elif isinstance(kind, UTCDateTime):
                            assert got == general_datetime(stored) and got.tzinfo is UTC
                        else:
                            assert got == (
                                json.loads(stored) if isinstance(stored, str) else stored
                            )
                        compared += 1
    finally:
        con.close()
        store.close()
    assert compared > 100  # the reference holds rows in every table


# JSON text as it may sit in a file: compact or not, whitespace around the value, escapes,
# numbers beyond a float, deep nesting, NaN (which Python's json reads).
JSON_TEXTS = [
    '{"a": 1}',
    '{"a":{"b":[1,2.5,null,true,false,"x"]}}',
    ' {"a": 1}',
    '{"a": 1}\n',
    '\t{ "a" : [ ] }  ',
    '{"\\u00e9\\ud83d\\ude00": "\\"quoted\\""}',
    '{"big": 123456789012345678901234567890, "huge": 1e400, "tiny": -0.0}',
    '{"nan": NaN}',
    '{"deep": ' + "[" * 60 + "]" * 60 + "}",
    '{"a": 1, "a": 2}',
]


def test_json_text_loads_as_json_loads_reads_it(tmp_path: Path) -> None:
    store = memory_store(tmp_path / "t.db", len(JSON_TEXTS))
    set_raw(
        store,
        "UPDATE memories SET context = ? WHERE id = ?",
        *((text, f"m{i}") for i, text in enumerate(JSON_TEXTS)),
    )
    loaded = load_memories(store)
    for i, text in enumerate(JSON_TEXTS):
        got, expected = loaded[f"m{i}"].context, json.loads(text)
        if "nan" in expected:
            assert math.isnan(got["nan"]) and got.keys() == expected.keys()
        else:
            assert got == expected, text
            assert json.dumps(got) == json.dumps(expected), text  # same types: 1e400 is inf


@pytest.mark.parametrize("text", ['{"a": 1} x', '{"a": ', "[1, 2,]", "", "{'a': 1}"])
def test_invalid_json_fails_as_json_loads_fails(tmp_path: Path, text: str) -> None:
    store = memory_store(tmp_path / "t.db", 1)
    set_raw(store, "UPDATE memories SET context = ?", (text,))
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        load_memories(store)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


def test_one_listener_sets_up_the_tracking_of_all_json_columns() -> None:
    # A memory has five JSON columns; SQLAlchemy's Mutable added one load listener for each,
    # dispatched for every row loaded.
    configure_mappers()
    manager = inspect(Memory).class_manager
    assert len(list(manager.dispatch.load)) == 1
    assert len(list(manager.dispatch.refresh)) == 1


def saved_json(store: Store) -> tuple[str, str, str]:
    con = sqlite3.connect(store.path)
    try:
        return con.execute(
            "SELECT tags, context, metadata FROM memories WHERE id = 'm0'"
        ).fetchone()
    finally:
        con.close()


@pytest.mark.parametrize(
    "how", ["refresh", "refresh_some", "expire", "expire_some", "merge", "pickle"]
)
def test_json_values_track_in_place_edits_however_the_row_was_loaded(
    tmp_path: Path, how: str
) -> None:
    store = memory_store(tmp_path / "t.db", 1)
    set_raw(store, """UPDATE memories SET tags = '["x"]', context = '{"k": 1}'""", ())
    with Session(store.engine) as session:
        memory = session.get(Memory, "m0")
        assert memory is not None
        if how == "refresh":
            session.refresh(memory)
        elif how == "refresh_some":
            session.refresh(memory, ["tags", "context"])
        elif how == "expire":
            session.expire(memory)
        elif how == "expire_some":
            session.expire(memory, ["tags", "context"])
        elif how == "merge":
            session.expunge(memory)
            memory = session.merge(memory, load=False)
        else:
            session.expunge(memory)
            memory = session.merge(pickle.loads(pickle.dumps(memory)), load=False)
        memory.tags.append("y")
        memory.context["k"] = 2
        memory.metadata_json["m"] = True
        session.commit()
    assert saved_json(store) == ('["x", "y"]', '{"k": 2}', '{"m": true}')


def test_a_refresh_of_other_attributes_leaves_the_json_values_tracked(tmp_path: Path) -> None:
    store = memory_store(tmp_path / "t.db", 1)
    with Session(store.engine) as session:
        memory = session.get(Memory, "m0")
        assert memory is not None
        tags = memory.tags
        session.refresh(memory, ["content"])
        assert memory.tags is tags  # not reloaded, still owned
        tags.append("kept")
        session.commit()
    assert saved_json(store)[0] == '["kept"]'


def test_loading_keeps_no_plain_copy_of_the_json_values_alive(tmp_path: Path) -> None:
    """Objects the collector counts while rows load (net allocations, read at each row's load
    event). A plain copy of each JSON value stayed alive beside its tracked one until the
    whole result was loaded: five more per memory, one more full collection per 10k rows."""
    count = 2000
    store = memory_store(tmp_path / "t.db", count)
    set_raw(store, """UPDATE memories SET tags = '["x"]', context = '{"i": 1}'""", ())
    load_memories(store)  # the statement compiled and cached
    peak = [0]

    def seen(target: Memory, context: object) -> None:
        peak[0] = max(peak[0], gc.get_count()[0])

    event.listen(Memory, "load", seen)
    gc.collect()
    gc.disable()  # this test's own process: the count grows without being reset
    try:
        start = gc.get_count()[0]
        loaded = load_memories(store)
    finally:
        gc.enable()
        event.remove(Memory, "load", seen)
    assert len(loaded) == count
    # The object, its __dict__, fields set and state, the state's weak reference, its
    # callback and identity key, SQLite's row and the processed one, five JSON values: 16 or
    # so (with the plain copies: 21).
    assert (peak[0] - start) / count < 18


def test_a_core_read_gives_json_values_equal_to_plain_ones(tmp_path: Path) -> None:
    store = memory_store(tmp_path / "t.db", 1)
    set_raw(store, """UPDATE memories SET tags = '["x"]', context = '{"k": 1}'""", ())
    table = Memory.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        row = conn.execute(select(table)).one()
    assert isinstance(row.tags, list) and row.tags == ["x"]
    assert isinstance(row.context, dict) and row.context == {"k": 1}
    assert isinstance(row.metadata, dict) and row.metadata == {}
    row.tags.append("y")  # a value without an owner: nothing else changes, nothing fails
    assert saved_json(store) == ('["x"]', '{"k": 1}', "{}")


def test_a_plain_json_type_and_a_tracked_one_are_not_one_cached_statement(tmp_path: Path) -> None:
    # The compiled statement is cached by the types' cache keys: were JSONValue() and
    # JSONDict one key, the second query would read through the first one's processors.
    store = memory_store(tmp_path / "t.db", 1)
    context = Memory.__table__.c.context  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        plain = conn.execute(select(type_coerce(context, JSONValue()))).scalar_one()
        tracked = conn.execute(select(type_coerce(context, JSONDict))).scalar_one()
    assert (type(plain), type(tracked)) == (dict, TrackedDict)


# Every kind of text a JSON column may hold, for each reader: SQL NULL, the JSON null and
# scalars, the empty value of the other flavour ("[]" in an object column), and JSON_TEXTS.
READ_TEXTS: list[str | None] = [None, "null", "3", '"s"', "[]", "{}", "[1, 2]", *JSON_TEXTS]


def expected_read(text: str | None, tracked: type[TrackedDict] | type[TrackedList] | None) -> Any:
    """What a reader gave before its fast paths: ``json.loads``'s value, made tracked when it
    is of the tracked type's plain type (dict or list)."""
    value: Any = None if text is None else json.loads(text)
    if tracked is not None and type(value) is tracked.plain:
        return tracked(value)
    return value


@pytest.mark.parametrize(
    "column_type",
    [JSONValue(), JSONDict, JSONList],
    ids=["plain", "tracked dict", "tracked list"],
)
def test_every_json_text_reads_as_json_loads_gives_through_each_reader(
    tmp_path: Path, column_type: JSONValue
) -> None:
    store = memory_store(tmp_path / "t.db", len(READ_TEXTS))
    set_raw(
        store,
        "UPDATE memories SET summary = ? WHERE id = ?",
        *((text, f"m{i}") for i, text in enumerate(READ_TEXTS)),
    )
    table = Memory.__table__  # type: ignore[attr-defined]
    read = select(table.c.id, type_coerce(table.c.summary, column_type))
    with store.engine.connect() as conn:
        got = {key: value for key, value in conn.execute(read)}
    for i, text in enumerate(READ_TEXTS):
        value, expected = got[f"m{i}"], expected_read(text, column_type.tracked_as)
        assert type(value) is type(expected), text
        if text is not None and "NaN" in text:
            assert math.isnan(value["nan"]), text
        else:
            assert value == expected, text
            assert json.dumps(value) == json.dumps(expected), text


@pytest.mark.parametrize(("column", "text"), [("context", "[]"), ("tags", "{}"), ("tags", "3")])
def test_a_json_value_of_the_wrong_type_fails_the_load_as_before(
    tmp_path: Path, column: str, text: str
) -> None:
    store = memory_store(tmp_path / "t.db", 1)
    set_raw(store, f"UPDATE memories SET {column} = ?", (text,))
    with pytest.raises(ValueError, match=f"Attribute '{column}' does not accept objects of type"):
        load_memories(store)


def test_each_loaded_object_gets_pydantic_state_of_its_own(tmp_path: Path) -> None:
    # Rows are built with __new__ alone: it must leave what SQLModel's leaves, and no two
    # objects may share the set of fields given (Pydantic adds to it on assignment).
    store = memory_store(tmp_path / "t.db", 2)
    reference = SQLModel.__new__(Memory)
    with Session(store.engine) as session:
        first, second = session.exec(select(Memory).order_by(Memory.id)).all()  # type: ignore[arg-type]
        for memory in (first, second):
            assert memory.__pydantic_fields_set__ == reference.__pydantic_fields_set__ == set()
            assert memory.__pydantic_extra__ is reference.__pydantic_extra__ is None
            assert memory.__pydantic_private__ is reference.__pydantic_private__ is None
        first.content = "changed"
        assert first.model_fields_set == {"content"}
        assert second.model_fields_set == set()
        assert first.model_dump()["content"] == "changed" and second.model_dump()["content"] == "x"
        session.commit()
    with Session(store.engine) as session:
        assert [m.content for m in session.exec(select(Memory).order_by(Memory.id))] == [  # type: ignore[arg-type]
            "changed",
            "x",
        ]
