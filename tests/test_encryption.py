"""Encryption at rest (#18): SQLCipher files keyed from the key file or by the caller.

Every test reads the real bytes on disk: the canary written through the store must never
be in the file, its -wal or a backup, and every refusal leaves the file byte for byte as
it was (sha256 before and after).
"""

import asyncio
import json
import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select

from tests._procs import INIT_IMPORTS, Workers
from tests.helpers import (
    REF34,
    all_rows,
    copy_reference,
    file_digest,
    make_v1_store,
    run_cli,
    run_sql,
)
from tmws_store import Agent, Memory, Store
from tmws_store.backends.sqlite.backup import remove_partial_backups
from tmws_store.cli import main
from tmws_store.encryption import (
    DatabaseKey,
    KeyFileWarning,
    encrypt_file,
    key_file_path,
    load_or_create_key,
)
from tmws_store.errors import (
    EncryptedFileError,
    PlainFileError,
    UniqueViolationError,
    WrongKeyError,
)

# Every SQLCipher connection derives its key (PBKDF2, 256,000 iterations: 0.1-0.5 s here), so
# these tests belong to the full run, not the everyday loop.
pytestmark = pytest.mark.slow

CANARY = "CANARY-7f3a-never-on-disk"
SECRET = "hunter2-caller-key-0xDEADBEEF"
SQLITE_HEADER = b"SQLite format 3\x00"


def add_canary(store: Store, count: int = 1) -> None:
    with store.session() as session:
        for i in range(count):
            session.add(Memory(content=f"{CANARY} {i}", agent_id="athena", namespace="n"))


def contents(store: Store) -> list[str]:
    with store.session(readonly=True) as session:
        return sorted(m.content for m in session.exec(select(Memory)).all())


def assert_no_canary(*paths: Path) -> None:
    for path in paths:
        assert path.is_file(), path
        assert CANARY.encode() not in path.read_bytes(), f"the canary is readable in {path}"


def plain_sqlite_cannot_read(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="not a database"):
            con.execute("SELECT count(*) FROM sqlite_master").fetchall()
    finally:
        con.close()


def encrypted_store(path: Path, *, rows: int = 1) -> Path:
    """A store file encrypted with SECRET, holding ``rows`` canary memories; closed."""
    with Store(path, key=SECRET) as store:
        store.init()
        add_canary(store, rows)
    return path


# --- the key file -------------------------------------------------------------------------


def test_first_encrypted_store_creates_a_private_key_file_and_warns(tmp_path: Path) -> None:
    key_file = key_file_path()
    assert not key_file.exists()
    with pytest.warns(KeyFileWarning, match="lost key means"):
        store = Store(tmp_path / "e.db", encrypted=True)
    with store:
        store.init()
        add_canary(store)
    text = key_file.read_text()
    assert len(text) == 64 and int(text, 16) >= 0  # 256 bits as hex, as TMWS writes it
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    # The next store reads the same key: no new file, no warning, the rows are there.
    with Store(tmp_path / "e.db", encrypted=True) as again:
        assert again.init().action == "current"
        assert contents(again) == [f"{CANARY} 0"]
    assert key_file.read_text() == text


# A child killed while creating the key file: after writing the key to its temporary file,
# before linking it to its name (publish, in the backup module, is where it dies).
_KILLED_WHILE_CREATING_THE_KEY = """
import os, signal
from tmws_store import encryption
from tmws_store.backends.sqlite import backup

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

backup.publish = die
encryption.load_or_create_key(encryption.key_file_path())
"""


def test_a_key_file_creation_killed_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    key_file = key_file_path()
    child = subprocess.run([sys.executable, "-c", _KILLED_WHILE_CREATING_THE_KEY], timeout=60)
    assert child.returncode == -signal.SIGKILL
    left = list(key_file.parent.iterdir())
    assert [p.suffix for p in left] == [".partial"] and not key_file.exists()

    with pytest.warns(KeyFileWarning), Store(tmp_path / "e.db", encrypted=True) as store:
        store.init()
    assert list(key_file.parent.iterdir()) == [key_file]


def test_environment_variable_turns_encryption_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMWS_DB_ENCRYPTION_ENABLED", "true")
    path = tmp_path / "e.db"
    with pytest.warns(KeyFileWarning), Store(path) as store:
        store.init()
    assert path.read_bytes()[:16] != SQLITE_HEADER
    plain_sqlite_cannot_read(path)


def test_a_callers_key_is_never_shown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = encrypted_store(tmp_path / "e.db")
    store = Store(path, key=SECRET)
    wrong = Store(path, key=SECRET + "-wrong")
    with pytest.raises(WrongKeyError) as refused:
        wrong.init()
    shown = [repr(store), repr(store.location), str(store.location), repr(store.location.key)]
    shown += [str(refused.value), caplog.text]
    assert all(SECRET not in text for text in shown)
    assert "the key given" in str(refused.value)
    store.close()


