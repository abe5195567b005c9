"""Private files, read-only places and symlinks.

Decisions (see also tmws_store/paths.py):
- The TMWS home and its data folder are ours: created 0700, and tightened to 0700 when they
  exist wider. The parent folder of an explicit path is never changed.
- The database, -wal and -shm files are 0600 whatever the umask; a wider database file is
  tightened when the store creates, adopts or upgrades it.
- A symlink at the database path is followed: a user may keep the file on another disk.
- A read-only file or folder is refused at init() with ReadOnlyStoreError; nothing is created.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import Store

from .conftest import REF34, copy_reference


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = tmp_path / "home" / "data" / "tmws.db"
        with Store(path) as store, store.session() as session:
            session.connection()  # opens the file: -wal and -shm exist now
            files = {p.name: mode(p) for p in path.parent.iterdir()}
    finally:
        os.umask(old)
    assert files == {"tmws.db": 0o600, "tmws.db-wal": 0o600, "tmws.db-shm": 0o600}
    assert mode(path.parent) == mode(path.parent.parent) == 0o700


def test_a_wide_tmws_home_is_tightened(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "tmws-home"
    (home / "data").mkdir(parents=True)
    home.chmod(0o755)
    (home / "data").chmod(0o777)
    monkeypatch.setenv("TMWS_HOME", str(home))
    with Store() as store:
        store.init()
    assert (mode(home), mode(home / "data")) == (0o700, 0o700)


def test_the_parent_of_an_explicit_path_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with Store(shared / "tmws.db") as store:
        store.init()
    assert mode(shared) == 0o755


def test_an_adopted_wide_file_is_tightened(tmp_path: Path) -> None:
    path = copy_reference(REF34, tmp_path)
    path.chmod(0o644)
    with Store(path) as store:
        report = store.init()
    assert mode(path) == 0o600
    assert report.backup is not None and mode(report.backup) == 0o600


def test_a_symlink_at_the_path_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "other-disk" / "tmws.db"
    target.parent.mkdir()
    Store(target).init()
    link = tmp_path / "data" / "tmws.db"
    link.parent.mkdir()
    link.symlink_to(target)
    with Store(link) as store:
        assert store.init().action == "current"
        with store.session() as session:
            from tmws_store import Agent

            session.add(Agent(agent_id="via-link", display_name="L"))
    assert link.is_symlink() and link.resolve() == target
    import sqlite3

    con = sqlite3.connect(target)
    assert con.execute("SELECT agent_id FROM agents").fetchall() == [("via-link",)]
    con.close()


# --- read-only places: root may write anywhere, so the child drops those capabilities ----

READ_ONLY_CHILD = """
import sys
from tmws_store import Store, ReadOnlyStoreError
try:
    Store(sys.argv[1]).init()
    print("initialised")
except ReadOnlyStoreError as exc:
    print("refused:", exc)
"""


def run_without_root_powers(path: Path) -> str:
    command = [sys.executable, "-c", READ_ONLY_CHILD, str(path)]
    if os.geteuid() == 0:
        caps = "-dac_override,-dac_read_search,-fowner"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *command]
    out = subprocess.run(command, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_read_only_folder_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    before = listing(tmp_path)
    out = run_without_root_powers(folder / "data" / "tmws.db")
    folder.chmod(0o755)
    assert out.startswith("refused:") and "cannot create" in out
    assert listing(tmp_path) == before


def test_a_read_only_file_is_refused_at_init(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    path.chmod(0o444)
    before = path.read_bytes()
    out = run_without_root_powers(path)
    path.chmod(0o600)
    assert out.startswith("refused:") and "read-only" in out
    assert path.read_bytes() == before
