"""Rows the database refuses, and input no column can keep; on both back ends, every path.

- A row that breaks a constraint (a duplicate key, a missing parent, NULL in a NOT NULL
  column, a failed CHECK) raises a ``ConstraintError`` subclass naming the table and the
  columns, never the row's values nor the statement, from a sync or async session and from
  ``insert_many``; nothing is written.
- A key that is no field (``"tagz"``, or the column name ``"metadata"``) is a Pydantic
  ``ValidationError`` of type ``extra_forbidden`` naming it, from the constructor,
  ``model_validate`` and ``insert_many``; relationships are still taken by the constructor.
- Values that would pass validation and then fail at the write are refused when validated,
  naming the field, on every path: inside JSON, a value JSON has no type for (a datetime,
  bytes, a set, an object) and nesting deeper than ``MAX_JSON_DEPTH``; in a datetime
  column, an instant that leaves years 1 to 9999 once converted to UTC.
"""

import asyncio
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from tmws_store import (
    Agent,
    CheckViolationError,
    ConstraintError,
    ForeignKeyViolationError,
    LearningPattern,
    Memory,
    NotNullViolationError,
    PatternUsageHistory,
    Skill,
    SkillVersion,
    Store,
    StoreError,
    Task,
    TMWSModel,
    UniqueViolationError,
)
from tmws_store.types import MAX_JSON_DEPTH

# A value that must never appear in what a refusal shows (it could have been a secret).
SECRET = "s3cret-9d1c-value"


def count(store: Store, model: type[TMWSModel]) -> int:
    with store.session(readonly=True) as session:
        return session.exec(select(func.count()).select_from(model)).one()[0]


