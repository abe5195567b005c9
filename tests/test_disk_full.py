"""A full disk during init() and during writes: a clear error, no partial schema, and the
file still opens with every committed row. Provoked for real: a file-size limit on a child
process (RLIMIT_FSIZE, which SQLite reports as a disk I/O error) and tiny tmpfs mounts (a
true "database or disk is full"), which need root and a kernel that lets us mount."""

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tmws_store import APPLICATION_ID, Memory, StorageFullError, Store

from ._procs import model_table_names
from .helpers import REF34, all_rows, copy_reference, grow, names_of

# Each test fills a disk for real: a child process under a file-size limit, or a tmpfs.
pytestmark = pytest.mark.slow

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
    """Run the child under a file-size limit; any error but StorageFullError fails here."""
    out = subprocess.run(
        [sys.executable, "-c", LIMITED, str(path), str(limit), str(writes)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def integrity(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def memory_numbers(path: Path) -> list[int]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT content FROM memories").fetchall()
    finally:
        con.close()
    return sorted(int(content.split(":")[0]) for (content,) in rows)


def test_file_size_limit_during_first_run(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    result = run_limited(path, 200_000, 0)  # the schema alone needs about 1.3 MB
    assert result["error"] and "disk" in result["error"]
    assert names_of(path, "table") == set()  # not a partial schema
    assert integrity(path) == "ok"
    with Store(path) as store:
        assert store.init().action == "created"  # with room again, the next start finishes
    assert names_of(path, "table") == model_table_names()


def test_file_size_limit_during_adoption_leaves_the_file_and_no_half_backup(
    tmp_path: Path,
) -> None:
    """The backup is written first: a limit below the file's size stops it half made."""
    path = copy_reference(REF34, tmp_path)
    original = names_of(path, "table")
    before = all_rows(path, original)
    result = run_limited(path, path.stat().st_size // 2, 0)
    assert result["error"] and "disk" in result["error"]
    assert [p.name for p in tmp_path.iterdir() if ".backup-" in p.name] == []
    assert names_of(path, "table") == original
    assert all_rows(path, original) == before
    assert integrity(path) == "ok"
    with Store(path) as store:
        assert store.init().action == "adopted"
    assert names_of(path, "table") == model_table_names()
    assert all_rows(path, original) == before


def test_file_size_limit_during_writes_keeps_committed_rows(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    limit = path.stat().st_size + 300_000
    result = run_limited(path, limit, 1000)
    assert result["error"] is not None, "the limit was never reached"
    assert result["committed"] > 0
    assert memory_numbers(path) == list(range(result["committed"]))
    assert integrity(path) == "ok"
    with Store(path) as store, store.session() as session:  # and the store opens it for writes
        session.add(Memory(content="after:1", agent_id="a", namespace="n"))


# --- a real full file system ----------------------------------------------------------------


def test_full_tmpfs_during_first_run(tmpfs) -> None:
    point = tmpfs("tiny", 256 * 1024)
    path = point / "tmws.db"
    with pytest.raises(StorageFullError, match="disk is full"):
        Store(path).init()
    assert names_of(path, "table") == set()
    assert integrity(path) == "ok"
    grow(point, 8 * 1024 * 1024)
    with Store(path) as store:
        assert store.init().action == "created"
    assert names_of(path, "table") == model_table_names()


@pytest.mark.parametrize("room", ["no room for the backup", "room for the backup only"])
def test_full_tmpfs_during_adoption(tmpfs, room: str) -> None:
    size = REF34.stat().st_size
    # The copy, then either half a backup or a whole one and 160 KiB: the 8 new tables and
    # their indexes need about 250 KiB more in the WAL.
    space = size + size // 2 if room == "no room for the backup" else 2 * size + 160 * 1024
    point = tmpfs("small", space)
    path = copy_reference(REF34, point)
    original = names_of(path, "table")
    before = all_rows(path, original)
    # Adoption checks first for room for its backup and the migrations after it (twice the
    # file): refused before anything is written, naming the bytes it needs.
    with pytest.raises(StorageFullError, match="needs about"):
        Store(path).init()
    assert names_of(path, "table") == original  # not a partial schema
    assert all_rows(path, original) == before
    assert integrity(path) == "ok"
    assert [p for p in point.iterdir() if ".backup-" in p.name] == []  # no copy begun
    grow(point, 8 * 1024 * 1024)
    with Store(path) as store:
        assert store.init().action == "adopted"
    assert names_of(path, "table") == model_table_names()
    assert all_rows(path, original) == before


def test_full_tmpfs_during_writes_keeps_committed_rows(tmpfs) -> None:
    point = tmpfs("small", 4 * 1024 * 1024)
    path = point / "tmws.db"
    committed = 0
    with Store(path) as store:
        store.init()
        with pytest.raises(StorageFullError, match="disk is full"):
            for i in range(1000):
                with store.session() as session:
                    session.add(Memory(content=f"{i}:" + "x" * 50_000, agent_id="a", namespace="n"))
                committed += 1
    assert committed > 0
    assert memory_numbers(path) == list(range(committed))
    assert integrity(path) == "ok"
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    finally:
        con.close()
