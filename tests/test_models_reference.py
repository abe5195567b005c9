"""docs/models.md is what the models say: regenerated in a fresh interpreter and compared."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from tmws_store import TMWSModel
from tmws_store.reference import COMMAND

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "models.md"


def python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a fresh interpreter that imports this tree's package, from its root."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


@pytest.mark.slow
def test_the_committed_reference_is_what_the_models_generate() -> None:
    # A fresh interpreter: here every model module is imported already, in test order.
    result = python("-m", "tmws_store.reference")
    assert result.returncode == 0, result.stderr
    assert result.stdout, "the generator printed nothing"
    committed = REFERENCE.read_text() if REFERENCE.exists() else ""
    assert result.stdout == committed, f"docs/models.md is out of date: run `{COMMAND}`"


def test_the_reference_covers_every_model_and_relationship() -> None:
    text = REFERENCE.read_text()
    for model in TMWSModel.__subclasses__():
        assert f"## `{model.__name__}`\n\nTable `{model.__tablename__}`." in text
        for rel in inspect(model).relationships:
            assert f"| `{rel.key}` | [`{rel.mapper.class_.__name__}`]" in text
    headings = [line for line in text.splitlines() if line.startswith("## `")]
    assert len(headings) == len(TMWSModel.metadata.tables) == 42


@pytest.mark.slow
def test_importing_the_generator_builds_no_model() -> None:
    code = "import sys, tmws_store.reference; print('tmws_store.models' in sys.modules)"
    result = python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "False\n"
