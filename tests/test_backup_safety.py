"""Backups are never seen half made and never collide: provoked with real processes.

A child process backs up a store big enough to take several copy steps; at half way it tells
the parent ("half" on stdout) and waits for a line on stdin, its copy half written. The
parent then kills it with SIGKILL, or lets it go on while it runs other backups and init()s.
"""

import json
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tmws_store import Memory, NotADatabaseError, Store, StoreError
from tmws_store.backends.sqlite.backup import backup_name, backup_to, list_backups

from ._procs import Workers

ROWS = 1500  # of 4 KB each: about 1,700 pages, seven copy steps of 256 pages

# Progress callback of the children: at half way, say so and wait for the parent.
PAUSE = textwrap.dedent(
    """
    import sys

    def pause_at_half(done, total):
        global paused
        if 0 < done < total and 2 * done >= total and not paused:
            paused = True
            print("half", flush=True)
            sys.stdin.readline()

    paused = False
    """
)

# `tmws-store --db argv[1] backup [argv[2]]`, its progress bar replaced by the pause.
CLI_BACKUP_CHILD = PAUSE + textwrap.dedent(
    """
    from tmws_store import cli

    class PausingBar:
        def __init__(self, label="backup"):
            pass

        def __call__(self, done, total):
            pause_at_half(done, total)

        def finish(self):
            pass

    cli.ProgressBar = PausingBar
    sys.exit(cli.main(["--db", sys.argv[1], "backup", *sys.argv[2:]]))
    """
)

# Store(argv[1]).init() on a file to adopt, pausing half way through its before-adopt backup.
INIT_CHILD = PAUSE + textwrap.dedent(
    """
    from tmws_store import Store
    from tmws_store.backends.sqlite import backup

    real_backup_to = backup.backup_to

    def paused_backup_to(source, dest, *, named_by_us=False, progress=None, key=None):
        return real_backup_to(source, dest, named_by_us=named_by_us, progress=pause_at_half,
                              key=key)

    backup.backup_to = paused_backup_to  # what backup_beside calls
    print(Store(sys.argv[1]).init().action, flush=True)
    """
)


def make_big_store(path: Path, *, adoptable: bool = False) -> Path:
    """A store of ROWS large memories; ``adoptable``: unstamped, as TMWS itself left files."""
    with Store(path) as store:
        store.init()
        rows = [
            {"content": f"{i}:" + "x" * 4000, "agent_id": "a", "namespace": "n"}
            for i in range(ROWS)
        ]
        store.insert_many(Memory, rows)
    if adoptable:
        con = sqlite3.connect(path)
        con.execute("PRAGMA application_id = 0")
        con.close()
    return path


def memory_count(path: Path) -> int:
    """Rows of a backup, after checking it is a whole, sound SQLite file."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",), path
        return con.execute("SELECT count(*) FROM memories").fetchone()[0]
    finally:
        con.close()


def partials(folder: Path) -> list[Path]:
    """The hidden temporary files of backups being written (or of killed writers)."""
    return sorted(folder.glob(".*.partial"))


def start(script: str, *args: Path) -> subprocess.Popen[str]:
    """A child paused half way through its copy (it printed "half")."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if line != "half\n":
        child.kill()
        _, err = child.communicate()
        raise AssertionError(f"the child never paused half way: {line!r} {err}")
    return child


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Children started by a test; any still running at its end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.communicate()


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL


def resume(child: subprocess.Popen[str]) -> str:
    """Let a paused child finish; its stdout, after checking it succeeded."""
    out, err = child.communicate("go\n", timeout=120)
    assert child.returncode == 0, err
    return out


