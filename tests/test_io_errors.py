"""Real I/O errors: SQLite's writes and syncs failing with EIO, injected by libfiu.

Each child runs under ``fiu-run`` (Debian's fiu-utils; ``.ci/run`` installs it), which makes
a random share of ``pwrite``, ``fsync`` and ``fdatasync`` calls fail with EIO, as a failing
disk would. Nothing is mocked: the store, SQLite and the
kernel see the failure where it happens. Whatever fails, every error the child meets must
be a ``StoreError`` naming the file, and the file must afterwards hold exactly what was
reported as done: each write committed or absent, a fresh store whole or absent, an
upgrade finished or the old version with every row.

The failures are random, so each test first checks that they happened at all: a run that
met no failure (or nothing but failures) would prove nothing, and fails.
"""

import errno
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tmws_store import Memory, Store, schema
from tmws_store.encryption import KeyFileWarning, encrypt_file, key_file_path, load_or_create_key

from .helpers import (
    TMWS_TABLES,
    add_through_models,
    all_rows,
    identity,
    integrity,
    make_v1_store,
    reference_row_data,
)

pytestmark = pytest.mark.slow

FIU_RUN = shutil.which("fiu-run")

# The errno of each injected failure: what a failing disk gives. (Left to itself, libfiu picks
# any errno the call is documented to return, EBADF and EINVAL included, which no disk gives;
# a full disk, ENOSPC, is provoked for real on a small tmpfs in test_disk_full.py.)
EIO = errno.EIO

# Failure points of libfiu's POSIX wrappers and the share of calls each fails.
WRITES_FAIL = ("posix/io/rw/pwrite", 0.02)
SYNCS_FAIL = [("posix/io/sync/fsync", 0.3), ("posix/io/sync/fdatasync", 0.3)]


class Attempt(NamedTuple):
    """One attempt's end: its error (None when it got through), and whether it changed the
    file (the next attempt then starts again from the pristine copy)."""

    error: str | None
    changed: bool


def until_one_fails_and_one_succeeds(
    pristine: Path, path: Path, attempt: Callable[[], Attempt]
) -> None:
    """Run ``attempt`` on ``path``, a copy of ``pristine``, until one attempt has failed and
    one has got through (each checks the file itself); fails after 60 without both."""
    errors: list[str] = []
    succeeded = 0
    for _ in range(60):
        if not path.exists():
            path.parent.mkdir()
            shutil.copyfile(pristine, path)
        outcome = attempt()
        if outcome.error is None:
            succeeded += 1
        else:
            errors.append(outcome.error)
        if outcome.changed:
            shutil.rmtree(path.parent)
        if errors and succeeded:
            return
    assert errors, "no injected failure was met: the run proves nothing"
    assert succeeded, f"no attempt got through: {errors[:3]}"


def fiu_options(points: list[tuple[str, float]]) -> list[str]:
    """The fiu-run command line that makes each of ``points`` fail with EIO at its rate."""
    if FIU_RUN is None:
        pytest.fail("fiu-run is missing: install Debian's fiu-utils (.ci/run does)")
    command = [FIU_RUN, "-x"]
    for name, probability in points:
        command += ["-c", f"enable_random name={name},probability={probability},failinfo={EIO}"]
    return command


