"""Private files, read-only places and symlinks.

Decisions (see also tmws_store/paths.py):
- Folders the store creates are 0700. A folder that exists is never changed, the TMWS home
  and its data folder included (tests/test_secrets_and_folders.py: `status` warns instead).
- Tightening a file only removes permission bits: a file made read-only stays read-only.
- The database, -wal and -shm files are 0600 whatever the umask; a wider database file is
  tightened when the store creates, adopts or upgrades it.
- A symlink at the database path is followed: a user may keep the file on another disk. A
  broken link is refused: it most often means that disk is not mounted.
- A read-only file or folder is refused at init() with ReadOnlyStoreError; nothing is created.

Root ignores file modes, so the read-only cases run in a child process that has given up the
capabilities that let root do so (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER): it is
still uid 0 and reaches the test's folders, but permission bits apply to it.
"""

import ctypes
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import Agent, NotADatabaseError, Store

from ._procs import model_table_names
from .helpers import REF34, copy_reference


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its mode: what a refused init() must leave alone."""
    return {str(p.relative_to(root)): p.lstat().st_mode for p in sorted(root.rglob("*"))}


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


@pytest.mark.parametrize("content", ["no database yet", "a TMWS 2.4.18 database"])
@pytest.mark.parametrize("source", ["TMWS_HOME", "default"])
def test_a_wide_tmws_home_is_left_as_it_is(
    tmp_path: Path, monkeypatch, source: str, content: str
) -> None:
    if source == "TMWS_HOME":
        home = tmp_path / "tmws-home"
        monkeypatch.setenv("TMWS_HOME", str(home))
    else:  # ~/.tmws
        monkeypatch.delenv("TMWS_HOME")
        monkeypatch.setenv("HOME", str(tmp_path))
        home = tmp_path / ".tmws"
    (home / "data").mkdir(parents=True)
    if content == "a TMWS 2.4.18 database":  # as TMWS left it: 0755 folders, a 0644 file
        copy_reference(REF34, home / "data").rename(home / "data" / "tmws.db")
        (home / "data" / "tmws.db").chmod(0o644)
    home.chmod(0o755)
    (home / "data").chmod(0o777)
    with Store() as store:
        assert store.path == home / "data" / "tmws.db"
        store.init()
    assert (mode(home), mode(home / "data"), mode(store.path)) == (0o755, 0o777, 0o600)


def test_the_parent_of_an_explicit_path_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with Store(shared / "tmws.db") as store:
        store.init()
    assert mode(shared) == 0o755
    assert mode(shared / "tmws.db") == 0o600


def test_an_adopted_wide_file_is_tightened(tmp_path: Path) -> None:
    path = copy_reference(REF34, tmp_path)
    path.chmod(0o644)
    with Store(path) as store:
        report = store.init()
    assert mode(path) == 0o600
    assert report.backup is not None and mode(report.backup) == 0o600


# --- symlinks --------------------------------------------------------------------------------


def agent_ids(path: Path) -> list[tuple[str]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT agent_id FROM agents").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("target_state", ["current database", "empty file"])
def test_a_symlink_at_the_path_is_followed(tmp_path: Path, target_state: str) -> None:
    target = tmp_path / "other-disk" / "tmws.db"
    target.parent.mkdir()
    if target_state == "current database":
        Store(target).init()
    else:  # how a user prepares a first run on another disk: an empty file, then the link
        target.touch()
    link = tmp_path / "data" / "tmws.db"
    link.parent.mkdir()
    link.symlink_to(target)
    with Store(link) as store:
        store.init()
        with store.session() as session:
            session.add(Agent(agent_id="via-link", display_name="L"))
            session.flush()
            beside_link = sorted(p.name for p in link.parent.iterdir())
            beside_target = sorted(p.name for p in target.parent.iterdir())
    assert beside_link == ["tmws.db"]  # the -wal and -shm files live beside the real file
    assert beside_target == ["tmws.db", "tmws.db-shm", "tmws.db-wal"]
    assert link.is_symlink() and link.resolve() == target  # the link was not replaced
    assert agent_ids(target) == [("via-link",)]
    assert {r[0] for r in sqlite3.connect(target).execute("SELECT name FROM sqlite_master")} >= (
        model_table_names()
    )


def test_a_broken_symlink_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    link = tmp_path / "data" / "tmws.db"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "unmounted-disk" / "tmws.db")
    before = listing(tmp_path)
    with pytest.raises(NotADatabaseError, match=r"symbolic link to .*which does not exist"):
        Store(link).init()
    assert listing(tmp_path) == before


# --- read-only places: root may write anywhere, so the child gives up those powers ----------

READ_ONLY_CHILD = """
import sys
from tmws_store import Store, StoreError
try:  # proves the child really obeys permission bits (it may be root)
    open(sys.argv[2], "a")
    print("probe: writable")
