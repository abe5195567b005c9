"""Files refused before the first write: triggers or views we did not make, and damage.

A trigger's SQL runs inside the store's own writes whatever ``trusted_schema`` says, so a
TMWS file carrying one is not adopted or upgraded; a damaged file is not written into, backed
up or chmod'ed. Every test works on copies of the shared reference files, altered for real
(SQL through plain sqlite3, bytes written over a page, a file cut short), and checks that a
refused file is byte-for-byte and mode-for-mode what it was, with nothing made beside it.
"""

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import (
    SCHEMA_VERSION,
    ForeignDatabaseError,
    NewerSchemaError,
    NotADatabaseError,
    Store,
    schema,
)
from tmws_store.backends.sqlite import startup
from tmws_store.cli import main
from tmws_store.migrations import MIGRATIONS, Migration
from tmws_store.paths import resolve_location

from .helpers import (
    REF34,
    REF42,
    add_mood,
    altered_copy,
    copy_reference,
    file_digest,
    make_v1_store,
    run_sql,
    trace_start_up,
)

REFERENCES = pytest.mark.parametrize("reference", [REF42, REF34], ids=["42-tables", "34-tables"])

EVIL = "CREATE TRIGGER evil AFTER UPDATE ON agents BEGIN UPDATE memories SET content=''; END"
RENAME_ONE_AGENT = (
    "UPDATE agents SET display_name = 'renamed' WHERE rowid = (SELECT min(rowid) FROM agents)"
)


def state(path: Path) -> tuple[str, int, list[str]]:
    """The file's digest and mode, and every name in its folder: all a refusal must keep."""
    return file_digest(path), path.stat().st_mode, sorted(p.name for p in path.parent.iterdir())


