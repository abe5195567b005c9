"""``copy_store`` and ``tmws-store copy``: every row moves, is checked, or nothing is written.

What this file proves, each against a real PostgreSQL server (tests/_postgres.py) and real
SQLite files, with no failure mocked:

- A real TMWS 2.4.18 file goes SQLite -> PostgreSQL -> SQLite with every row of every table
  equal at the value level at each hop; the old file is adopted (after a backup) on the way.
- SQLite -> SQLite works as well, so nothing in the copy is PostgreSQL's alone.
- A destination that already holds a row is refused and left as it was (SQLite and PostgreSQL).
- A row the destination refuses (a dangling foreign key, a value too long for its VARCHAR), a
  destination that changes what it stores (a trigger), and a kill -9 half way each leave the
  destination with no row at all; after the kill a second copy succeeds.
- The command prints its summary or JSON, fails with one line, draws its two progress bars on
  a terminal only, and never prints a URL's password.
"""

import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tmws_store import CopyError, Memory, Store
from tmws_store.cli import main
from tmws_store.transfer import copy_store

from ._postgres import PostgresServer, fresh_database
from .helpers import (
    TMWS_TABLES,
    agents_and_memories,
    all_empty,
    counts,
    raw_counts,
    rows_by_key,
)

# --- helpers ------------------------------------------------------------------------------


def tamper(path: Path, sql: str) -> None:
    """Change a store file behind tmws_store's back (sqlite3's default: foreign_keys OFF)."""
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA foreign_keys").fetchone() == (0,)
        assert con.execute(sql).rowcount == 1
        con.commit()
    finally:
        con.close()


def copy(source: str | Path, destination: str | Path, **kwargs: Any):
    """``copy_store`` between a path or URL and another, closing both stores."""

    def open_(where: str | Path) -> Store:
        return Store(url=str(where)) if "://" in str(where) else Store(where)

    with open_(source) as src, open_(destination) as dst:
        return copy_store(src, dst, **kwargs)


@pytest.fixture
def second_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """One more empty database on the same server."""
    with fresh_database(postgres_server) as url:
        yield url


# --- 1, 2: every row arrives --------------------------------------------------------------


def test_tmws_file_to_postgres_and_back_keeps_every_row(
    ref42_copy: Path, postgres_url: str, tmp_path: Path
) -> None:
    before = raw_counts(ref42_copy)
    assert set(before) == TMWS_TABLES

    report = copy(ref42_copy, postgres_url)

    # The TMWS file was read as it is: not adopted, so no backup was written beside it.
    assert list(ref42_copy.parent.glob(f"{ref42_copy.name}.backup-*")) == []
    assert report.rows == before and report.total == sum(before.values()) > 0
    assert report.source == str(ref42_copy) and report.destination == postgres_url

    final = tmp_path / "back.db"
    back = copy(postgres_url, final)
    assert back.rows == before

    with Store(ref42_copy) as source, Store(url=postgres_url) as pg, Store(final) as sqlite:
        expected = rows_by_key(source.engine)
        assert {name: len(rows) for name, rows in expected.items()} == before
        on_postgres = rows_by_key(pg.engine)
        assert on_postgres == expected
        assert rows_by_key(sqlite.engine) == expected
    # Spot check that the values really went through native types on PostgreSQL.
    with Store(url=postgres_url) as pg, pg.engine.connect() as conn:
        kinds = dict(
            conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'memories'"
                )
            ).all()
        )
    assert kinds["context"] == "jsonb" and kinds["created_at"] == "timestamp with time zone"


def test_sqlite_to_sqlite_keeps_every_row(ref34_copy: Path, tmp_path: Path) -> None:
    before = raw_counts(ref34_copy)
    assert len(before) == 34 and sum(before.values()) > 0
    destination = tmp_path / "copy.db"

    report = copy(ref34_copy, destination)

    # Not adopted: the 8 tables the old file lacks are copied as empty.
    assert report.rows == dict.fromkeys(TMWS_TABLES, 0) | before
    with Store(ref34_copy) as source, Store(destination) as copied:
        expected = rows_by_key(source.engine, before)  # the 34 tables the file has
        assert sum(map(len, expected.values())) == report.total > 0
        assert rows_by_key(copied.engine, before) == expected


# --- 3, 4, 5: a copy that cannot finish writes nothing -----------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_destination_holding_a_row_is_refused_and_left_alone(
    kind: str, tmp_path: Path, postgres_url: str
) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    destination = postgres_url if kind == "postgresql" else str(tmp_path / "dest.db")
    with Store(url=destination) if kind == "postgresql" else Store(destination) as dst:
        dst.init()
        with dst.session() as session:
            session.add(Memory(agent_id="zeus", namespace="olympus", content="already here"))
        before = rows_by_key(dst.engine)
    with pytest.raises(CopyError, match=r"already holds rows \(table memories\)"):
        copy(source, destination)
    with Store(url=destination) if kind == "postgresql" else Store(destination) as dst:
        assert counts(dst.engine)["memories"] == 1 and sum(counts(dst.engine).values()) == 1
        assert rows_by_key(dst.engine) == before