except PermissionError:
    print("probe: refused")
try:
    print("initialised:", Store(sys.argv[1] or None).init().action)  # "": where TMWS_HOME says
except StoreError as exc:
    print(f"refused: {type(exc).__name__}: {exc}")
"""

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def _give_up_file_powers() -> None:
    """Run in the child between fork and exec: the program it executes gets none of the
    capabilities that let root ignore file modes (dropped from the bounding set)."""
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if _prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap}) failed")


_prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the forked child


def init_without_root_powers(path: Path | None, tmp_path: Path) -> str:
    probe = tmp_path / "probe"
    probe.touch()
    probe.chmod(0o444)
    out = subprocess.run(
        [sys.executable, "-c", READ_ONLY_CHILD, str(path or ""), str(probe)],
        capture_output=True,
        text=True,
        preexec_fn=_give_up_file_powers if os.geteuid() == 0 else None,
    )
    probe.unlink()
    assert out.returncode == 0, out.stderr
    first, _, rest = out.stdout.partition("\n")
    assert first == "probe: refused", "the child still ignores file modes"
    return rest.strip()


@pytest.mark.slow
def test_a_read_only_folder_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    home = Path(os.environ["HOME"])
    before, home_before = listing(tmp_path), listing(home)
    out = init_without_root_powers(folder / "data" / "tmws.db", tmp_path)
    assert out.startswith("refused: ReadOnlyStoreError") and "cannot create" in out, out
    assert listing(tmp_path) == before
    assert listing(home) == home_before  # nothing went to a default place instead


@pytest.mark.slow
def test_a_read_only_file_is_refused_at_init(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    path.chmod(0o444)
    before, content = listing(tmp_path), path.read_bytes()
    out = init_without_root_powers(path, tmp_path)
    assert out.startswith("refused: ReadOnlyStoreError") and "the file is read-only" in out, out
    assert (listing(tmp_path), path.read_bytes()) == (before, content)


@pytest.mark.slow
def test_a_tmws_file_in_a_read_only_folder_is_refused_before_any_backup(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = copy_reference(REF34, folder)
    folder.chmod(0o555)
    before, content = listing(tmp_path), path.read_bytes()
    out = init_without_root_powers(path, tmp_path)
    assert out.startswith("refused: ReadOnlyStoreError") and "its folder" in out, out
    assert (listing(tmp_path), path.read_bytes()) == (before, content)


@pytest.mark.slow
def test_a_read_only_tmws_data_folder_is_not_made_writable(tmp_path: Path, monkeypatch) -> None:
    """An existing data folder is never changed: it stays read-only, and is refused."""
    home = tmp_path / "tmws-home"
    (home / "data").mkdir(parents=True)
    (home / "data").chmod(0o555)
    monkeypatch.setenv("TMWS_HOME", str(home))
    out = init_without_root_powers(None, tmp_path)
    assert out.startswith("refused: ReadOnlyStoreError"), out
    assert not (home / "data" / "tmws.db").exists()
    assert mode(home / "data") == 0o555  # as the user left it


@pytest.mark.slow
def test_a_link_in_a_read_only_folder_to_a_writable_place_works(tmp_path: Path) -> None:
    """What must be writable is the folder of the real file, where -wal and -shm go."""
    target = tmp_path / "disk" / "tmws.db"
    target.parent.mkdir()
    target.touch()
    link = tmp_path / "ro" / "tmws.db"
    link.parent.mkdir()
    link.symlink_to(target)
    link.parent.chmod(0o555)
    assert init_without_root_powers(link, tmp_path) == "initialised: created"
    assert agent_ids(target) == []
    assert sorted(p.name for p in link.parent.iterdir()) == ["tmws.db"]


@pytest.mark.slow
def test_a_look_at_a_read_only_store_leaves_nothing_beside_it(tmp_path: Path) -> None:
    """status, verify and backup of a 0444 store, run without root's power over file modes:
    SQLite opened it read-only and left -wal and -shm behind it (0444 too), and every later
    write then failed as if the store were read-only."""
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    path.chmod(0o444)
    backups = tmp_path / "backups"
    backups.mkdir()
    content = path.read_bytes()
    for command in (["status"], ["verify"], ["backup", str(backups / "copy.db")]):
        done = subprocess.run(
            [sys.executable, "-m", "tmws_store", *command, "--db", str(path)],
            capture_output=True,
            text=True,
            preexec_fn=_give_up_file_powers if os.geteuid() == 0 else None,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "tmws.db"]
    assert path.read_bytes() == content and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(p.name for p in backups.iterdir()) == ["copy.db"]
    path.chmod(0o644)
    with Store(path) as store, store.session() as session:  # and it writes again
        session.add(Agent(agent_id="a", display_name="A"))