def status(db: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tmws_store", "--db", str(db), "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_a_killed_backup_is_never_listed_and_the_next_backup_removes_it(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    db = make_big_store(tmp_path / "t.db")
    children.append(start(CLI_BACKUP_CHILD, db))
    kill(children[0])

    assert list(tmp_path.glob("t.db.backup-*")) == []  # nothing under a backup's name
    assert list_backups(db) == []
    shown = status(db)
    assert (shown["newest_backup"], shown["backups"]) == (None, 0)
    [partial] = partials(tmp_path)  # the dead writer's half copy, until the next backup

    written = backup_to(db, backup_name(db, reason="manual"), named_by_us=True)
    assert not partial.exists() and partials(tmp_path) == []
    assert list_backups(db) == [written]
    assert memory_count(written) == ROWS
    assert written.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_a_killed_before_adopt_backup_is_never_listed_and_init_removes_it(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    db = make_big_store(tmp_path / "t.db", adoptable=True)
    children.append(start(INIT_CHILD, db))
    kill(children[0])

    assert list(tmp_path.glob("t.db.backup-*")) == []
    assert list_backups(db) == []
    assert status(db)["newest_backup"] is None
    assert len(partials(tmp_path)) == 1

    with Store(db) as store:
        report = store.init()  # the slow path again: the adoption did not commit
    assert report.action == "adopted" and report.backup is not None
    assert partials(tmp_path) == []
    assert list_backups(db) == [report.backup]
    assert memory_count(report.backup) == ROWS


@pytest.mark.slow
def test_init_creating_a_store_removes_a_killed_backups_file(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    """No backup runs when init() creates a store: its slow path cleans up by itself."""
    db = make_big_store(tmp_path / "t.db")
    children.append(start(CLI_BACKUP_CHILD, db))
    kill(children[0])
    [partial] = partials(tmp_path)
    for suffix in ("", "-wal", "-shm"):  # the user moved the store away, to start afresh
        Path(f"{db}{suffix}").unlink(missing_ok=True)

    with Store(db) as store:
        assert store.init().action == "created"
    assert not partial.exists()
    assert list_backups(db) == []


@pytest.mark.slow
def test_a_live_writers_partial_copy_is_left_alone(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    """Other backups and an init() run while a writer is half way: its file stays."""
    db = make_big_store(tmp_path / "t.db", adoptable=True)
    con = sqlite3.connect(db)  # the writer's read snapshot must not stop init()'s writes
    assert con.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    con.close()
    children.append(start(CLI_BACKUP_CHILD, db))
    assert list_backups(db) == []
    [partial] = partials(tmp_path)

    other = backup_to(
        db, backup_name(db, reason="manual"), named_by_us=True
    )  # removes dead writers' files
    with Store(db) as store:
        report = store.init()  # so does the slow path of init()
    assert report.action == "adopted" and report.backup is not None
    assert partials(tmp_path) == [partial]
    assert list_backups(db) == [other, report.backup]  # not the half-made copy

    assert resume(children[0]).startswith("backup written to ")
    assert partials(tmp_path) == []
    backups = list_backups(db)
    assert len(backups) == 3
    assert [memory_count(path) for path in backups] == [ROWS] * 3


@pytest.mark.slow
def test_a_file_made_at_the_chosen_name_meanwhile_is_kept(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    """The chosen name stays free until the copy is whole, and is never taken over."""
    db = make_big_store(tmp_path / "t.db")
    chosen = tmp_path / "copy.db"
    children.append(start(CLI_BACKUP_CHILD, db, chosen))
    with chosen.open("x") as other:  # another program's file appears at that name
        other.write("keep me")
    out, err = children[0].communicate("go\n", timeout=120)
    assert children[0].returncode == 2 and out == ""
    assert err.startswith("tmws-store backup: ") and "already exists" in err
    assert chosen.read_text() == "keep me"
    assert partials(tmp_path) == []


WORKER = """
from tmws_store.backends.sqlite.backup import backup_name, backup_to

db = Path(sys.argv[3])
written, errors = [], []
for round_ in range(ROUNDS):
    wait_for(f"round{round_}")
    try:
        written.append(str(backup_to(db, backup_name(db, reason="manual"), named_by_us=True)))
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
report("backups", {"written": written, "errors": errors})
"""


@pytest.mark.slow
def test_six_processes_backing_up_at_once_each_get_their_own_whole_copy(tmp_path: Path) -> None:
    rounds, count = 10, 6
    db = tmp_path / "t.db"
    with Store(db) as store:
        store.init()
        store.insert_many(Memory, [{"content": f"{i}", "agent_id": "a", "namespace": "n"}
                                   for i in range(500)])  # fmt: skip
    script = WORKER.replace("ROUNDS", str(rounds)).replace("sys.argv[3]", repr(str(db)))
    workers = Workers(script, count, tmp_path / "sync")
    for round_ in range(rounds):
        workers.release(f"round{round_}")
    results = workers.results("backups", timeout=120)
    workers.finish()

    assert [r["errors"] for r in results] == [[]] * count
    written = [Path(path) for r in results for path in r["written"]]
    assert len(written) == len(set(written)) == rounds * count
    assert sorted(written) == sorted(list_backups(db))
    assert [memory_count(path) for path in written] == [500] * len(written)
    assert partials(tmp_path) == []


def test_a_failed_backup_is_a_store_error_and_leaves_nothing(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database, but some notes\n" * 200)
    with pytest.raises(NotADatabaseError, match=re.escape(f"{text} is not a SQLite database")):
        backup_to(text, backup_name(text, reason="manual"), named_by_us=True)
    with pytest.raises(StoreError, match=re.escape("missing/copy.db: No such file or directory")):
        backup_to(text, tmp_path / "missing" / "copy.db")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.db"]


@pytest.mark.parametrize("name", ["copy.db", "tmws.db.backup-2026-11-24T041500Z-manual"])
def test_a_destination_that_exists_is_refused_whatever_its_name(name: str, tmp_path: Path) -> None:
    """A caller's name is the caller's, even one in ``backup_name``'s form: no other name is
    tried, the file there is kept, and the error is a StoreError naming it."""
    with Store(tmp_path / "tmws.db") as store:
        store.init()
        taken = tmp_path / name
        taken.write_text("keep me")
        with pytest.raises(StoreError, match=re.escape(f"{taken} already exists")):
            store.backup(taken)
    assert taken.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir() if ".backup-" in p.name) == (
        [name] if ".backup-" in name else []
    )