@pytest.mark.parametrize(
    ("sql", "sqlite_takes_it"),
    [
        ("UPDATE memories SET parent_memory_id = 'no-such-memory' WHERE content = 'memory 2'", 0),
        (f"UPDATE memories SET id = '{'x' * 40}' WHERE content = 'memory 2'", 1),
    ],
    ids=["dangling foreign key", "too long for VARCHAR(36)"],
)
def test_a_row_postgres_refuses_leaves_it_empty(
    sql: str, sqlite_takes_it: int, tmp_path: Path, postgres_url: str
) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    tamper(source, sql)
    with pytest.raises(CopyError, match="memories") as refused:
        copy(source, postgres_url)
    assert "nothing was written" in str(refused.value).lower()
    assert all_empty(postgres_url) == {}
    if sqlite_takes_it:  # SQLite ignores VARCHAR lengths: the refusal was PostgreSQL's own
        assert copy(source, tmp_path / "lenient.db").rows["memories"] == 3


def test_the_check_catches_a_destination_that_changes_a_value(
    tmp_path: Path, postgres_url: str
) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    with Store(url=postgres_url) as dst:
        dst.init()
        with dst.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE FUNCTION rename_agent() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN NEW.display_name := NEW.display_name || ' (renamed)'; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER rename_agent BEFORE INSERT ON agents "
                "FOR EACH ROW EXECUTE FUNCTION rename_agent()"
            )
    with pytest.raises(CopyError, match=r"^agents row .*column display_name arrived as") as bad:
        copy(source, postgres_url)
    assert "(renamed)" in str(bad.value)
    assert all_empty(postgres_url) == {}


# --- 6: kill -9 half way ------------------------------------------------------------------

# Copies argv[1] into argv[2], printing each progress call and dawdling, so the parent can
# kill it while the destination's transaction is open with rows in it.
SLOW_COPY = textwrap.dedent(
    """
    import sys, time
    from tmws_store import Store
    from tmws_store.transfer import copy_store

    def progress(step, done, total):
        print(step, done, total, flush=True)
        time.sleep(0.05)

    with Store(sys.argv[1]) as src, Store(url=sys.argv[2]) as dst:
        copy_store(src, dst, progress=progress)
    print("finished", flush=True)
    """
)


@pytest.mark.slow
def test_kill_9_during_the_copy_leaves_postgres_empty(tmp_path: Path, postgres_url: str) -> None:
    source = agents_and_memories(tmp_path / "source.db", memories=5000)
    with Store(url=postgres_url) as dst:
        dst.init()  # done here, so that the child's kill window is the copy alone
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_COPY, str(source), postgres_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        # Wait until the first batches of memories are in: thousands of uncommitted rows.
        line = child.stdout.readline()
        while line.startswith("copy ") and int(line.split()[1]) < 1000:
            line = child.stdout.readline()
        assert line.startswith("copy "), line + child.stderr.read()
        # The child's transaction is open and has written (it holds a transaction id).
        with Store(url=postgres_url) as watcher, watcher.engine.connect() as conn:
            writing = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                )
            ).scalar_one()
        assert writing == 1
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    assert all_empty(postgres_url) == {}
    report = copy(source, postgres_url)
    assert report.rows["memories"] == 5000 and report.rows["agents"] == 2
    with Store(source) as src, Store(url=postgres_url) as dst:
        assert counts(dst.engine) == counts(src.engine) == report.rows


# --- 7, 8: the command --------------------------------------------------------------------


