"""docs/schema-changes.md, walked for real in a copy of the repository.

A new nullable column on ``Memory`` goes through every step of the recipe: the drift test
fails and says what to do, the command writes the next snapshot and a migration stub, the
documented migration body fills it; then the stores that the copy made before the change (a
SQLite file and a PostgreSQL database) are upgraded with their rows as they were, a TMWS file
is adopted through the whole chain and a new file is created. Everything runs in
subprocesses whose ``PYTHONPATH`` is the copy, so this tree is never changed.
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tmws_store import SCHEMA_VERSION
from tmws_store.schema import BASELINE_VERSION

from ._postgres import RUNNING_SERVER_PORT, PostgresServer
from .helpers import REF42, copy_reference

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docs" / "schema-changes.md"
NEXT = SCHEMA_VERSION + 1
COMMAND = "python -m tests.test_schema_drift"

# The recipe's example: a column declared last in the model (ADD COLUMN appends it last, so
# that fresh and upgraded files have the same column order), and its index.
LAST = "    metadata_json: dict[str, Any] = metadata_field()\n"
NEXT_CLASS = "\n\nclass MemoryConsolidation("
FIELD = "    language: str | None = Field(default=None, sa_type=Text, index=True)\n"
OLD_COLUMNS = (
    "id, content, agent_id, namespace, tags, context, importance_score, created_at, metadata"
)

# Run in the copy, before the model changes: stores of the current version, with rows.
MAKE_STORES = """
import sys
from pathlib import Path
from tmws_store import Memory, Store
for where in sys.argv[1:]:
    with Store(url=where) if "://" in where else Store(Path(where)) as store:
        store.init()
        store.insert_many(Memory, [
            {"content": f"memory {i}", "agent_id": f"agent-{i % 3}", "namespace": "recipe",
             "tags": ["t", i], "context": {"i": i}, "importance_score": i / 10}
            for i in range(10)
        ])
"""

# Run in the copy once the recipe is done: init() each store, then write and read the column.
INIT_STORES = """
import json, sys
from pathlib import Path
from sqlmodel import select
import tmws_store
from tmws_store import Memory, Store
done = {"package": tmws_store.__file__}
for where in sys.argv[1:]:
    with Store(url=where) if "://" in where else Store(Path(where)) as store:
        report = store.init()
        with store.session() as session:
            session.add(Memory(content="new", agent_id="a", namespace="n", language="fr"))
        with store.session() as session:
            found = session.exec(select(Memory.language).where(Memory.content == "new")).all()
        done[where] = {
            "action": report.action, "version": report.schema_version,
            "ran": list(report.migrations_run), "ok": store.verify().ok, "found": found,
        }
print(json.dumps(done))
"""


def python_in(repo: Path, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` run from the copy's root, importing the copy's package and tests; a
    child pytest's PostgreSQL tests use the server on ``port``, when given."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    if port is not None:
        env[RUNNING_SERVER_PORT] = str(port)
    return subprocess.run(
        [sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )


def drift_test(repo: Path, port: int) -> subprocess.CompletedProcess[str]:
    """The copy's drift test, whole, its PostgreSQL test on the running server at ``port``."""
    return python_in(
        repo, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_schema_drift.py",
        port=port,
    )  # fmt: skip


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new))


def quoted(message: str) -> bool:
    """Whether the recipe quotes ``message``, whatever the version numbers in it."""
    return re.sub(r"\d+", "N", message) in re.sub(r"\d+", "N", RECIPE.read_text())


def said(result: subprocess.CompletedProcess[str], start: str) -> str:
    """The line of the drift test's failure that starts with ``start`` (``E   AssertionError:
    start...``), checked to be quoted in the recipe."""
    found = re.search(rf"AssertionError: ({re.escape(start)}[^\n]*)", result.stdout)
    assert found, result.stdout + result.stderr
    assert quoted(found[1]), f"the recipe does not quote {found[1]!r}"
    return found[1]


def the_recipe_module() -> str:
    """The recipe's ``vN.py``: its one python block that defines ``MIGRATION``."""
    blocks = re.findall(r"```python\n(.*?)```", RECIPE.read_text(), re.S)
    [module] = [block for block in blocks if "\nMIGRATION = Migration(" in block]
    return re.sub(r"MIGRATION = Migration\(\d+,", f"MIGRATION = Migration({NEXT},", module)


def list_in_chain(repo: Path, version: int) -> None:
    """What the recipe asks of ``_chain()``: import ``vN`` and end the tuple with it."""
    path = repo / "tmws_store" / "migrations" / "__init__.py"
    text = path.read_text()
    text, imported = re.subn(r"(\n    from \. import [\w, ]+)\n", rf"\1, v{version}\n", text)
    text, returned = re.subn(
        r"(\n    return \([^)]*?),?\)\n", rf"\1, v{version}.MIGRATION)\n", text
    )
    assert (imported, returned) == (1, 1), text
    path.write_text(text)


