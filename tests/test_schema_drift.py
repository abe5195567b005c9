"""Guard against schema drift: the models must produce exactly the committed snapshot.

The snapshot, ``tmws_store/ddl/v<N>.sql``, is also what a fresh file is created from. When
this fails, the models changed the schema. Then: bump ``SCHEMA_VERSION`` in
``tmws_store/schema.py``; add a ``Migration`` for the new version to
``tmws_store/migrations.py`` (or, where adoption alone covers the change, because it only adds
tables, nullable or defaulted columns and indexes, list the version in
``ADOPTION_COVERS`` below with a comment saying so); and write the new snapshot with

    python -m tests.test_schema_drift

Keep the old snapshots: they document each version.
"""

import re
from pathlib import Path

import tmws_store
from tmws_store import SCHEMA_VERSION
from tmws_store.backends.sqlite.completion import compile_statements, ddl_text
from tmws_store.migrations import MIGRATIONS
from tmws_store.schema import create_statements

SNAPSHOTS = Path(tmws_store.__file__).parent / "ddl"

# Versions reached by adoption (completion) alone, without a migration of their own.
ADOPTION_COVERS: set[int] = set()


def current_ddl() -> str:
    return ddl_text(compile_statements())


def snapshot_path(version: int) -> Path:
    return SNAPSHOTS / f"v{version}.sql"


def test_models_match_the_snapshot_of_the_current_version() -> None:
    path = snapshot_path(SCHEMA_VERSION)
    assert path.exists(), f"no snapshot for schema version {SCHEMA_VERSION}: see this file's doc"
    assert current_ddl() == path.read_text(), (
        f"the models no longer produce {path.name}: bump SCHEMA_VERSION, add a migration "
        "and a new snapshot (see tests/test_schema_drift.py)"
    )
    assert create_statements() == compile_statements()  # what init() runs on a fresh file


def test_every_later_version_has_a_migration_or_a_note() -> None:
    versions = sorted(
        int(m.group(1))
        for p in SNAPSHOTS.glob("v*.sql")
        if (m := re.match(r"v(\d+)\.sql$", p.name))
    )
    assert versions[0] == 1 and versions[-1] == SCHEMA_VERSION
    assert versions == list(range(1, SCHEMA_VERSION + 1)), "a snapshot is missing"
    migrated = {m.version for m in MIGRATIONS}
    for version in versions[1:]:
        assert version in migrated | ADOPTION_COVERS, f"version {version}: no migration, no note"
    assert len(migrated) == len(MIGRATIONS), "two migrations share a version"
    assert migrated <= set(versions), "a migration has no snapshot"


if __name__ == "__main__":
    target = snapshot_path(SCHEMA_VERSION)
    target.parent.mkdir(exist_ok=True)
    target.write_text(current_ddl())
    print(f"wrote {target}")
