"""kill -9 during an adoption, over many trials: never a partial schema, never a lost row.

(The first-run kill test is in test_init.py.)
"""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tmws_store import Store

from ._procs import SLOW_INIT_CHILD
from .conftest import REF34, TMWS_TABLES, copy_reference


def snapshot(path: Path, tables: set[str]) -> dict[str, list]:
    con = sqlite3.connect(path)
    try:
        out = {}
        for table in tables:
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            rows = con.execute(f'SELECT {", ".join(cols)} FROM "{table}"').fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def table_names(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


def test_kill_during_adoption_never_leaves_a_partial_schema(tmp_path: Path) -> None:
    original_dir = tmp_path / "original"
    original_dir.mkdir()
    original = copy_reference(REF34, original_dir)
    original_tables = table_names(original)
    before = snapshot(original, original_tables)
    seen = set()
    for trial in range(15):
        work = tmp_path / f"trial{trial}"
        work.mkdir()
        path = work / "tmws.db"
        path.write_bytes(original.read_bytes())
        child = subprocess.Popen(
            [sys.executable, "-c", SLOW_INIT_CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.004 * trial)  # from before the first statement to after the commit
        child.send_signal(signal.SIGKILL)
        child.wait()

        present = table_names(path)
        assert present in (original_tables, TMWS_TABLES), f"partial schema: {len(present)}"
        seen.add(len(present))
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.close()
        assert snapshot(path, original_tables) == before

        with Store(path) as store:
            store.init()  # finishes the job
        assert table_names(path) == TMWS_TABLES
        assert snapshot(path, original_tables) == before
    assert len(original_tables) in seen  # some kills really landed before the commit