def memories_with_content(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM memories WHERE content <> ''").fetchone()[0]
    finally:
        con.close()


# --- triggers and views we did not make ----------------------------------------------------


@REFERENCES
def test_a_trigger_that_empties_memories_is_refused_untouched(
    reference: Path, tmp_path: Path
) -> None:
    # The control: on an untouched copy, renaming one agent really empties every memory.
    (tmp_path / "control").mkdir()
    control = altered_copy(reference, tmp_path / "control", EVIL)
    assert memories_with_content(control) > 0
    run_sql(control, RENAME_ONE_AGENT)
    assert memories_with_content(control) == 0

    (tmp_path / "crafted").mkdir()
    path = altered_copy(reference, tmp_path / "crafted", EVIL)
    path.chmod(0o644)  # adoption would tighten it to 0600
    before = state(path)
    with pytest.raises(ForeignDatabaseError, match="trigger evil on agents") as refused:
        Store(path).init()
    message = str(refused.value)
    assert str(path) in message and "left the file untouched" in message
    assert "\n" not in message
    assert state(path) == before  # bytes, mode, and no -wal, -shm or backup beside it


def test_a_view_we_did_not_make_is_refused_untouched(tmp_path: Path) -> None:
    path = altered_copy(REF34, tmp_path, "CREATE VIEW memory_feed AS SELECT content FROM memories")
    before = state(path)
    with pytest.raises(ForeignDatabaseError, match=r"view memory_feed, which neither TMWS"):
        Store(path).init()
    assert state(path) == before


def adopted_copy(reference: Path, folder: Path) -> Path:
    """A copy of ``reference`` adopted by the store: stamped, current, in WAL mode."""
    path = copy_reference(reference, folder)
    with Store(path) as store:
        assert store.init().action == "adopted"
    for backup in folder.glob("*.backup-*"):
        backup.unlink()  # so the tests see any new one
    return path


def test_a_stamped_file_given_a_trigger_is_refused_on_upgrade(tmp_path: Path) -> None:
    path = run_sql(adopted_copy(REF42, tmp_path), EVIL)
    before = state(path)
    chain = (*MIGRATIONS, Migration(SCHEMA_VERSION + 1, add_mood))
    location = resolve_location(path)
    with pytest.raises(ForeignDatabaseError, match="trigger evil on agents"):
        startup.initialise(location, busy_timeout=5, migrations=chain, target=SCHEMA_VERSION + 1)
    assert state(path) == before  # no migration, no backup, user_version unchanged


def test_verify_names_a_trigger_added_to_a_current_store(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    path = run_sql(adopted_copy(REF42, tmp_path), EVIL)
    # The warm path still reads the two header fields and nothing else (from the file's
    # bytes, without SQL): it does not look.
    statements = trace_start_up(monkeypatch)
    with Store(path) as store:
        assert store.init().action == "current"
        report = store.verify()
    assert statements == []
    assert report.quick_check == ["ok"] and not report.ok
    assert report.foreign_triggers_and_views == ["trigger evil on agents"]
    assert report.problems() == ["trigger evil on agents: not made by TMWS or tmws_store"]

    capsys.readouterr()
    assert main(["verify", "--db", str(path)]) == 1
    out = capsys.readouterr().out
    assert "trigger evil on agents: not made by TMWS or tmws_store\n" in out
    assert "until they are dropped" in out


# --- damaged files -------------------------------------------------------------------------


def overwrite_page(path: Path, page: int, seed: int) -> None:
    """Write random bytes over page ``page`` (1-based) of the file, as a failing disk might."""
    con = sqlite3.connect(path)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    with path.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(random.Random(seed).randbytes(page_size))


def root_page(path: Path, name: str) -> int:
    con = sqlite3.connect(path)
    try:
        (page,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,))
        return page[0]
    finally:
        con.close()


def quick_check(path: Path) -> list[str]:
    """What plain sqlite3's quick_check says, or the error that stopped it."""
    con = sqlite3.connect(path)
    try:
        return [row[0] for row in con.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        return [f"{exc.sqlite_errorname}: {exc}"]
    finally:
        con.close()


# The memories table's only page (quick_check stops on it: SQLITE_CORRUPT) and a page of one
# of its indexes (quick_check reports it and goes on).
DAMAGED_PAGES = {
    "table page": ("memories", "SQLITE_CORRUPT: database disk image is malformed"),
    "index page": ("ix_memories_namespace", "btreeInitPage() returns error code 11"),
}


@REFERENCES
@pytest.mark.parametrize("where", DAMAGED_PAGES)
def test_a_damaged_page_is_refused_before_any_write(
    reference: Path, where: str, tmp_path: Path
) -> None:
    path = copy_reference(reference, tmp_path)
    name, finding = DAMAGED_PAGES[where]
    overwrite_page(path, root_page(path, name), seed=len(name))
    assert finding in "\n".join(quick_check(path))  # the control: SQLite sees the damage
    path.chmod(0o644)  # adoption would tighten it to 0600 first thing
    before = state(path)
    with pytest.raises(NotADatabaseError, match=r"is damaged \(PRAGMA quick_check: ") as refused:
        Store(path).init()
    message = str(refused.value)
    assert str(path) in message and finding.split(": ")[-1] in message and "\n" not in message
    assert state(path) == before  # bytes and mode; no backup, no -wal


def truncated(tmp: Path) -> Path:
    """The first 3 pages of a real TMWS file, as a copy cut short leaves it."""
    path = tmp / "truncated.db"
    path.write_bytes(copy_reference(REF42, tmp).read_bytes()[: 3 * 4096])
    return path


def header_only(tmp: Path) -> Path:
    """Only the 100-byte SQLite header of a real TMWS file."""
    path = tmp / "header.db"
    path.write_bytes(copy_reference(REF34, tmp).read_bytes()[:100])
    return path


@pytest.mark.slow
@pytest.mark.parametrize("make", [truncated, header_only])
def test_a_file_cut_short_raises_not_a_database(make, tmp_path: Path) -> None:
    path = make(tmp_path)
    before = state(path)
    with pytest.raises(NotADatabaseError, match="is damaged") as refused:
        Store(path).init()
    assert str(path) in str(refused.value)
    assert state(path) == before

    result = subprocess.run(
        [sys.executable, "-m", "tmws_store", "--db", str(path), "init"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tmws-store init: {path} is damaged (")
    assert state(path) == before


# --- a trigger added while init() waits for the write lock ---------------------------------

# A child running init(), printing each statement of its connection as it starts: the parent
# knows when it has passed the first look and waits at BEGIN IMMEDIATE.
_TRACED_INIT = """
import sys
from tmws_store import Store, StoreError
from tmws_store.backends.sqlite import startup

real_connect = startup.connect

def traced(path, busy_timeout, key=None):
    con = real_connect(path, busy_timeout, key)
    con.set_trace_callback(lambda sql: print(sql, flush=True))
    return con

startup.connect = traced
try:
    print("RESULT", Store(sys.argv[1]).init().action, flush=True)
except StoreError as exc:
    print("RESULT", type(exc).__name__, exc, flush=True)
"""


def _tmws_file_in_wal_mode(tmp: Path) -> Path:
    path = copy_reference(REF34, tmp)
    run_sql(path, "PRAGMA journal_mode = WAL")  # so that our lock lets init() read meanwhile
    return path


def _v1_store(tmp: Path) -> Path:
    return make_v1_store(tmp / "tmws.db")


@pytest.mark.slow
@pytest.mark.parametrize("make", [_tmws_file_in_wal_mode, _v1_store], ids=["adopt", "upgrade"])
def test_a_trigger_added_while_init_waits_for_the_lock_is_refused(make, tmp_path: Path) -> None:
    path = make(tmp_path)
    version_before = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # the write lock init() will wait for
    child = subprocess.Popen(
        [sys.executable, "-c", _TRACED_INIT, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    seen = []
    for line in child.stdout:  # its checks before the lock found nothing; now it waits
        seen.append(line.strip())
        if line.startswith("BEGIN IMMEDIATE"):
            break
    assert any("sqlite_master" in statement for statement in seen)  # it did look first
    locker.execute(EVIL)
    locker.execute("COMMIT")
    locker.close()
    out, _ = child.communicate(timeout=60)

    result = [line for line in out.splitlines() if line.startswith("RESULT")]
    assert len(result) == 1 and "ForeignDatabaseError" in result[0], out[-2000:]
    assert "trigger evil on agents" in result[0]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == version_before
    con.close()
    assert not list(tmp_path.glob("*.backup-*"))  # refused inside the lock, before the backup


# --- refused while another process's -wal or hot -journal lies beside the file ---------------

# Writes into argv[1] and dies without closing: in WAL mode after a commit (its pages only in
# -wal), or in rollback mode half way through a transaction (a hot -journal beside a file
# already holding some of its pages: a small cache spills them).
DIE_WRITING = """
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size = 10")
con.execute(f"PRAGMA journal_mode = {sys.argv[2]}")
con.execute("PRAGMA wal_autocheckpoint = 0")
con.execute("CREATE TABLE IF NOT EXISTS filler (x)")
con.execute("BEGIN")
for _ in range(2000):
    con.execute("INSERT INTO filler VALUES (randomblob(500))")
if sys.argv[2] == "WAL":
    con.execute("COMMIT")
else:
    con.execute("UPDATE filler SET x = randomblob(600)")
os._exit(0)
"""


def die_writing(path: Path, journal_mode: str) -> None:
    subprocess.run([sys.executable, "-c", DIE_WRITING, str(path), journal_mode], check=True)


def digests(folder: Path) -> dict[str, str]:
    """Every file's digest but the WAL index (-shm), which any reader rebuilds."""
    return {p.name: file_digest(p) for p in folder.iterdir() if not p.name.endswith("-shm")}


@pytest.mark.parametrize(
    ("statements", "journal_mode", "refused"),
    [
        (["PRAGMA application_id = 1234"], "WAL", ForeignDatabaseError),
        (["PRAGMA application_id = 1234"], "DELETE", ForeignDatabaseError),
        ([f"PRAGMA application_id = {schema.APPLICATION_ID}", "PRAGMA user_version = 99"],
         "WAL", NewerSchemaError),
        (["CREATE TABLE agents (x)", "CREATE TRIGGER t AFTER INSERT ON agents BEGIN "
          "DELETE FROM agents; END"], "WAL", ForeignDatabaseError),
    ],
    ids=["other_program_wal", "other_program_hot_journal", "newer_wal", "trigger_wal"],
)  # fmt: skip
def test_a_refused_file_keeps_its_wal_or_journal_and_its_bytes(
    statements: list[str], journal_mode: str, refused: type[Exception], tmp_path: Path
) -> None:
    """The refusal used to come from a writable connection, whose reads rolled the hot
    journal back and whose close checkpointed the -wal into the file and deleted it: the
    file was changed while the message said "left it untouched"."""
    path = tmp_path / "theirs.db"
    con = sqlite3.connect(path)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    die_writing(path, journal_mode)
    left = f"{path}-wal" if journal_mode == "WAL" else f"{path}-journal"
    assert Path(left).stat().st_size > 0
    before = digests(tmp_path)
    with pytest.raises(refused, match="untouched"):
        Store(path).init()
    assert digests(tmp_path) == before
