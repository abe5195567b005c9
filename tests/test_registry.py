"""The test that would have caught TMWS's bug: a bare import registers and creates every table.

Inside a test run, other test files have already imported every model module, which is
exactly how a missing import hides; so the decisive checks run in a fresh interpreter.
"""

import json
import pkgutil
import subprocess
import sys
import textwrap
from importlib import import_module
from pathlib import Path

import pytest

import tmws_store
import tmws_store.models

FRESH_INTERPRETER = textwrap.dedent(
    """
    import json, sqlite3, sys
    import tmws_store
    from tmws_store import Store, TMWSModel
    from sqlalchemy.orm import configure_mappers
    configure_mappers()
    report = Store(sys.argv[1]).init()
    con = sqlite3.connect(sys.argv[1])
    on_disk = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'"))
    print(json.dumps({
        "metadata": sorted(TMWSModel.metadata.tables),
        "on_disk": on_disk,
        "created": sorted(report.tables_created),
        "modules": sorted(m for m in sys.modules if m.startswith("tmws_store.models.")),
    }))
    """
)


def run_fresh(db: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", FRESH_INTERPRETER, str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def model_module_names() -> set[str]:
    folder = Path(tmws_store.models.__file__).parent
    return {f"tmws_store.models.{m.name}" for m in pkgutil.iter_modules([str(folder)])}


@pytest.mark.slow
def test_bare_import_creates_exactly_the_metadata_tables(tmp_path: Path) -> None:
    result = run_fresh(tmp_path / "tmws.db")
    assert result["on_disk"] == result["metadata"] == result["created"]
    assert len(result["metadata"]) > 0


@pytest.mark.slow
def test_every_model_module_is_imported_by_the_package(tmp_path: Path) -> None:
    result = run_fresh(tmp_path / "tmws.db")
    assert set(result["modules"]) == model_module_names()


def test_all_is_sorted_and_exports_every_table_class() -> None:
    assert tmws_store.__all__ == sorted(tmws_store.__all__)
    exported = {getattr(tmws_store, name) for name in tmws_store.__all__}
    table_classes = {
        mapper.class_
        for mapper in tmws_store.TMWSModel._sa_registry.mappers  # type: ignore[attr-defined]
    }
    assert table_classes <= exported
    assert {cls.__tablename__ for cls in table_classes} == set(tmws_store.TMWSModel.metadata.tables)


def test_every_enum_used_by_a_model_is_exported() -> None:
    import enum

    used = set()
    for mapper in tmws_store.TMWSModel._sa_registry.mappers:  # type: ignore[attr-defined]
        for field in mapper.class_.model_fields.values():
            annotation = field.annotation
            for candidate in (annotation, *getattr(annotation, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
                    used.add(candidate)
    assert used, "no enum found: the check itself is broken"
    assert used <= {getattr(tmws_store, name) for name in tmws_store.__all__}


def test_metadata_holds_only_our_tables() -> None:
    from sqlmodel import Field, SQLModel

    class SomeoneElsesTable(SQLModel, table=True):
        __tablename__ = "someone_elses_table"
        id: int | None = Field(default=None, primary_key=True)

    assert "someone_elses_table" in SQLModel.metadata.tables
    assert "someone_elses_table" not in tmws_store.TMWSModel.metadata.tables


LAZY_MODELS = textwrap.dedent(
    """
    import json, sqlite3, sys
    import tmws_store
    report = tmws_store.Store(sys.argv[1]).init()
    before = sorted(m for m in sys.modules if m.startswith("tmws_store.models"))
    tmws_store.Memory  # the first model name used
    after = sorted(m for m in sys.modules if m.startswith("tmws_store.models."))
    con = sqlite3.connect(sys.argv[1])
    on_disk = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'"))
    print(json.dumps({"before": before, "after": after, "on_disk": on_disk,
                      "created": sorted(report.tables_created),
                      "metadata": sorted(tmws_store.TMWSModel.metadata.tables)}))
    """
)


@pytest.mark.slow
def test_models_load_on_first_use_and_then_all_together(tmp_path: Path) -> None:
    # `import tmws_store` and a first init() need no model class (the schema comes from the
    # DDL snapshot); the first model name used brings every model module, never just one.
    out = subprocess.run(
        [sys.executable, "-c", LAZY_MODELS, str(tmp_path / "tmws.db")],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["before"] == []
    assert set(result["after"]) == model_module_names()
    assert result["on_disk"] == result["created"] == result["metadata"]
    assert len(result["on_disk"]) == 42


def test_lazy_exports_and_the_type_checking_imports_name_the_same_things() -> None:
    import ast

    tree = ast.parse(Path(tmws_store.__file__).read_text())
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
    )
    # ``from .models.agents import Agent`` inside ``if TYPE_CHECKING:``
    for_checkers = {
        (node.module, alias.name)
        for node in guarded.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    at_runtime = {
        (module, name)
        for module, names in tmws_store._EXPORTS.items()
        if module.startswith("models")
        for name in names
    }
    assert for_checkers == at_runtime
    assert {name for _, name in at_runtime} <= set(tmws_store.__all__)
    for module, name in at_runtime:
        assert getattr(tmws_store, name) is getattr(import_module(f"tmws_store.{module}"), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Memories'"):
        tmws_store.Memories  # noqa: B018