def query(where: str, sql: str) -> list[tuple[object, ...]]:
    """The rows ``sql`` returns from the SQLite file or PostgreSQL database at ``where``."""
    if "://" in where:
        with psycopg.connect(where.replace("postgresql+psycopg://", "postgresql://")) as conn:
            return conn.execute(sql).fetchall()
    con = sqlite3.connect(where)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def columns(where: str) -> list[object]:
    """The columns of ``memories``, in their order."""
    if "://" in where:
        sql = (
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = 'memories' ORDER BY ordinal_position"
        )
        return [name for (name,) in query(where, sql)]
    return [row[1] for row in query(where, "PRAGMA table_info(memories)")]


@pytest.mark.slow
def test_the_recipe_takes_a_new_column_from_the_model_to_upgraded_stores(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    repo, port = tmp_path / "repo", postgres_server.port
    assert port is not None
    for part in ("tmws_store", "tests"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", repo)
    ddl, steps = repo / "tmws_store" / "ddl", repo / "tmws_store" / "migrations"
    recipe = RECIPE.read_text()
    assert FIELD.strip() in recipe and COMMAND in recipe

    # Stores of the current version, made by the copy before anything changes.
    old_file = str(tmp_path / "old.db")
    made = python_in(repo, "-c", MAKE_STORES, old_file, postgres_url)
    assert made.returncode == 0, made.stderr
    rows = f"SELECT {OLD_COLUMNS} FROM memories WHERE content != 'new' ORDER BY id"
    before = {where: (columns(where), query(where, rows)) for where in (old_file, postgres_url)}

    # 1. The model changes: the drift test fails and says what to do.
    edit(repo / "tmws_store" / "models" / "memory.py", LAST + NEXT_CLASS, LAST + FIELD + NEXT_CLASS)
    failed = drift_test(repo, port)
    assert failed.returncode == 1
    said(failed, f"the models no longer produce v{SCHEMA_VERSION}.sql: bump SCHEMA_VERSION")
    # The command, run too early, refuses to overwrite the current version's snapshot.
    snapshot = (ddl / f"v{SCHEMA_VERSION}.sql").read_text()
    early = python_in(repo, "-m", "tests.test_schema_drift")
    assert early.returncode == 1 and "bump SCHEMA_VERSION" in early.stderr
    assert quoted(early.stderr.strip().splitlines()[-1])
    assert (ddl / f"v{SCHEMA_VERSION}.sql").read_text() == snapshot
    assert not (ddl / f"v{NEXT}.sql").exists() and not (steps / f"v{NEXT}.py").exists()

    # 2. SCHEMA_VERSION is bumped: the drift test asks for the snapshot.
    edit(repo / "tmws_store" / "schema.py", f"SCHEMA_VERSION = {SCHEMA_VERSION}\n",
         f"SCHEMA_VERSION = {NEXT}\n")  # fmt: skip
    said(drift_test(repo, port), f"no snapshot for schema version {NEXT}: run `{COMMAND}`")

    # 3. The command writes the snapshot and a stub naming the change; the stub is not
    # listed yet, and the drift test says so.
    wrote = python_in(repo, "-m", "tests.test_schema_drift")
    assert wrote.returncode == 0, wrote.stderr
    assert all(quoted(line) for line in wrote.stdout.splitlines()), wrote.stdout
    assert (ddl / f"v{SCHEMA_VERSION}.sql").read_text() == snapshot  # the old one is kept
    assert "language TEXT" in (ddl / f"v{NEXT}.sql").read_text()
    stub = (steps / f"v{NEXT}.py").read_text()
    assert "    table memories: + language TEXT\n    new index ix_memories_language: " in stub
    assert f"Migration({NEXT}, upgrade)" in stub
    said(drift_test(repo, port), f"schema version {NEXT} has no migration")

    # 4. The migration's body, as the recipe writes it, and the module in the chain.
    (steps / f"v{NEXT}.py").write_text(the_recipe_module())
    list_in_chain(repo, NEXT)
    passed = drift_test(repo, port)
    assert passed.returncode == 0, passed.stdout + passed.stderr

    # 5. The old stores are upgraded, a TMWS file adopted through the chain, a new one created.
    adopted = copy_reference(REF42, tmp_path)
    fresh = tmp_path / "fresh.db"
    ran = python_in(repo, "-c", INIT_STORES, old_file, postgres_url, str(adopted), str(fresh))
    assert ran.returncode == 0, ran.stderr
    done = json.loads(ran.stdout)
    assert done.pop("package") == str(repo / "tmws_store" / "__init__.py")
    ok = {"version": NEXT, "ok": True, "found": ["fr"]}
    assert done == {
        old_file: {"action": "upgraded", "ran": [NEXT], **ok},
        postgres_url: {"action": "upgraded", "ran": [NEXT], **ok},
        str(adopted): {
            "action": "adopted",
            "ran": list(range(BASELINE_VERSION + 1, NEXT + 1)),
            **ok,
        },
        str(fresh): {"action": "created", "ran": [], **ok},
    }
    for where, (names, old_rows) in before.items():
        assert columns(where) == [*names, "language"]
        assert query(where, rows) == old_rows
        assert query(where, "SELECT DISTINCT language FROM memories WHERE content != 'new'") == [
            (None,)
        ]
    # Declared last, the column is last in every file, however the file got it.
    assert columns(str(fresh)) == columns(old_file) == columns(str(adopted))