# --- on disk: the canary ------------------------------------------------------------------


def test_canary_is_in_no_byte_of_the_file_its_wal_or_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with Store(path, key=SECRET) as store:
        store.init()
        add_canary(store, 50)
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 0  # the rows are in the -wal while the store is open
        assert_no_canary(path, wal)
        backup = store.backup()
        assert_no_canary(backup)
    assert_no_canary(path)
    plain_sqlite_cannot_read(path)
    plain_sqlite_cannot_read(backup)
    # The backup is the store's, under the same key.
    with Store(backup, key=SECRET) as copy:
        assert copy.verify().ok
        assert len(contents(copy)) == 50
    # The check itself sees a canary where there is one: in a plain store's file.
    with Store(tmp_path / "plain.db") as plain:
        plain.init()
        add_canary(plain)
    assert CANARY.encode() in Path(f"{tmp_path / 'plain.db'}").read_bytes()


# --- refusals, file untouched ---------------------------------------------------------------


def test_wrong_key_is_refused_and_the_file_left_untouched(tmp_path: Path) -> None:
    path = encrypted_store(tmp_path / "e.db", rows=3)
    before = file_digest(path)
    wrong = Store(path, key="not-the-key")
    for attempt in (wrong.init, wrong.verify, wrong.status, wrong.backup):
        with pytest.raises(WrongKeyError, match=f"{path} cannot be decrypted with the key given"):
            attempt()
    wrong.close()
    assert file_digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.db"]


def test_wrong_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = encrypted_store(tmp_path / "e.db", rows=3)
    key_file = key_file_path()
    with pytest.warns(KeyFileWarning):
        load_or_create_key(key_file)  # another key than the file's
    before = file_digest(path)
    with Store(path, encrypted=True) as store, pytest.raises(WrongKeyError) as refused:
        store.init()
    assert f"key file {key_file}" in str(refused.value)
    assert file_digest(path) == before


def test_missing_key_file_is_refused_and_no_new_key_made(tmp_path: Path) -> None:
    with pytest.warns(KeyFileWarning), Store(tmp_path / "e.db", encrypted=True) as store:
        store.init()
        add_canary(store, 3)
    key_file = key_file_path()
    key_file.unlink()
    before = file_digest(tmp_path / "e.db")
    with pytest.raises(WrongKeyError, match=f"the key file {key_file} does not exist"):
        Store(tmp_path / "e.db", encrypted=True)
    assert not key_file.exists()  # a new key could never open this file
    assert file_digest(tmp_path / "e.db") == before