def run_failing(
    script: str, points: list[tuple[str, float]], tmp_path: Path, *args: str
) -> list[Any]:
    """Run ``script`` under fiu-run with ``points`` failing; its last stdout line, as JSON."""
    done = subprocess.run(
        [*fiu_options(points), sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Any exception but a StoreError ends the child with a traceback and a non-zero status.
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes: list[Any] = json.loads(done.stdout.splitlines()[-1])
    return outcomes


def failed_and_done(outcomes: list[list[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """The failed and the successful outcomes; fails the test unless there are both."""
    failed = [o for o in outcomes if o[1] != "ok"]
    done = [o for o in outcomes if o[1] == "ok"]
    assert failed, "no injected failure was met: the run proves nothing"
    assert done, f"nothing succeeded: {failed[:3]}"
    return failed, done


def assert_named_store_errors(failed: list[list[str]], path: Path) -> None:
    for _, kind, message in failed:
        assert kind == "StorageFullError", (kind, message)
        assert str(path) in message, message
        assert "disk" in message, message


WRITER = """
import json, sys
from tmws_store import Memory, Store, StoreError

outcomes = []
with Store(sys.argv[1]) as store:
    for i in range(int(sys.argv[2])):
        key = f"write-{i:04d}"
        values = {"id": key, "content": key, "agent_id": "athena", "namespace": "team",
                  "tags": [i], "context": {"i": i}}
        try:
            if i % 2:
                with store.session() as session:
                    session.add(Memory(**values))
            else:
                store.insert_many(Memory, [values])
        except StoreError as exc:
            outcomes.append([key, type(exc).__name__, str(exc)])
        else:
            outcomes.append([key, "ok"])
print(json.dumps(outcomes))
"""


def test_writes_on_a_failing_disk_are_committed_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()  # made before the faults: the child starts warm, writing nothing
    outcomes = run_failing(WRITER, [WRITES_FAIL, *SYNCS_FAIL], tmp_path, str(path), "300")
    failed, done = failed_and_done(outcomes)
    assert_named_store_errors(failed, path)

    # Read back with no fault: a whole file holding exactly the writes reported as done.
    assert integrity(path) == "ok"
    con = sqlite3.connect(path)
    try:
        stored = {key for (key,) in con.execute("SELECT id FROM memories")}
    finally:
        con.close()
    assert stored == {key for key, *_ in done}
    with Store(path) as store:
        assert store.verify().ok
        store.insert_many(Memory, [{"content": "after", "agent_id": "a", "namespace": "n"}])


CREATOR = """
import json, sys
from pathlib import Path
from tmws_store import Store, StoreError

outcomes = []
for i in range(int(sys.argv[2])):
    path = Path(sys.argv[1]) / f"store-{i:02d}" / "tmws.db"
    path.parent.mkdir()
    try:
        with Store(path) as store:
            store.init()
    except StoreError as exc:
        outcomes.append([str(path), type(exc).__name__, str(exc)])
    else:
        outcomes.append([str(path), "ok"])
print(json.dumps(outcomes))
"""


def test_a_fresh_store_on_a_failing_disk_is_whole_or_made_whole_by_the_next_start(
    tmp_path: Path,
) -> None:
    stores = tmp_path / "stores"
    stores.mkdir()
    outcomes = run_failing(CREATOR, [("posix/io/rw/pwrite", 0.05), *SYNCS_FAIL], tmp_path,
                           str(stores), "30")  # fmt: skip
    failed, done = failed_and_done(outcomes)
    for where, *_ in done:
        path = Path(where)
        assert identity(path) == (schema.APPLICATION_ID, schema.SCHEMA_VERSION)
        with Store(path) as store:
            assert store.verify().ok
    for where, kind, message in failed:
        path = Path(where)
        assert kind == "StorageFullError", (kind, message)
        assert str(path) in message, message
        # No half-made schema: no file, or one with no table or all of them.
        if path.exists():
            assert integrity(path) == "ok"
            tables = _tables(path)
            assert not tables or tables >= TMWS_TABLES, sorted(tables)
        # The next start, on a sound disk, makes it a whole current store.
        with Store(path) as store:
            store.init()
            assert store.verify().ok
        assert not [p.name for p in path.parent.iterdir() if ".partial" in p.name]


UPGRADER = """
import json, sys
from tmws_store import Store, StoreError

try:
    with Store(sys.argv[1]) as store:
        store.init()
except StoreError as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
else:
    print(json.dumps(["ok"]))
"""

# An upgrade writes a backup, many pages and several syncs: fewer of them fail, or no attempt
# would ever get through.
UPGRADE_FAILS = [("posix/io/rw/pwrite", 0.005), ("posix/io/sync/fsync", 0.1),
                 ("posix/io/sync/fdatasync", 0.1)]  # fmt: skip


def test_an_upgrade_on_a_failing_disk_finishes_or_leaves_version_1_with_every_row(
    tmp_path: Path,
) -> None:
    """One attempt per child, the file checked after each: whole, at version 1 or current, with
    every row, and any backup a whole copy. Until one attempt failed and one got through."""
    (tmp_path / "pristine").mkdir()
    pristine = make_v1_store(tmp_path / "pristine" / "tmws.db")
    with Store(pristine) as store:
        add_through_models(store, reference_row_data(tmp_path / "reference"))
    before = all_rows(pristine, set(TMWS_TABLES))
    path = tmp_path / "work" / "tmws.db"

    def attempt() -> Attempt:
        kind, *message = run_failing(UPGRADER, UPGRADE_FAILS, tmp_path, str(path))
        assert integrity(path) == "ok"
        assert identity(path) in {
            (schema.APPLICATION_ID, 1),
            (schema.APPLICATION_ID, schema.SCHEMA_VERSION),
        }
        assert all_rows(path, set(TMWS_TABLES)) == before
        for backup in path.parent.glob("tmws.db.backup-*"):
            assert ".partial" not in backup.name, backup.name
            assert integrity(backup) == "ok"
            assert identity(backup) == (schema.APPLICATION_ID, 1)
            assert all_rows(backup, set(TMWS_TABLES)) == before
        if kind != "ok":
            assert_named_store_errors([["", kind, *message]], path)
            return Attempt(message[0], changed=False)
        assert identity(path) == (schema.APPLICATION_ID, schema.SCHEMA_VERSION)
        with Store(path) as store:
            assert store.verify().ok
        return Attempt(None, changed=True)

    until_one_fails_and_one_succeeds(pristine, path, attempt)


BACKER = """
import json, sys
from tmws_store import Store, StoreError

try:
    made = Store(sys.argv[1]).backup()
except StoreError as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
else:
    print(json.dumps(["ok", str(made)]))
"""


@pytest.mark.parametrize("point", ["posix/io/rw/pwrite", "posix/io/sync/fsync"])
def test_a_backup_the_disk_fails_to_write_is_refused_and_leaves_no_copy(
    point: str, tmp_path: Path
) -> None:
    """Every write (or every sync) fails: a StorageFullError naming the store says the disk
    failed, no copy or temporary file is left, and the store is unchanged. (With every
    pwrite failing, the first to fail is the source's shared-memory file growing, so the
    error names the source; with every fsync failing, it is the finished copy's.)"""
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
        store.insert_many(Memory, [{"content": "kept", "agent_id": "a", "namespace": "n"}])
    before = all_rows(path, {"memories"})
    kind, message = run_failing(BACKER, [(point, 1.0)], tmp_path, str(path))
    assert kind == "StorageFullError", message
    assert "backup" in message and str(path) in message, message
    assert "I/O error" in message.replace("Input/output", "I/O"), message
    assert "full" not in message, message  # a failing disk, not a full one
    left = {p.name for p in tmp_path.iterdir()} - {"tmws.db", "tmws.db-wal", "tmws.db-shm"}
    assert not left, left
    assert all_rows(path, {"memories"}) == before
    assert integrity(path) == "ok"


# A conversion writes a backup and a whole new file (about 1,300 pwrites for an empty store):
# fewer still, or one attempt in twenty gets through.
CONVERSION_FAILS = [("posix/io/rw/pwrite", 0.0005), ("posix/io/sync/fsync", 0.05),
                    ("posix/io/sync/fdatasync", 0.05)]  # fmt: skip


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_a_conversion_on_a_failing_disk_leaves_the_old_file_or_the_new_one(
    command: str, tmp_path: Path
) -> None:
    """``tmws-store encrypt``/``decrypt`` under random EIO, one attempt per child: each ends
    with exit status 0, or 2 and a StorageFullError naming the file (never a traceback); the
    store is then the old file, untouched, or the converted one, with every row; no temporary
    file is left."""
    pristine = tmp_path / "pristine.db"
    with Store(pristine) as store:
        store.init()
        store.insert_many(Memory, [{"content": f"m{i}", "agent_id": "a", "namespace": "n"}
                                   for i in range(500)])  # fmt: skip
    with pytest.warns(KeyFileWarning):
        key = load_or_create_key(key_file_path())
    if command == "decrypt":
        encrypt_file(pristine, key, busy_timeout=5)
    secret = key_file_path().read_text()
    old_key, new_key = (secret, None) if command == "decrypt" else (None, secret)
    old_bytes = pristine.read_bytes()
    path = tmp_path / "work" / "tmws.db"

    def attempt() -> Attempt:
        done = run_command_failing([command, "--db", str(path), "--json"], CONVERSION_FAILS)
        assert done.returncode in (0, 2), done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        is_old = path.read_bytes() == old_bytes
        with Store(path, key=old_key if is_old else new_key) as store:
            assert store.verify().ok
            assert store.status(rows=True).rows["memories"] == 500
        assert not [p.name for p in path.parent.iterdir() if ".partial" in p.name]
        if done.returncode == 0:
            assert not is_old
            return Attempt(None, changed=True)
        error = json.loads(done.stdout)["error"]
        assert error["type"] == "StorageFullError", error
        assert str(path) in error["message"], error
        # Failing only to sync the folder after the rename, it says the file was converted.
        assert is_old or "was converted" in error["message"], error
        return Attempt(error["message"], changed=not is_old)

    until_one_fails_and_one_succeeds(pristine, path, attempt)


KEY_MAKER = """
import json, sys
from tmws_store import Store, StoreError

try:
    Store(sys.argv[1], encrypted=True).init()
except StoreError as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
else:
    print(json.dumps(["ok"]))
"""


def test_a_key_file_the_disk_fails_to_sync_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    """The new key file's sync fails: a StorageFullError names it, and neither a key file nor
    its temporary file nor a store is left (a store keyed by a key never saved is lost)."""
    path = tmp_path / "tmws.db"
    kind, message = run_failing(KEY_MAKER, [("posix/io/sync/fsync", 1.0)], tmp_path, str(path))
    key_file = key_file_path()
    assert kind == "StorageFullError", message
    assert f"cannot write the key file {key_file}" in message, message
    assert not path.exists()
    assert not key_file.parent.exists() or not list(key_file.parent.iterdir())


def test_a_key_file_whose_folder_fails_to_sync_is_kept_and_used_next_time(
    tmp_path: Path,
) -> None:
    """Half the fsyncs fail, until one fails after the key file got its name: the error says
    it was written, and the next start encrypts the store with that very key."""
    path = tmp_path / "tmws.db"
    key_file = key_file_path()
    for _ in range(60):
        kind, *rest = run_failing(KEY_MAKER, [("posix/io/sync/fsync", 0.5)], tmp_path, str(path))
        if kind != "ok":
            assert kind == "StorageFullError", rest  # the key file's or the new store's sync
            if "was written" in rest[0]:
                break
        shutil.rmtree(key_file.parent, ignore_errors=True)
        for made in tmp_path.glob("tmws.db*"):
            made.unlink()
    else:
        pytest.fail("no run failed after the key file got its name")
    assert kind == "StorageFullError", rest
    assert f"the key file {key_file} was written, but its folder could not be synced" in rest[0]
    assert not path.exists()
    kept = key_file.read_text()
    with Store(path, encrypted=True) as store:  # no warning: no new key is made
        store.init()
    assert key_file.read_text() == kept
    with Store(path, key=kept) as store:
        assert store.verify().ok


def run_command_failing(
    args: list[str], points: list[tuple[str, float]]
) -> "subprocess.CompletedProcess[str]":
    """``python -m tmws_store ARGS`` under fiu-run with ``points`` failing."""
    return subprocess.run(
        [*fiu_options(points), sys.executable, "-m", "tmws_store", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_backup_whose_folder_fails_to_sync_says_it_was_written(tmp_path: Path) -> None:
    """Half the fsyncs fail: the copy's own (nothing is named: the copy is removed) or the
    folder's after the copy got its name (it is whole and stays, and the error says so)."""
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    seen: set[str] = set()
    for _ in range(60):
        kind, *rest = run_failing(BACKER, [("posix/io/sync/fsync", 0.5)], tmp_path, str(path))
        made = list(tmp_path.glob("tmws.db.backup-*"))
        if kind == "ok":
            seen.add("ok")
        elif made:
            assert kind == "StorageFullError", rest
            assert f"the backup {made[0]} of {path} was written whole" in rest[0], rest
            assert integrity(made[0]) == "ok"
            seen.add("named, folder not synced")
        else:
            assert kind == "StorageFullError", rest
            assert "the incomplete copy was removed" in rest[0], rest
            seen.add("not named")
        for backup in made:
            backup.unlink()
        if len(seen) == 3:
            break
    assert seen == {"ok", "named, folder not synced", "not named"}


def _tables(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {
            name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    finally:
        con.close()
