"""Both write paths store the same bytes; loading and building rows stays cheap (issue #16).

The parity rows are TMWS's own: every row of the complete reference database, read through
its model, written once with ``Store.insert_many`` and once with ``session.add_all``, each
into a fresh store. Timestamps and ids come with the rows, so both stores must hold exactly
the same values: same SQLite storage class, same text, column by column.
"""

import gc
import inspect
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from tmws_store import Memory, Store, TMWSModel
from tmws_store.types import new_hex_id, new_id, utc_now

from .helpers import reference_rows_by_table

MODELS = {m.class_.__tablename__: m.class_ for m in TMWSModel._sa_registry.mappers}  # type: ignore[attr-defined]
TABLE_ORDER = [t.name for t in TMWSModel.metadata.sorted_tables]


def stored(store: Store, table: str) -> list[tuple[Any, ...]]:
    """Each row's columns as ``typeof`` and ``quote`` (the exact stored value), sorted."""
    columns = TMWSModel.metadata.tables[table].columns
    parts = ", ".join(f'typeof("{c.name}"), quote("{c.name}")' for c in columns)
    with store.engine.connect() as conn:
        rows = conn.execute(text(f'SELECT {parts} FROM "{table}"')).all()
    return sorted((tuple(row) for row in rows), key=repr)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    return reference_rows_by_table(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def both_paths(
    tmp_path_factory: pytest.TempPathFactory, reference: dict[str, list[dict[str, Any]]]
) -> Iterator[tuple[Store, Store]]:
    rows = reference
    bulk = Store(tmp_path_factory.mktemp("bulk") / "tmws.db")
    orm = Store(tmp_path_factory.mktemp("orm") / "tmws.db")
    for table in TABLE_ORDER:  # parents first: foreign keys are on
        model = MODELS[table]
        bulk.insert_many(model, rows[table])
        with orm.session() as session:
            session.add_all(model(**row) for row in rows[table])
    yield bulk, orm
    bulk.close()
    orm.close()


def test_the_reference_has_rows_in_every_one_of_the_42_tables(both_paths) -> None:
    bulk, _ = both_paths
    assert len(TABLE_ORDER) == 42
    assert all(stored(bulk, table) for table in TABLE_ORDER)


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_insert_many_and_add_all_store_the_same_bytes(table: str, both_paths) -> None:
    bulk, orm = both_paths
    assert stored(bulk, table) == stored(orm, table)


# --- in-place edits of JSON values, with owners kept in slots instead of weak dictionaries --


def memory_store(tmp_path: Path, count: int = 1) -> Store:
    store = Store(tmp_path / "tmws.db")
    rows = [{"content": f"m{i}", "agent_id": "a", "namespace": "n"} for i in range(count)]
    store.insert_many(Memory, rows)
    return store


def reloaded(store: Store) -> list[tuple[str, list[Any], dict[str, Any]]]:
    with store.session(readonly=True) as session:
        rows = session.exec(select(Memory).order_by(Memory.content)).all()
        return [(m.content, list(m.tags), dict(m.context)) for m in rows]


def test_in_place_edits_of_loaded_values_are_saved(tmp_path: Path) -> None:
    store = memory_store(tmp_path)
    with store.session() as session:
        memory = session.exec(select(Memory)).one()
        memory.tags.append("t")
        memory.context["k"] = 1
    assert reloaded(store) == [("m0", ["t"], {"k": 1})]


def test_a_value_shared_by_two_rows_saves_an_edit_to_both(tmp_path: Path) -> None:
    store = memory_store(tmp_path, 2)
    with store.session() as session:
        first, second = session.exec(select(Memory).order_by(Memory.content)).all()
        second.tags = first.tags
        session.flush()
        first.tags.append("both")  # one edit, two owners
    assert reloaded(store) == [("m0", ["both"], {}), ("m1", ["both"], {})]


def test_a_replaced_value_no_longer_marks_its_old_row(tmp_path: Path) -> None:
    store = memory_store(tmp_path)
    with store.session() as session:
        memory = session.exec(select(Memory)).one()
        old = memory.tags
        memory.tags = ["new"]
        session.flush()
        old.append("lost")  # no longer the row's value: nothing to save
        assert not session.dirty
    assert reloaded(store) == [("m0", ["new"], {})]


def test_a_value_outliving_its_row_can_still_be_edited(tmp_path: Path) -> None:
    store = memory_store(tmp_path)
    with store.session() as session:
        tags = session.exec(select(Memory)).one().tags
        session.expunge_all()
    gc.collect()  # the row object is gone; its value is not
    tags.append("after")
    assert tags == ["after"]


def test_an_unpickled_row_keeps_tracking_in_place_edits(tmp_path: Path) -> None:
    store = memory_store(tmp_path)
    with store.session() as session:
        memory = session.exec(select(Memory)).one()
        session.expunge(memory)
    copy = pickle.loads(pickle.dumps(memory))
    with store.session() as session:
        merged = session.merge(copy, load=False)
        merged.tags.append("pickled")
    assert reloaded(store) == [("m0", ["pickled"], {})]


def test_loading_rows_keeps_few_objects_for_the_collector(tmp_path: Path) -> None:
    """Each JSON value used to bring a WeakKeyDictionary of half a dozen objects, so that
    loading 10k memories was mostly garbage collection. Counted, not timed."""
    count = 2000
    store = memory_store(tmp_path, count)
    with store.session(readonly=True) as session:
        session.exec(select(Memory).limit(1)).all()  # the statement compiled and cached
        gc.collect()
        before = len(gc.get_objects())
        rows = session.exec(select(Memory)).all()
        gc.collect()
        per_row = (len(gc.get_objects()) - before) / count
    assert len(rows) == count
    # The object, its __dict__ and fields set, its state, the state's weak reference and
    # identity key, and the five JSON values: 15 or so (before: about 50).
    assert per_row < 20, per_row


# --- default factories ------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_every_default_factory_answers_inspect_signature_at_once(table: str) -> None:
    """Pydantic asks each factory's signature every time it builds an object; a factory
    carrying a ``__signature__`` answers without ``inspect`` reading its code."""
    model = MODELS[table]
    factories = [f.default_factory for f in model.model_fields.values() if f.default_factory]
    for factory in factories:
        assert "__signature__" in vars(factory), (table, factory)
        assert inspect.signature(factory).parameters == {}


# --- the constructor ----------------------------------------------------------------------

GENERATED = {utc_now, new_id, new_hex_id}  # a fresh value per object: compared by type


def as_built(obj: TMWSModel, given: dict[str, Any]) -> dict[str, Any]:
    fields = type(obj).model_fields
    values = {k: v for k, v in vars(obj).items() if not k.startswith("_sa_")}
    for name in values.keys() - given.keys():
        if fields[name].default_factory in GENERATED:
            values[name] = type(values[name])
    state = obj._sa_instance_state  # type: ignore[attr-defined]
    return {
        "values": {k: (type(v), v) for k, v in values.items()},
        "fields_set": obj.model_fields_set,
        "history": sorted(state.committed_state),
        "extra": obj.__pydantic_extra__,
    }


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_the_constructor_builds_what_sqlmodels_builds(table: str, reference) -> None:
    """TMWSModel's own __init__ against SQLModel's, on a reference row given whole and given
    only its required fields (the defaults then come from the plan)."""
    from sqlmodel import SQLModel
    from sqlmodel._compat import partial_init

    model = MODELS[table]
    row = reference[table][0]
    required = {k: v for k, v in row.items() if model.model_fields[k].is_required()}
    for data in (row, required):
        ours = model(**data)
        with partial_init():
            theirs = model()  # instrumented, left empty
        SQLModel.__init__(theirs, **data)
        assert as_built(ours, data) == as_built(theirs, data), table


def test_building_an_object_does_not_inspect_its_factories() -> None:
    """Counted with a profile hook: SQLModel's constructor asked inspect.signature of each of
    Memory's six default factories for every object."""
    calls: list[str] = []

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is inspect.signature.__code__:
            calls.append(event)

    Memory(content="warm", agent_id="a", namespace="n")
    sys.setprofile(hook)
    try:
        for i in range(10):
            Memory(content=f"m{i}", agent_id="a", namespace="n")
    finally:
        sys.setprofile(None)
    assert calls == []
