"""A full disk during init() and during writes: a clear error, no partial schema, and the
file still opens with every committed row. Provoked for real: a file-size limit on the
process (RLIMIT_FSIZE) and, where this machine lets us mount one, a tiny tmpfs."""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tmws_store import Memory, StorageFullError, Store

LIMITED = textwrap.dedent(
    """
    import json, resource, signal, sys
    # Without this the kernel kills the process (SIGXFSZ) instead of failing the write.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from tmws_store import Memory, Store, StorageFullError
    committed, error = 0, None
    try:
        with Store(sys.argv[1]) as store:
            store.init()
            for i in range(int(sys.argv[3])):
                with store.session() as session:
                    session.add(Memory(content=f"{i}:" + "x" * 20000, agent_id="a", namespace="n"))
                committed += 1
    except StorageFullError as exc:
        error = str(exc)
    print(json.dumps({"committed": committed, "error": error}))
    """
)


def run_limited(path: Path, limit: int, writes: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", LIMITED, str(path), str(limit), str(writes)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def tables(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
    finally:
        con.close()


def test_file_size_limit_during_first_run(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    result = run_limited(path, 200_000, 0)  # the schema alone needs about 1.3 MB
    assert result["error"] and "disk" in result["error"]
    assert tables(path) == 0  # not a partial schema
    with Store(path) as store:
        assert store.init().action == "created"  # with room again, the next start finishes
    assert tables(path) == 42


def test_file_size_limit_during_writes_keeps_committed_rows(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    limit = path.stat().st_size + 300_000
    result = run_limited(path, limit, 1000)
    assert result["error"] is not None, "the limit was never reached"
    assert result["committed"] > 0
    with Store(path) as store, store.session(readonly=True) as session:
        contents = [m.content.split(":")[0] for m in session.exec(Memory.__table__.select())]
    assert sorted(map(int, contents)) == list(range(result["committed"]))
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


def mount_tmpfs(mount_point: Path, size: str) -> None:
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path: Path):
    """Mount tiny tmpfs file systems under tmp_path; all unmounted afterwards."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        point = tmp_path / name
        mount_tmpfs(point, size)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_tmpfs_during_first_run(tmpfs) -> None:
    path = tmpfs("tiny", "256k") / "tmws.db"
    with pytest.raises(StorageFullError, match="disk is full"):
        Store(path).init()
    assert tables(path) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_tmpfs_during_writes_keeps_committed_rows(tmpfs) -> None:
    path = tmpfs("small", "4m") / "tmws.db"
    committed = 0
    with Store(path) as store:
        store.init()
        with pytest.raises(StorageFullError, match="disk is full"):
            for i in range(1000):
                with store.session() as session:
                    session.add(Memory(content=f"{i}:" + "x" * 50_000, agent_id="a", namespace="n"))
                committed += 1
    assert committed > 0
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT count(*) FROM memories").fetchone() == (committed,)
    finally:
        con.close()
