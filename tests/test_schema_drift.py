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
from tmws_store import SCHEMA_VERSION, Store
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


if __name__ == "__main__":
    target = snapshot_path(SCHEMA_VERSION)
    target.parent.mkdir(exist_ok=True)
    target.write_text(current_ddl())
    print(f"wrote {target}")