def test_encrypting_a_missing_file_is_refused_before_a_key_file_is_made(tmp_path: Path) -> None:
    missing = tmp_path / "mistyped.db"
    done = run_cli("encrypt", "--db", str(missing), "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "StoreError"
    assert f"{missing} does not exist" in error["message"]
    assert not key_file_path().exists()
    assert not missing.exists()


def test_encrypted_file_opened_without_encryption_is_refused_untouched(tmp_path: Path) -> None:
    path = encrypted_store(tmp_path / "e.db", rows=3)
    before = file_digest(path)
    plain = Store(path)
    for attempt in (plain.init, plain.verify, plain.status):
        with pytest.raises(EncryptedFileError, match="TMWS_DB_ENCRYPTION_ENABLED=true"):
            attempt()
    assert file_digest(path) == before


def test_plain_file_opened_with_encryption_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Store(path) as store:
        store.init()
        add_canary(store, 3)
    before = file_digest(path)
    with pytest.raises(PlainFileError, match="tmws-store encrypt"):
        Store(path, key=SECRET).init()
    # Encryption from the environment, no key file yet: refused before one is made.
    with pytest.raises(PlainFileError, match="tmws-store encrypt"):
        Store(path, encrypted=True)
    assert not key_file_path().exists()
    assert file_digest(path) == before


# --- everything else holds on an encrypted file -------------------------------------------


def test_init_verify_status_and_sessions_on_an_encrypted_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.db"
    with Store(path, key=SECRET) as store:
        assert store.init().action == "created"
        assert store.init().action == "current"
        add_canary(store)

        async def async_round_trip() -> list[str]:
            async with store.async_session() as session:
                session.add(Memory(content=f"{CANARY} async", agent_id="a", namespace="n"))
            async with store.async_session(readonly=True) as session:
                return sorted(m.content for m in (await session.exec(select(Memory))).all())

        assert asyncio.run(async_round_trip()) == [f"{CANARY} 0", f"{CANARY} async"]
        report = store.verify()
        assert report.ok and report.journal_mode == "wal"
        status = store.status(rows=True)
        assert status.rows is not None and status.rows["memories"] == 2
    assert_no_canary(path)
    with pytest.warns(KeyFileWarning):
        key = load_or_create_key(key_file_path())
    monkeypatch.setenv("TMWS_DB_ENCRYPTION_ENABLED", "true")
    path2 = tmp_path / "k.db"
    assert main(["init", "--db", str(path2)]) == 0
    assert main(["status", "--db", str(path2)]) == 0
    assert (
        f"encryption:     encrypted (SQLCipher, key file {key.source})" in capsys.readouterr().out
    )
    assert main(["status", "--db", str(path2), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["encrypted"] is True
    monkeypatch.delenv("TMWS_DB_ENCRYPTION_ENABLED")
    plain = tmp_path / "plain.db"
    assert main(["init", "--db", str(plain), "--quiet"]) == 0
    assert main(["status", "--db", str(plain), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["encrypted"] is False


def test_migration_from_v1_on_an_encrypted_file_keeps_its_backup_encrypted(
    tmp_path: Path,
) -> None:
    path = make_v1_store(tmp_path / "v1.db")
    run_sql(
        path,
        "INSERT INTO memories (id, content, agent_id, namespace, embedding_model, "
        "embedding_dimension, access_level, shared_with_agents, context, tags, "
        "importance_score, relevance_score, access_count, learning_weight, pattern_ids, "
        f"version) VALUES ('00000000-0000-0000-0000-000000000001', '{CANARY}', 'a', 'n', "
        "'m', 1, 'PRIVATE', '[]', '{}', '[]', 0.5, 0.5, 0, 1.0, '[]', 1)",
    )
    plain_backup = encrypt_file(path, DatabaseKey(SECRET), busy_timeout=5)
    assert CANARY.encode() in plain_backup.read_bytes()  # the conversion's backup: plain
    plain_backup.unlink()
    with Store(path, key=SECRET) as store:
        report = store.init()
        assert report.action == "upgraded" and report.backup is not None
        assert store.verify().ok
        assert contents(store) == [CANARY]
    assert_no_canary(path, report.backup)
    plain_sqlite_cannot_read(report.backup)


# --- tmws-store encrypt / decrypt ---------------------------------------------------------


def test_encrypt_then_decrypt_keeps_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.db"
    with Store(path) as store:
        store.init()
        add_canary(store, 20)
    tables = {"memories", "agents"}
    rows = all_rows(path, tables)
    assert main(["encrypt", "--db", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "is NOT encrypted" in out
    assert err.startswith("tmws-store: warning: created the encryption key file")  # one line
    assert_no_canary(path)
    assert not Path(f"{path}-wal").exists()
    with Store(path, encrypted=True) as store:
        assert store.verify().ok and len(contents(store)) == 20
    assert main(["decrypt", "--db", str(path)]) == 0
    assert path.read_bytes()[:16] == SQLITE_HEADER
    assert all_rows(path, tables) == rows
    with Store(path) as store:
        assert store.verify().ok


def _wait_for(reached: "Callable[[], bool]", proc: "subprocess.Popen[bytes]") -> None:
    """Poll until ``reached`` or the process ends: the kill comes at a named point."""
    deadline = time.monotonic() + 120
    while not reached() and proc.poll() is None:
        assert time.monotonic() < deadline, "the conversion never reached the point"
        time.sleep(0.0005)


def _named(folder: Path, *endings: str) -> bool:
    return any(p.name.endswith(endings) for p in folder.iterdir())


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_kill_during_conversion_leaves_the_old_file_or_the_new_one(
    tmp_path: Path, command: str
) -> None:
    pristine = tmp_path / "pristine.db"
    with Store(pristine) as store:
        store.init()
        store.insert_many(
            Memory,
            ({"content": f"{CANARY} {i}", "agent_id": "a", "namespace": "n"} for i in range(5000)),
        )
    with pytest.warns(KeyFileWarning):
        key = load_or_create_key(key_file_path())
    secret = key_file_path().read_text()
    if command == "decrypt":
        encrypt_file(pristine, key, busy_timeout=5)
    old_secret, new_secret = (secret, None) if command == "decrypt" else (None, secret)
    old_digest = file_digest(pristine)
    work = tmp_path / "work"
    work.mkdir()
    path = work / "t.db"

    def rows_with(secret: str | None) -> int:
        with Store(path, key=secret, encrypted=secret is not None) as store:
            return len(contents(store))

    def backup_written() -> bool:
        return any(".backup-" in p.name for p in work.iterdir())

    points: dict[str, Callable[[], bool]] = {
        "backup started": lambda: _named(work, ".partial"),
        "backup written": backup_written,
        "export started": lambda: backup_written() and _named(work, ".partial"),
        "converted copy in WAL mode": lambda: _named(work, ".partial-wal"),
        "never (runs to the end)": lambda: False,
    }
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    outcomes = []
    for point, reached in points.items():
        for leftover in work.iterdir():
            leftover.unlink()
        path.write_bytes(pristine.read_bytes())
        proc = subprocess.Popen(
            [sys.executable, "-m", "tmws_store", command, "--db", str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(reached, proc)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        remove_partial_backups(work)  # as the next init() or backup does
        assert not _named(work, ".partial", ".partial-wal", ".partial-shm"), point
        if file_digest(path) == old_digest:
            outcomes.append("old")
            assert rows_with(old_secret) == 5000, point
        else:
            outcomes.append("new")
            assert rows_with(new_secret) == 5000, point
    assert outcomes[-1] == "new" and "old" in outcomes


def test_pytest_fixture_makes_encrypted_stores(tmws_store_factory: "Callable[..., Store]") -> None:
    store = tmws_store_factory("secret", encrypted=True)
    add_canary(store)
    assert contents(store) == [f"{CANARY} 0"]
    assert store.location.key is not None
    assert not key_file_path().exists()  # keyed with a key of its own, not the user's
    assert_no_canary(store.path)
    plain_sqlite_cannot_read(store.path)


def test_constraint_failures_are_named_as_on_a_plain_file(tmp_path: Path) -> None:
    """SQLCipher's driver reports a bare SQLITE_CONSTRAINT; the store still says which."""
    with Store(tmp_path / "e.db", key=SECRET) as store:
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
        with pytest.raises(UniqueViolationError, match="agents"), store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Again"))

        async def duplicate() -> None:
            async with store.async_session() as session:
                session.add(Agent(agent_id="athena", display_name="Async"))

        with pytest.raises(UniqueViolationError, match="agents"):
            asyncio.run(duplicate())
        assert store.verify().ok


# Each worker, released with the others at the barrier, creates (or opens) the encrypted store
# and writes one row. Forked from one child that imported the models and SQLCipher's driver:
# six separate processes that start init() at the same moment.
_INIT_AND_WRITE = """
from tmws_store import Memory, Store
path, key, content = json.loads((SYNC / "args.json").read_text())
wait_for("start")
with Store(path, key=key) as store:
    action = store.init().action
    with store.session() as session:
        session.add(Memory(content=f"{content} {WORKER}", agent_id="a", namespace="n"))
report("done", action)
"""


def test_processes_racing_to_create_an_encrypted_file_make_one_store(tmp_path: Path) -> None:
    """Each process keys its connection before any of them has written the salt."""
    path, sync = tmp_path / "e.db", tmp_path / "sync"
    sync.mkdir()
    (sync / "args.json").write_text(json.dumps([str(path), SECRET, CANARY]))
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    preload = f"{INIT_IMPORTS}, sqlcipher3.dbapi2"
    workers = Workers(_INIT_AND_WRITE, 6, sync, env, preload=preload)
    workers.release("start")
    actions = workers.results("done")
    workers.finish()
    assert sorted(actions).count("created") == 1
    with Store(path, key=SECRET) as store:
        assert store.verify().ok
        assert contents(store) == [f"{CANARY} {i}" for i in range(6)]
    assert_no_canary(path)


def test_copy_out_of_and_into_an_encrypted_file(tmp_path: Path) -> None:
    from tmws_store.transfer import copy_store

    source = encrypted_store(tmp_path / "e.db", rows=30)
    before = file_digest(source)
    with Store(source, key=SECRET) as encrypted, Store(tmp_path / "plain.db") as plain:
        copy_store(encrypted, plain)
        assert len(contents(plain)) == 30
    assert file_digest(source) == before  # a copy's source is only read
    other = "another-key"
    with Store(tmp_path / "plain.db") as plain, Store(tmp_path / "e2.db", key=other) as again:
        copy_store(plain, again)
        assert len(contents(again)) == 30
    assert_no_canary(tmp_path / "e2.db")
    tables = {"memories"}
    # The same rows arrived, read back through each file's own key.
    with Store(tmp_path / "e2.db", key=other) as again:
        assert again.verify().ok
    assert all_rows(tmp_path / "plain.db", tables)["memories"]


def test_an_encrypted_tmws_file_is_adopted_with_an_encrypted_backup(tmp_path: Path) -> None:
    path = copy_reference(REF34, tmp_path)
    run_sql(path, f"UPDATE agents SET display_name = '{CANARY}'")
    encrypt_file(path, DatabaseKey(SECRET), busy_timeout=5).unlink()  # its plain backup
    with Store(path, key=SECRET) as store:
        report = store.init()
        assert report.action == "adopted" and report.backup is not None
        assert store.verify().ok
    assert_no_canary(path, report.backup)
    plain_sqlite_cannot_read(report.backup)