def test_the_command_copies_prints_json_and_refuses_in_one_line(
    capsys, tmp_path: Path, postgres_url: str, second_postgres_url: str
) -> None:
    source = agents_and_memories(tmp_path / "source.db")

    assert main(["copy", "--from", str(source), "--to", postgres_url]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"copied 5 rows of 2 tables from {source} to {postgres_url}; "
        "every row read back and checked\n"
    )
    assert err == ""

    assert main(["copy", "--json", "--from", str(source), "--to", second_postgres_url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["from"] == str(source) and data["to"] == second_postgres_url
    assert data["rows"] == dict.fromkeys(TMWS_TABLES, 0) | {"agents": 2, "memories": 3}

    assert main(["copy", "--from", str(source), "--to", postgres_url]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("tmws-store copy: ") and "already holds rows (table agents)" in err
    with Store(url=postgres_url) as dst:
        assert counts(dst.engine)["memories"] == 3  # the refused copy changed nothing


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tmws_store", *args]


def read_all(fd: int) -> bytes:
    """Everything written to a pty's master until the last writer closed its slave end."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO on Linux once the slave side is closed everywhere
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_progress_bars_are_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    source = agents_and_memories(tmp_path / "source.db", memories=600)
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen(
            command("copy", "--from", str(source), "--to", str(tmp_path / "a.db")),
            stdout=subprocess.PIPE,
            stderr=slave,
        )
        os.close(slave)
        drawn = read_all(master).decode()
        out, _ = child.communicate(timeout=60)
    finally:
        os.close(master)
    assert child.returncode == 0, drawn
    assert "\rcopy: 100%|" in drawn and "\rcheck: 100%|" in drawn and "| 602/602 [" in drawn
    assert drawn.index("copy:") < drawn.index("check:")
    assert b"copied 602 rows of 2 tables" in out

    piped = subprocess.run(
        command("copy", "--from", str(source), "--to", str(tmp_path / "b.db")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.startswith("copied 602 rows of 2 tables")


def test_a_url_password_is_never_shown(capsys, tmp_path: Path, postgres_url: str) -> None:
    # The test server trusts every local connection, so any password gets in.
    secret_url = postgres_url.replace("://tmws@", "://tmws:sekrit@")
    assert secret_url != postgres_url
    source = agents_and_memories(tmp_path / "source.db")

    report = copy(source, secret_url)
    assert report.total == 5 and "sekrit" not in report.destination
    assert report.destination == secret_url.replace("sekrit", "***")

    for argv, status in (
        (["copy", "--from", str(source), "--to", secret_url], 2),  # refused: not empty
        (["copy", "--from", secret_url, "--to", str(tmp_path / "back.db")], 0),
        (["copy", "--json", "--from", secret_url, "--to", str(tmp_path / "json.db")], 0),
    ):
        assert main(argv) == status
        out, err = capsys.readouterr()
        assert "sekrit" not in out and "sekrit" not in err
        assert "tmws:***@" in out + err  # the URL is named, without its password


# --- values the source holds but cannot give -----------------------------------------------


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("UPDATE memories SET context = 'not json' WHERE content = 'memory 2'", "memories"),
        ("UPDATE memories SET created_at = 'yesterday' WHERE content = 'memory 2'", "memories"),
    ],
    ids=["JSON that is not JSON", "a date that is not a date"],
)
def test_an_unreadable_source_value_is_one_line_naming_the_table(
    sql: str, table: str, tmp_path: Path, capsys
) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    tamper(source, sql)
    destination = tmp_path / "destination.db"
    assert main(["copy", "--from", str(source), "--to", str(destination)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tmws-store copy: copying table {table} failed")
    assert err.count("\n") == 1
    assert {n for n in counts(Store(destination).engine).values() if n} == set()


def test_a_licence_id_tmws_lost_to_numeric_affinity_is_refused_naming_it(
    ref42_copy: Path, tmp_path: Path
) -> None:
    con = sqlite3.connect(
        ref42_copy
    )  # TMWS's own UUID column (NUMERIC affinity) turns it into a REAL
    con.execute(
        "UPDATE license_key_usage SET id = '1111111111111111111111111111e100' "
        "WHERE rowid = (SELECT min(rowid) FROM license_key_usage)"
    )
    con.commit()
    assert con.execute("SELECT typeof(id) FROM license_key_usage ORDER BY rowid").fetchone() == (
        "real",
    )
    con.close()
    with pytest.raises(CopyError, match=r"a row of license_key_usage could not be written") as no:
        copy(ref42_copy, tmp_path / "out.db")
    assert "badly formed hexadecimal UUID string" in str(no.value)
    assert "INSERT" not in str(no.value)  # no statement, no bound values in the message
    assert all(n == 0 for n in counts(Store(tmp_path / "out.db").engine).values())


def test_nan_copies_between_postgresql_databases(
    tmp_path: Path, postgres_url: str, second_postgres_url: str
) -> None:
    copy(agents_and_memories(tmp_path / "source.db"), postgres_url)
    with Store(url=postgres_url) as store, store.engine.begin() as conn:
        conn.execute(
            text("UPDATE memories SET importance_score = 'NaN' WHERE content = 'memory 0'")
        )
    report = copy(postgres_url, second_postgres_url)
    assert report.rows["memories"] == 3


def test_a_dangling_self_reference_into_sqlite_names_the_table(tmp_path: Path) -> None:
    source = agents_and_memories(tmp_path / "source.db")
    tamper(source, "UPDATE memories SET parent_memory_id = 'gone' WHERE content = 'memory 2'")
    with pytest.raises(CopyError, match=r"copying table memories failed.*FOREIGN KEY"):
        copy(source, tmp_path / "destination.db")
    assert all(n == 0 for n in counts(Store(tmp_path / "destination.db").engine).values())
