"""Importing the models builds no Pydantic schema (#16): each model builds it on first use.

Building the 42 classes was most of the time ``from tmws_store import Agent`` takes, and a
third of that was Pydantic generating each model's validator and serializer, which a program
that only reads and writes rows through sessions never needs (the constructor, the check
before each write and ``insert_many`` use validators of their own). TMWSModel's config says
``defer_build``, so each model builds them the first time something validates, dumps or asks
for a JSON schema. These tests check, in a fresh interpreter (this one has long built them),
that the import builds none, and that every model then works on first use exactly as before:
through a sync session, an async session and ``insert_many``, with every reference row
validated, dumped, written and read back unchanged, and its refusals still in place.
"""

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tmws_store import TMWSModel
from tmws_store.models._base import json_fields

from .helpers import REF42, copy_reference

# Run in a fresh interpreter with the reference copy and a new store's path as arguments;
# prints one JSON report. The rows of each table reach their model's schema for the first
# time on one of three paths, in turn: model_validate in a sync session, model_validate in an
# async session, and insert_many given the loaded model instances (which dumps them).
CHILD = textwrap.dedent(
    """
    import asyncio, json, math, sys
    from pydantic import ValidationError
    from sqlmodel import Session, create_engine, select

    import tmws_store
    from tmws_store import Store, TMWSModel
    from tmws_store.models._base import json_fields

    reference, fresh = sys.argv[1], sys.argv[2]
    models = {m.class_.__tablename__: m.class_ for m in TMWSModel._sa_registry.mappers}
    tables = [t.name for t in TMWSModel.metadata.sorted_tables]  # parents first

    def built():
        return sorted(m.__name__ for m in models.values() if m.__pydantic_complete__)

    report = {"built_by_import": built()}

    # Loading rows as objects needs no schema either.
    engine = create_engine(f"sqlite:///{reference}")
    with Session(engine) as session:
        loaded = {t: list(session.exec(select(models[t])).all()) for t in tables}
    engine.dispose()
    report["built_by_loading"] = built()

    # Nor do the constructor, the check before each write and reading back, on another store.
    from tmws_store import Agent
    other = Store(fresh + ".other")
    with other.session() as session:
        session.add(Agent(agent_id="made", display_name="Made"))
    try:
        with other.session() as session:
            session.add(Agent(agent_id="bad", display_name="Bad", status="bogus"))
        report["refused_before_write"] = None
    except ValidationError as exc:
        report["refused_before_write"] = [(e["type"], list(e["loc"])) for e in exc.errors()]
    with other.session(readonly=True) as session:
        report["written"] = [a.agent_id for a in session.exec(select(Agent)).all()]
    other.close()
    report["built_by_sessions"] = built()

    def values(row):  # the row's fields, read as attributes: nothing is built
        return {name: getattr(row, name) for name in type(row).model_fields}

    store = Store(fresh)
    store.init()

    async def write_async(model, rows):
        async with store.async_session() as session:
            session.add_all(model.model_validate(values(row)) for row in rows)

    paths = {}
    for index, table in enumerate(tables):
        model, rows = models[table], loaded[table]
        path = ("sync", "async", "insert_many")[index % 3]
        paths[table] = path
        if path == "sync":
            with store.session() as session:
                session.add_all(model.model_validate(values(row)) for row in rows)
        elif path == "async":
            asyncio.run(write_async(model, rows))
        else:
            store.insert_many(model, rows)
    report["paths"] = paths

    def dumped(rows):
        return sorted((row.model_dump_json() for row in rows), key=str)

    results = {}
    with store.session(readonly=True) as session:
        for table in tables:
            model = models[table]
            rows = session.exec(select(model)).all()
            first = loaded[table][0].model_dump()
            result = {
                "rows": len(rows),
                "same_values": dumped(rows) == dumped(loaded[table]),
                "round_trip": model.model_validate(first).model_dump() == first,
            }
            try:
                model.model_validate({**first, "no_such_field": 1})
                result["extra"] = None
            except ValidationError as exc:
                result["extra"] = [(e["type"], list(e["loc"])) for e in exc.errors()]
            nan_field = min(json_fields(model), default=None)
            if nan_field is not None:
                bad = {"x": math.nan} if isinstance(first[nan_field], dict) else [math.nan]
                try:
                    model.model_validate({**first, nan_field: bad})
                    result["nan"] = None
                except ValidationError as exc:
                    result["nan"] = [(e["type"], list(e["loc"]), e["msg"]) for e in exc.errors()]
                result["nan_field"] = nan_field
            schema = model.model_json_schema()
            fields = model.model_fields
            result["schema"] = schema["title"] == model.__name__ and set(schema["properties"]) == {
                field.alias or name for name, field in fields.items()
            }
            results[table] = result
    store.close()
    report["results"] = results
    report["built_at_end"] = built()
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the fresh interpreter saw (one interpreter for every test here: it imports all)."""
    folder = tmp_path_factory.mktemp("model-imports")
    reference = copy_reference(REF42, folder)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(reference), str(folder / "fresh" / "tmws.db")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return parsed


@pytest.mark.slow  # over a second: a fresh interpreter imports everything
def test_importing_the_models_builds_no_schema(report: dict[str, Any]) -> None:
    assert report["built_by_import"] == []


@pytest.mark.slow
def test_loading_rows_builds_no_schema(report: dict[str, Any]) -> None:
    assert report["built_by_loading"] == []


@pytest.mark.slow
def test_constructor_and_check_before_write_build_no_schema(report: dict[str, Any]) -> None:
    assert report["written"] == ["made"]
    assert report["refused_before_write"] == [["enum", ["status"]]]
    assert report["built_by_sessions"] == []


@pytest.mark.slow
def test_every_model_is_built_on_first_use_by_each_path(report: dict[str, Any]) -> None:
    assert len(report["built_at_end"]) == 42
    assert set(report["paths"].values()) == {"sync", "async", "insert_many"}


@pytest.mark.slow
def test_every_model_writes_and_reads_back_its_rows_unchanged(report: dict[str, Any]) -> None:
    for table, result in report["results"].items():
        assert result["rows"] > 0, table
        assert result["same_values"], table
        assert result["round_trip"], table
        assert result["schema"], table


@pytest.mark.slow
def test_every_model_still_refuses_what_it_refused(report: dict[str, Any]) -> None:
    with_json = {t.name for t in TMWSModel.metadata.sorted_tables if json_fields(model_of(t.name))}
    assert {table for table, result in report["results"].items() if "nan" in result} == with_json
    for table, result in report["results"].items():
        assert result["extra"] == [["extra_forbidden", ["no_such_field"]]], table
        if table in with_json:
            [(kind, loc, message)] = result["nan"]
            assert kind == "value_error", table
            assert loc == [result["nan_field"]], table
            assert "JSON cannot hold NaN or an infinity" in message, table


def model_of(table: str) -> type[TMWSModel]:
    mappers = TMWSModel._sa_registry.mappers  # type: ignore[attr-defined]
    [model] = [m.class_ for m in mappers if m.class_.__tablename__ == table]
    return model  # type: ignore[no-any-return]
