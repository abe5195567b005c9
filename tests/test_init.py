"""Store.init(): atomic first run, header-read warm start, identity, connection settings."""

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tmws_store import APPLICATION_ID, SCHEMA_VERSION, Store, StoreError, TMWSModel
from tmws_store.backends.sqlite import startup

from ._procs import SLOW_INIT, Forks
from .helpers import names_of, trace_start_up

EXPECTED_TABLES = {t.name for t in TMWSModel.metadata.tables.values()}


def pragma(path: Path, name: str) -> object:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        con.close()


def test_first_run_creates_every_table_stamped_in_wal(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        report = store.init()
    assert report.action == "created"
    assert set(report.tables_created) == EXPECTED_TABLES == names_of(path, "table")
    assert pragma(path, "application_id") == APPLICATION_ID
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "integrity_check") == "ok"


def test_database_and_wal_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "sub" / "tmws.db"
        with Store(path) as store, store.session() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            modes = {
                p.name: p.stat().st_mode & 0o777
                for p in path.parent.iterdir()
                if p.name.startswith("tmws.db")
            }
    finally:
        os.umask(old)
    assert modes == {"tmws.db": 0o600, "tmws.db-wal": 0o600, "tmws.db-shm": 0o600}
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_warm_start_reads_the_header_and_runs_no_ddl(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "tmws.db"
    Store(path).init()
    schema_version_before = pragma(path, "schema_version")

    statements = trace_start_up(monkeypatch)
    report = Store(path).init()

    assert report.action == "current"
    assert statements == []  # the two numbers come from the header bytes: no SQL at all
    assert pragma(path, "schema_version") == schema_version_before


def test_a_create_failing_part_way_leaves_no_table(tmp_path: Path, monkeypatch) -> None:
    """SQLite itself refuses one late CREATE INDEX (an authorizer denies it)."""
    path = tmp_path / "tmws.db"
    victim = "ix_memory_importance"  # created after several tables and indexes
    real_connect = startup.connect

    def denying_connect(p: Path, busy_timeout: float, key: object = None) -> sqlite3.Connection:
        con = real_connect(p, busy_timeout, key)

        def authorizer(action: int, arg1, arg2, db, trigger) -> int:
            if action == sqlite3.SQLITE_CREATE_INDEX and arg1 == victim:
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK

        con.set_authorizer(authorizer)
        return con

    path.touch()  # an empty file takes the DDL path; a missing one is written from the image
    monkeypatch.setattr(startup, "connect", denying_connect)
    with pytest.raises(StoreError, match="not authorized"):
        Store(path).init()
    assert names_of(path, "table") == set()
    assert pragma(path, "application_id") == 0

    monkeypatch.setattr(startup, "connect", real_connect)
    assert Store(path).init().action == "created"
    assert names_of(path, "table") == EXPECTED_TABLES


@pytest.mark.slow
def test_kill_during_first_run_leaves_no_table_or_all(tmp_path: Path) -> None:
    outcomes = {"none": 0, "all": 0}
    with Forks(SLOW_INIT) as forks:
        for trial in range(12):
            path = tmp_path / f"k{trial}.db"
            path.touch()  # the DDL path (a missing file is placed whole: test_fresh_image.py)
            pid = forks.start(str(path))
            time.sleep(0.01 * trial)  # from "before the first statement" to "well after"
            os.kill(pid, signal.SIGKILL)
            assert forks.wait() in (-signal.SIGKILL, 0)  # 0: init() returned before the kill
            if path.exists():
                present = names_of(path, "table")
                assert present in (set(), EXPECTED_TABLES), f"partial schema: {len(present)} tables"
                outcomes["all" if present else "none"] += 1
                assert pragma(path, "integrity_check") == "ok"
            with Store(path) as store:
                store.init()
            assert names_of(path, "table") == EXPECTED_TABLES
    assert outcomes["none"] > 0  # some kills really landed before the commit


def test_connections_enforce_foreign_keys_and_wait_for_locks(tmp_path: Path) -> None:
    with Store(tmp_path / "tmws.db", busy_timeout=2.5) as store, store.session() as session:
        conn = session.connection()
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
        assert conn.exec_driver_sql("PRAGMA trusted_schema").scalar() == 0
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_write_sessions_hold_the_write_lock_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path, busy_timeout=0) as store, store.session() as session:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        other = sqlite3.connect(path, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_readonly_sessions_do_not_take_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store, store.session(readonly=True) as session:
        session.exec(text("SELECT count(*) FROM agents"))  # type: ignore[call-overload]
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()


def test_store_closes_its_engines(tmp_path: Path) -> None:
    store = Store(tmp_path / "tmws.db")
    with store.session():
        pass
    first = store.engine
    store.close()
    assert store.engine is not first  # the old engine was let go; the next use makes another
    # usable again after close
    with store.session() as session:
        assert session.exec(text("SELECT 1")).one() == (1,)  # type: ignore[call-overload]
    store.close()