def shown(error: BaseException) -> str:
    """Everything a user sees of ``error``: its text, its repr and its printed traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


def assert_names_no_value(error: ConstraintError) -> None:
    text = shown(error)
    assert SECRET not in text
    assert "INSERT" not in text and "UPDATE" not in text  # no statement either
    assert "\n" not in str(error)  # one line
    assert "IntegrityError" not in text  # the driver's error is not shown under ours


# --- constraint violations: every path, both back ends -------------------------------------


def add_in_session(store: Store, rows: list[TMWSModel]) -> None:
    with store.session() as session:
        session.add_all(rows)


def add_in_async_session(store: Store, rows: list[TMWSModel]) -> None:
    async def main() -> None:
        try:
            async with store.async_session() as session:
                session.add_all(rows)
        finally:
            await store.aclose()

    asyncio.run(main())


def add_with_insert_many(store: Store, rows: list[TMWSModel]) -> None:
    store.insert_many(type(rows[0]), [row.model_dump() for row in rows])


WRITE_PATHS = [add_in_session, add_in_async_session, add_with_insert_many]


def athena(agent_id: str = SECRET) -> Agent:
    return Agent(agent_id=agent_id, display_name="Athena")


def late_task() -> Task:
    # Valid field by field; only the CHECK completion_after_start sees both dates.
    started, completed = datetime(2026, 1, 2), datetime(2026, 1, 1)
    return Task(title=SECRET, description="d", started_at=started, completed_at=completed)


@pytest.mark.parametrize("write", WRITE_PATHS, ids=lambda f: f.__name__)
def test_a_duplicate_key_is_a_unique_violation_naming_table_and_column(
    any_store: Store, write: Callable[[Store, list[TMWSModel]], None]
) -> None:
    add_in_session(any_store, [athena()])
    with pytest.raises(UniqueViolationError) as caught:
        write(any_store, [athena("other"), athena()])
    error = caught.value
    assert isinstance(error, ConstraintError) and isinstance(error, StoreError)
    assert (error.table, error.columns) == ("agents", ("agent_id",))
    assert "agents.agent_id" in str(error) and any_store.where in str(error)
    assert_names_no_value(error)
    assert count(any_store, Agent) == 1  # not even the row before the duplicate


def test_a_duplicate_within_one_insert_many_is_a_unique_violation(any_store: Store) -> None:
    rows = [{"agent_id": SECRET, "display_name": "A"}] * 2
    with pytest.raises(UniqueViolationError) as caught:
        any_store.insert_many(Agent, rows)
    assert (caught.value.table, caught.value.columns) == ("agents", ("agent_id",))
    assert_names_no_value(caught.value)
    assert count(any_store, Agent) == 0


def test_running_the_readme_tour_twice_names_the_duplicate_agent(any_store: Store) -> None:
    def tour() -> None:
        with any_store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
            session.add(Memory(content="WAL mode is on", agent_id="athena", namespace="notes"))

    tour()
    with pytest.raises(UniqueViolationError, match=r"agents\.agent_id"):
        tour()
    assert (count(any_store, Agent), count(any_store, Memory)) == (1, 1)


def test_a_unique_index_over_two_columns_names_both(any_store: Store) -> None:
    add_in_session(any_store, [athena()])
    with any_store.session(readonly=True) as session:
        agent_id = session.exec(select(Agent.id)).one()[0]
    skill = {"name": SECRET, "namespace": "n", "created_by": agent_id}
    any_store.insert_many(Skill, [skill])
    with pytest.raises(UniqueViolationError) as caught:
        any_store.insert_many(Skill, [skill])
    assert (caught.value.table, caught.value.columns) == ("skills", ("namespace", "name"))
    assert_names_no_value(caught.value)


@pytest.mark.parametrize("write", WRITE_PATHS, ids=lambda f: f.__name__)
def test_a_missing_parent_is_a_foreign_key_violation_naming_the_table(
    any_store: Store, write: Callable[[Store, list[TMWSModel]], None]
) -> None:
    with pytest.raises(ForeignKeyViolationError) as caught:
        write(any_store, [Skill(name="s", namespace="n", created_by=SECRET)])
    error = caught.value
    assert error.table == "skills"  # SQLite's message names none: read from the statement
    # PostgreSQL names the constraint, whose columns the models know; SQLite names nothing.
    expected = ("created_by",) if any_store.backend == "postgresql" else ()
    assert error.columns == expected
    assert_names_no_value(error)
    assert count(any_store, Skill) == 0


@pytest.mark.parametrize("write", WRITE_PATHS, ids=lambda f: f.__name__)
def test_a_failed_check_is_a_check_violation_naming_constraint_and_table(
    any_store: Store, write: Callable[[Store, list[TMWSModel]], None]
) -> None:
    with pytest.raises(CheckViolationError) as caught:
        write(any_store, [late_task()])
    error = caught.value
    assert (error.table, error.constraint) == ("tasks", "completion_after_start")
    assert "completion_after_start" in str(error)
    assert_names_no_value(error)
    assert count(any_store, Task) == 0


def test_null_in_a_not_null_column_is_a_not_null_violation(any_store: Store) -> None:
    # Validation refuses None before any INSERT; an UPDATE statement skips it.
    add_in_session(any_store, [athena()])
    blank = update(Agent).values(display_name=None)
    with pytest.raises(NotNullViolationError) as caught, any_store.session() as session:
        session.execute(update(Agent).values(agent_id="renamed"))  # rolled back with it
        session.execute(blank)
    assert (caught.value.table, caught.value.columns) == ("agents", ("display_name",))
    assert_names_no_value(caught.value)

    async def in_async_session() -> None:
        try:
            async with any_store.async_session() as session:
                await session.exec(blank)
        finally:
            await any_store.aclose()

    with pytest.raises(NotNullViolationError, match=r"agents\.display_name"):
        asyncio.run(in_async_session())
    with any_store.session(readonly=True) as session:
        assert session.exec(select(Agent.agent_id, Agent.display_name)).all() == [
            (SECRET, "Athena")
        ]


def test_constraint_errors_are_exported() -> None:
    import tmws_store

    for error in (UniqueViolationError, ForeignKeyViolationError, NotNullViolationError):
        assert issubclass(error, ConstraintError)
        assert error.__name__ in tmws_store.__all__
    assert "ConstraintError" in tmws_store.__all__ and "CheckViolationError" in tmws_store.__all__


# --- unknown keys: every path that takes a dict --------------------------------------------

MEMORY = {"content": "c", "agent_id": "athena", "namespace": "demo"}


def assert_refused_keys(caught: pytest.ExceptionInfo[ValidationError], *keys: str) -> None:
    errors = caught.value.errors()
    assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", (k,)) for k in keys]
    assert caught.value.title == "Memory"


@pytest.mark.parametrize("keys", [("tagz",), ("metadata", "tagz")], ids="+".join)
def test_an_unknown_key_is_refused_on_every_path(any_store: Store, keys: tuple[str, ...]) -> None:
    # "metadata" is the column's name; the attribute is metadata_json.
    row = {**MEMORY, **{key: ["x"] for key in keys}}
    with pytest.raises(ValidationError) as caught:
        Memory(**row)
    assert_refused_keys(caught, *keys)
    with pytest.raises(ValidationError) as caught:
        Memory.model_validate(row)
    assert_refused_keys(caught, *keys)
    with pytest.raises(ValidationError) as caught:
        any_store.insert_many(Memory, [MEMORY, row])
    assert_refused_keys(caught, *keys)
    assert "in row 1 given to insert_many(Memory, ...)" in caught.value.__notes__
    assert count(any_store, Memory) == 0


def test_the_constructor_refuses_a_misspelled_relationship_and_takes_the_real_one(
    any_store: Store,
) -> None:
    with any_store.session() as session:
        agent = athena()
        session.add(agent)
        session.flush()
        version = SkillVersion(version=1, content="v1", created_by=agent.id)  # skill_id: below
        skill = {"name": "s", "namespace": "n", "created_by": agent.id}
        with pytest.raises(ValidationError) as caught:
            Skill(**skill, version=[version])
        assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [
            ("extra_forbidden", ("version",))
        ]
        session.add(Skill(**skill, versions=[version]))
        session.add(Memory(**MEMORY, metadata_json={"kept": 1}))
    any_store.insert_many(Memory, [{**MEMORY, "metadata_json": {"kept": 2}}])
    with any_store.session(readonly=True) as session:
        loaded = session.exec(select(Skill).options(selectinload(Skill.versions))).scalars().one()
        assert [v.content for v in loaded.versions] == ["v1"]  # loading takes no key check
        kept = session.exec(select(Memory.metadata_json)).scalars().all()
        assert sorted(m["kept"] for m in kept) == [1, 2]


# --- values that fail at the write: refused when validated, every path ----------------------


def refuse_on_every_path(store: Store, values: dict[str, Any], message: str) -> None:
    """Each path raises a ValidationError naming exactly the bad field, and writes nothing."""
    (field,) = values
    row = {**MEMORY, **values}

    def check(caught: pytest.ExceptionInfo[ValidationError]) -> None:
        assert [error["loc"][0] for error in caught.value.errors()] == [field]
        assert message in str(caught.value)  # printable: no RecursionError either

    with pytest.raises(ValidationError) as caught, store.session() as session:
        session.add(Memory(**row))  # not validated here: at the flush
    check(caught)
    with pytest.raises(ValidationError) as caught:
        Memory.model_validate(row)
    check(caught)
    with pytest.raises(ValidationError) as caught:
        store.insert_many(Memory, [MEMORY, row])
    check(caught)
    assert count(store, Memory) == 0


class Opaque:
    pass


NOT_JSON = {
    "datetime": datetime(2026, 1, 1),
    "bytes": b"\x00\x01",
    "set": {1, 2},
    "Opaque": Opaque(),
}


@pytest.mark.parametrize("kind", NOT_JSON)
def test_a_value_json_cannot_hold_is_refused_naming_the_field(any_store: Store, kind: str) -> None:
    bad = NOT_JSON[kind]
    refuse_on_every_path(
        any_store,
        {"context": {"ok": 1, "deep": [0, {"x": bad}]}},
        f"JSON cannot hold a value of type {kind}, found at ['deep'][1]['x']",
    )
    refuse_on_every_path(any_store, {"tags": ["ok", bad]}, f"a value of type {kind}")


def nested(depth: int) -> list[Any]:
    """A list holding a list ... ``depth`` arrays in all, the innermost holding 1."""
    value: list[Any] = [1]
    for _ in range(depth - 1):
        value = [value]
    return value


def test_json_nested_too_deep_is_refused_with_a_plain_message(any_store: Store) -> None:
    too_deep = f"nested deeper than {MAX_JSON_DEPTH} levels"
    assert MAX_JSON_DEPTH == 100  # the limit the docstrings give
    # 3,000 levels: the encoder's recursion failed, and so did printing the error.
    refuse_on_every_path(any_store, {"tags": nested(3000)}, too_deep)
    refuse_on_every_path(any_store, {"context": {"a": nested(MAX_JSON_DEPTH)}}, too_deep)
    # The limit itself is kept, and reads back as it was, through each path.
    deepest = nested(MAX_JSON_DEPTH)
    with any_store.session() as session:
        session.add(Memory(**MEMORY, tags=deepest))
        session.add(Memory.model_validate({**MEMORY, "tags": deepest}))
    any_store.insert_many(Memory, [{**MEMORY, "tags": deepest}])
    with any_store.session(readonly=True) as session:
        assert session.exec(select(Memory.tags)).scalars().all() == [deepest] * 3


# Each is 0001-01-01 00:00 UTC less a second or more, or 9999-12-31 23:59:59.999999 UTC plus.
NO_UTC_FORM = [
    datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=9))),
    "0001-01-01T08:59:59+09:00",  # parsed by Pydantic, then refused
    datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
]


def test_a_datetime_without_a_utc_form_is_refused_and_the_extremes_are_kept(
    any_store: Store,
) -> None:
    outside = "outside years 1 to 9999 once converted to UTC"
    for when in NO_UTC_FORM:
        refuse_on_every_path(any_store, {"expires_at": when}, outside)
        refuse_on_every_path(any_store, {"created_at": when}, outside)
    first = datetime(1, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))  # 00:00 UTC
    last = datetime(9999, 12, 31, 23, 59, 59, 999999)  # naive: taken to be UTC
    with any_store.session() as session:
        session.add(Memory(**MEMORY, expires_at=first, accessed_at=last))
    any_store.insert_many(Memory, [{**MEMORY, "expires_at": first, "accessed_at": last}])
    with any_store.session(readonly=True) as session:
        rows = session.exec(select(Memory.expires_at, Memory.accessed_at)).all()
    assert [tuple(row) for row in rows] == [(first, last.replace(tzinfo=UTC))] * 2


def test_deleting_a_learning_pattern_deletes_its_usage_history(any_store: Store) -> None:
    """The ORM set each history row's NOT NULL pattern_id to None before deleting the pattern,
    and the check before the write refused that with a ValidationError about
    PatternUsageHistory; the foreign key's ON DELETE CASCADE is what the file says."""
    with any_store.session() as session:
        pattern = LearningPattern(pattern_name="p", category="c", pattern_data={})
        session.add(pattern)
        session.flush()
        session.add_all([PatternUsageHistory(pattern_id=pattern.id) for _ in range(2)])
    with any_store.session() as session:
        session.delete(session.get(LearningPattern, pattern.id))
    with any_store.session(readonly=True) as session:
        assert session.exec(select(LearningPattern)).all() == []
        assert session.exec(select(PatternUsageHistory)).all() == []
