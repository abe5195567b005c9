"""Guard against schema drift: the models must produce exactly the committed snapshot.

The snapshot, ``tmws_store/ddl/v<N>.sql``, is also what a fresh file is created from. When
this fails, the models changed the schema: follow ``docs/schema-changes.md``. In short: bump
``SCHEMA_VERSION`` in ``tmws_store/schema.py``, then run

    python -m tests.test_schema_drift

which writes the new snapshot and, if it is missing, a stub ``tmws_store/migrations/v<N>.py``
listing what the models changed; write its ``upgrade`` and list the module in ``_chain()`` of
``tmws_store/migrations/__init__.py``. Keep the old snapshots: they document each version.
"""

import re
import sys
import textwrap
from pathlib import Path

import tmws_store
from tmws_store import SCHEMA_VERSION, Store
from tmws_store.backends.sqlite.completion import compile_statements, ddl_text
from tmws_store.migrations import MIGRATIONS
from tmws_store.schema import create_statements

PACKAGE = Path(tmws_store.__file__).parent
SNAPSHOTS = PACKAGE / "ddl"
STEPS = PACKAGE / "migrations"
COMMAND = "python -m tests.test_schema_drift"
RECIPE = "docs/schema-changes.md"

# Versions reached by adoption (completion) alone, without a migration of their own.


def current_ddl() -> str:
    return ddl_text(compile_statements())


def snapshot_path(version: int) -> Path:
    return SNAPSHOTS / f"v{version}.sql"


def step_path(version: int) -> Path:
    return STEPS / f"v{version}.py"


def test_models_match_the_snapshot_of_the_current_version() -> None:
    path = snapshot_path(SCHEMA_VERSION)
    assert path.exists(), (
        f"no snapshot for schema version {SCHEMA_VERSION}: run `{COMMAND}` ({RECIPE})"
    )
    assert current_ddl() == path.read_text(), (
        f"the models no longer produce {path.name}: bump SCHEMA_VERSION in "
        f"tmws_store/schema.py, then run `{COMMAND}` ({RECIPE})"
    )
    assert create_statements() == compile_statements()  # what init() runs on a fresh file


def test_every_later_version_has_a_migration_or_a_note() -> None:
    versions = sorted(
        int(m.group(1))
        for p in SNAPSHOTS.glob("v*.sql")
        if (m := re.match(r"v(\d+)\.sql$", p.name))
    )
    assert versions[-1] == SCHEMA_VERSION, (
        f"no snapshot for schema version {SCHEMA_VERSION}: run `{COMMAND}` ({RECIPE})"
    )
    assert versions[0] == 1, "the snapshot of schema version 1 is missing"
    assert versions == list(range(1, SCHEMA_VERSION + 1)), "a snapshot is missing"
    migrated = {m.version for m in MIGRATIONS}
    for version in versions[1:]:
        assert version in migrated, (
            f"schema version {version} has no migration: write tmws_store/migrations/"
            f"v{version}.py (`{COMMAND}` writes a stub) and list it in _chain() of "
            f"tmws_store/migrations/__init__.py ({RECIPE})"
        )
    assert len(migrated) == len(MIGRATIONS), "two migrations share a version"
    assert migrated <= set(versions), "a migration has no snapshot"


def assert_exactly_the_models(store: Store) -> None:
    """A fresh store holds exactly what the models declare: nothing missing, extra, different
    or merely tolerated (verify() compares types, nullability, defaults, keys and indexes)."""
    store.init()
    report = store.verify()
    assert report.problems() == [] and report.tolerated_differences == []
    assert report.extra_tables == report.extra_columns == report.extra_indexes == []


def test_a_fresh_sqlite_store_is_exactly_the_models(tmp_path: Path) -> None:
    with Store(tmp_path / "tmws.db") as store:
        assert_exactly_the_models(store)


def test_a_fresh_postgresql_store_is_exactly_the_models(postgres_url: str) -> None:
    # PostgreSQL's DDL is compiled from the models at init() (no snapshot): this is its guard.
    with Store(url=postgres_url) as store:
        assert_exactly_the_models(store)


# --- python -m tests.test_schema_drift: the next snapshot, and a stub of its migration -------

_NAMED = re.compile(r"CREATE (?:UNIQUE )?(TABLE|INDEX) (\w+)")


def _by_name(ddl: str) -> dict[str, str]:
    statements = (block for block in ddl.split(";\n\n") if block.strip())
    return {" ".join(m.groups()).lower(): s for s in statements if (m := _NAMED.match(s))}


def snapshot_changes(old: str, new: str) -> list[str]:
    """What ``new`` adds to or drops from ``old``, one line each: the migration's to-do list."""
    before, after = _by_name(old), _by_name(new)
    changes: list[str] = []
    for name in sorted(before.keys() | after.keys(), key=lambda n: (n.startswith("index"), n)):
        if name not in after:
            changes.append(f"dropped {name}")
        elif name not in before:
            changes.append(f"new {name}: {after[name].splitlines()[0]}")
        elif before[name] != after[name]:
            lines = [line.strip().rstrip(",") for line in before[name].splitlines()]
            again = [line.strip().rstrip(",") for line in after[name].splitlines()]
            changes += [f"{name}: - {line}" for line in lines if line not in again]
            changes += [f"{name}: + {line}" for line in again if line not in lines]
    return changes


STUB = '''"""Schema version {version}: WHAT CHANGED, AND WHY ({recipe}).

What the models changed since ddl/v{previous}.sql:

{changes}
"""

from typing import TYPE_CHECKING

from . import Migration

if TYPE_CHECKING:
    from alembic.operations import Operations

__all__ = ["MIGRATION"]


def upgrade(op: "Operations") -> None:
    raise NotImplementedError("write the upgrade to schema version {version}: {recipe}")


MIGRATION = Migration({version}, upgrade)
'''


def shown(path: Path) -> str:
    """``path`` from the repository's root, as the recipe names files."""
    return str(path.relative_to(PACKAGE.parent))


def write_next(again: bool) -> list[str]:
    """Write the snapshot of ``SCHEMA_VERSION`` and a stub of its migration; say what is done.

    Refuses to rewrite a snapshot the models no longer produce unless ``again``: most often
    SCHEMA_VERSION was not bumped, and the old version's snapshot would be lost.
    """
    version, ddl = SCHEMA_VERSION, current_ddl()
    target = snapshot_path(version)
    if target.exists() and target.read_text() != ddl and not again:
        raise SystemExit(
            f"{shown(target)} is schema version {version}'s snapshot and the models no longer "
            "produce it: bump SCHEMA_VERSION in tmws_store/schema.py first, or rewrite the "
            f"snapshot of a version not released yet with `{COMMAND} --again` ({RECIPE})"
        )
    target.write_text(ddl)
    done = [f"wrote {shown(target)}"]
    stub, previous = step_path(version), snapshot_path(version - 1)
    if version > 1 and not stub.exists() and previous.exists():
        changes = snapshot_changes(previous.read_text(), ddl) or ["nothing"]
        listed = "\n".join(
            textwrap.fill(change, 100, initial_indent="    ", subsequent_indent="        ")
            for change in changes
        )
        text = STUB.format(version=version, previous=version - 1, changes=listed, recipe=RECIPE)
        stub.write_text(text)
        done.append(
            f"wrote {shown(stub)}: write its upgrade(), then list it in _chain() of "
            "tmws_store/migrations/__init__.py"
        )
    return done


if __name__ == "__main__":
    print("\n".join(write_next(again="--again" in sys.argv[1:])))
