"""kill -9 during an adoption, over many trials: never a partial schema, never a lost row.

(The first-run kill test is in test_init.py.) The child logs each statement it runs, so every
trial knows where its kill landed: before the write lock, inside the one transaction (during
the backup or the DDL), or at or after the COMMIT.
"""

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from tmws_store import APPLICATION_ID, Store

from ._procs import TRACED_INIT, Forks, model_table_names
from .helpers import REF34, all_rows, copy_reference

# Every test here kills processes at random moments.
pytestmark = pytest.mark.slow

TRIALS = 15
WINDOW = 0.5  # seconds after "ready": the slowed adoption commits at about 0.4 s here


def state(path: Path) -> tuple[set[str], int, str]:
    """Tables, application_id and integrity_check of the file as a new process finds it."""
    con = sqlite3.connect(path)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        return tables, app_id, con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def where_killed(log: Path) -> str:
    lines = log.read_text().splitlines() if log.exists() else []
    if "COMMIT" in lines:
        return "at or after the COMMIT"
    if "backup finished" in lines:
        return "in the transaction: DDL"
    if "backup started" in lines:
        return "in the transaction: backup"
    if "BEGIN IMMEDIATE" in lines:
        return "in the transaction: before the backup"
    return "before the write lock"


def test_kill_during_adoption_never_leaves_a_partial_schema(tmp_path: Path) -> None:
    (tmp_path / "original").mkdir()
    original = copy_reference(REF34, tmp_path / "original")
    original_tables = state(original)[0]
    before = all_rows(original, original_tables)
    everything = model_table_names()
    rng = random.Random(20261124)
    # One random moment in each of TRIALS equal slices of the window: random, yet spread
    # from "before the first statement" to "after the commit".
    delays = [(i + rng.random()) * WINDOW / TRIALS for i in range(TRIALS)]
    landed: Counter[str] = Counter()
    paths = []
    for trial in range(TRIALS):
        (tmp_path / f"trial{trial}").mkdir()
        paths.append(tmp_path / f"trial{trial}" / original.name)
        paths[-1].write_bytes(original.read_bytes())  # a closed rollback-journal file: one file

    with Forks(TRACED_INIT) as forks:
        for path, delay in zip(paths, delays, strict=True):
            pid = forks.start(str(path), str(path.with_name("log")))
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)
            assert forks.wait() in (-signal.SIGKILL, 0)  # 0: init() returned before the kill
            where = where_killed(path.with_name("log"))
            landed[where] += 1

            tables, app_id, integrity = state(path)
            assert integrity == "ok", where
            # The schema and the stamp change together or not at all.
            assert (tables, app_id) in ((original_tables, 0), (everything, APPLICATION_ID)), (
                f"killed {where}: {len(tables)} tables, application_id {app_id:#x}"
            )
            assert all_rows(path, original_tables) == before, where

            with Store(path) as store:
                report = store.init()  # finishes the job
            assert report.action == ("current" if app_id else "adopted"), where
            assert state(path) == (everything, APPLICATION_ID, "ok")
            assert all_rows(path, original_tables) == before
            if report.backup is not None:
                assert all_rows(report.backup, original_tables) == before
    inside = sum(n for where, n in landed.items() if where.startswith("in the transaction"))
    assert inside >= 3, f"too few kills landed inside the transaction: {dict(landed)}"
