"""How the tmws-store command behaves as a Unix tool (issue #17): exit statuses, ``--json``
for errors too, ``--quiet``, a reader that goes away, progress bars, counts in words, and
``status --tables``.

Each behaviour is provoked for real: a pipe whose reader is gone or is ``head -c 1``, a
pseudo-terminal on stderr, SIGINT sent to a running copy, files that are not databases.
The conftest points HOME and TMWS_HOME at temp dirs for every test.
"""

import fcntl
import json
import os
import pty
import re
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import textwrap
from collections.abc import Sequence
from pathlib import Path

import psycopg
import pytest

from tmws_store import SCHEMA_VERSION, Agent, Memory, Store, TMWSModel
from tmws_store.backends.sqlite import startup
from tmws_store.cli import main
from tmws_store.migrations.v2 import NEW_INDEXES
from tmws_store.paths import resolve_location

from .helpers import REF42, copy_reference, file_digest, run_cli, run_sql

ALL = len(TMWSModel.metadata.tables)
SIGPIPE_STATUS = 128 + signal.SIGPIPE  # what a shell shows for a tool SIGPIPE ended


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tmws_store", *args]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tmws_store ARGS`` with this test's environment (its HOME and TMWS_HOME)."""
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=120)


def make_store(path: Path, *, agents: int = 0, memories: int = 0) -> Path:
    with Store(path) as store:
        store.init()
        store.insert_many(
            Agent, [{"agent_id": f"agent-{i}", "display_name": f"A{i}"} for i in range(agents)]
        )
        store.insert_many(
            Memory,
            [
                {"content": f"m{i}", "agent_id": "agent-0", "namespace": "n"}
                for i in range(memories)
            ],
        )
    return path


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.name}-*"))


def error_of(out: str) -> dict[str, str]:
    """The ``{"type", "message"}`` of the one JSON error object ``out`` holds."""
    data = json.loads(out)
    assert list(data) == ["error"] and sorted(data["error"]) == ["message", "type"], data
    error: dict[str, str] = data["error"]
    assert "\n" not in error["message"]
    return error


# --- a pseudo-terminal on stderr ------------------------------------------------------------


def read_all(fd: int) -> bytes:
    """Everything written to a pty's master until the last writer closed its slave end."""
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, "nothing written to the terminal for 120 s"
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO on Linux once the slave side is closed everywhere
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def open_terminal(columns: int) -> tuple[int, int]:
    """A new pty (master, slave); ``columns`` 0 leaves its size unset (0 x 0), as ``script``
    in CI or ``docker exec -t`` at first do."""
    master, slave = pty.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    return master, slave


def on_terminal(args: Sequence[str], *, columns: int = 0) -> tuple[int, str, str]:
    """Run ``args`` with stderr on a pseudo-terminal: (exit status, stdout, what it drew)."""
    master, slave = open_terminal(columns)
    try:
        child = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, text=True
        )
        os.close(slave)
        slave = -1
        drawn = read_all(master).decode()
        out, _ = child.communicate(timeout=120)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    return child.returncode, out, drawn


# --- 1. a reader that goes away ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["status"], ["status", "--json"], ["verify"], ["verify", "--json"], ["path", "--json"]],
    ids=" ".join,
)
@pytest.mark.slow
def test_stdout_without_a_reader_ends_quietly(args: list[str], tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes a byte
    try:
        done = subprocess.run(
            command(*args, "--db", str(db)),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (SIGPIPE_STATUS, "")


@pytest.mark.slow
def test_piped_into_head_it_never_prints_a_traceback(tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    # 5,000 tables of someone else's: every command below prints well over a pipe's
    # 64 KiB, so head has gone long before the last write.
    tables = "".join(f"CREATE TABLE someone_elses_table_{i:05d} (x);" for i in range(5000))
    con = sqlite3.connect(db)
    con.executescript(f"BEGIN; {tables} COMMIT;")
    con.close()
    # Each command twice: where head's exit cuts the output varies from run to run, and every
    # run costs a fresh interpreter (about a second); the reader gone before the first byte is
    # test_stdout_without_a_reader_ends_quietly's.
    runs = [["status"], ["status", "--json"], ["verify"], ["verify", "--json"]] * 2
    for args in runs:
        writer = subprocess.Popen(
            command(*args, "--db", str(db)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert writer.stdout is not None and writer.stderr is not None
        reader = subprocess.run(["head", "-c", "1"], stdin=writer.stdout, capture_output=True)
        writer.stdout.close()
        err = writer.stderr.read().decode()
        writer.stderr.close()
        assert writer.wait(timeout=120) == SIGPIPE_STATUS, (args, err)
        assert err == "" and len(reader.stdout) == 1, (args, err)


# --- 2, 3. exit statuses, and --json for errors -------------------------------------------


def test_a_store_error_exits_2_in_one_line_or_one_json_object(tmp_path: Path) -> None:
    target = tmp_path / "notes.db"
    target.write_text("not a database at all\n" * 10)
    for name in ("init", "status", "verify", "backup"):
        plain = run_cli(name, "--db", str(target))
        assert (plain.returncode, plain.stdout) == (2, "")
        assert plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
        assert plain.stderr.startswith(f"tmws-store {name}: {target} ")

        as_json = run_cli(name, "--db", str(target), "--json")
        assert (as_json.returncode, as_json.stderr) == (2, ""), as_json.stderr
        error = error_of(as_json.stdout)
        assert error["type"] == "NotADatabaseError"
        assert plain.stderr == f"tmws-store {name}: {error['message']}\n"
    assert sorted(os.listdir(tmp_path)) == ["notes.db"]  # nothing made beside it


def test_exit_status_1_is_for_what_verify_and_status_find(capsys, tmp_path: Path) -> None:
    db = run_sql(make_store(tmp_path / "t.db"), "DROP INDEX ix_agents_tier")
    assert main(["verify", "--db", str(db)]) == 1
    assert main(["verify", "--db", str(db), "--json"]) == 1
    capsys.readouterr()
    missing = tmp_path / "missing.db"
    assert main(["status", "--db", str(missing)]) == 1  # a finding: no database yet
    assert "no database yet" in capsys.readouterr().out
    assert main(["backup", "--db", str(missing), "--json"]) == 2  # an error: nothing to copy
    assert error_of(capsys.readouterr().out)["type"] == "NotADatabaseError"
    taken = tmp_path / "taken.db"
    taken.write_text("keep me")
    assert main(["backup", str(taken), "--db", str(db), "--json"]) == 2  # refused by the system
    printed = capsys.readouterr()
    assert printed.err == "" and "already exists" in error_of(printed.out)["message"]
    assert taken.read_text() == "keep me" and not missing.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "no-such-command"],
        ["status", "--json", "--db"],
        ["verify", "--json", "--tables"],  # --tables belongs to status only
    ],
)
def test_a_usage_error_with_json_is_one_json_object(argv: list[str]) -> None:
    done = run_cli(*argv)
    assert (done.returncode, done.stderr) == (2, "")
    assert error_of(done.stdout)["type"] == "UsageError"


def test_a_usage_error_hides_a_password_in_json_too() -> None:
    url = "postgresql+psycopg://me:sekrit@db.example/tmws"
    done = run_cli("--json", "path", url)  # unrecognized arguments: <the url>
    assert (done.returncode, done.stderr) == (2, "")
    message = error_of(done.stdout)["message"]
    assert "sekrit" not in done.stdout and "me:***@db.example" in message


def test_json_for_a_usage_error_is_read_from_the_arguments_as_typed() -> None:
    prefix = run_cli("--js", "backup", "a", "b")  # a prefix argparse takes for --json
    assert (prefix.returncode, prefix.stderr) == (2, "")
    assert error_of(prefix.stdout)["message"] == "unrecognized arguments: b"
    after_dashes = run_cli("backup", "--", "--json", "extra")  # DEST "--json", one too many
    assert (after_dashes.returncode, after_dashes.stdout) == (2, "")
    assert after_dashes.stderr.count("\n") == 1
    assert "unrecognized arguments: extra" in after_dashes.stderr


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_an_interrupted_copy_exits_130_with_a_json_error(tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.db", agents=1, memories=40_000)
    destination = tmp_path / "copy.db"
    master, slave = open_terminal(100)
    try:
        child = subprocess.Popen(
            command("copy", "--json", "--from", str(source), "--to", str(destination)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            # Ctrl-C as a terminal's user has it. Started from a shell's background job
            # (CI run as `cmd &`), the child would inherit SIGINT ignored, and Python
            # then installs no KeyboardInterrupt for it: the copy would simply finish.
            preexec_fn=_sigint_as_in_a_terminal,
        )
        os.close(slave)
        slave = -1
        drawn = b""
        while b"copy:" not in drawn:  # the copy is under way: its bar is drawn
            ready, _, _ = select.select([master], [], [], 120)
            assert ready, drawn
            drawn += os.read(master, 65536)
        child.send_signal(signal.SIGINT)
        drawn += read_all(master)
        out, _ = child.communicate(timeout=120)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert child.returncode == 130, drawn
    assert error_of(out) == {"type": "KeyboardInterrupt", "message": "interrupted"}
    assert b"Traceback" not in drawn and b"check:" not in drawn
    with Store(destination) as copied:
        assert copied.status(rows=True).rows["memories"] == 0  # the one transaction rolled back


# --- 4. --quiet ---------------------------------------------------------------------------


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_quiet_prints_nothing_when_all_is_well(
    json_flag: list[str], capsys, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    copy = tmp_path / "copy.db"
    for argv in (
        ["init"],
        ["path"],
        ["status", "--tables"],
        ["verify"],
        ["backup"],
        ["copy", "--from", str(db), "--to", str(copy)],
    ):
        where = [] if argv[0] == "copy" else ["--db", str(db)]
        assert main([*argv, *where, *json_flag, "-q"]) == 0, argv
        assert capsys.readouterr() == ("", ""), argv
    assert db.is_file() and copy.is_file()  # the commands did run


def test_quiet_still_prints_problems_and_errors(capsys, tmp_path: Path) -> None:
    db = run_sql(make_store(tmp_path / "t.db"), "DROP INDEX ix_agents_tier")
    assert main(["--quiet", "verify", "--db", str(db)]) == 1
    assert "missing index ix_agents_tier" in capsys.readouterr().out
    assert main(["-q", "status", "--db", str(tmp_path / "none.db"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["exists"] is False
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 10)
    assert main(["-q", "init", "--db", str(text)]) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1


@pytest.mark.slow
def test_quiet_draws_no_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db", agents=3)
    status, out, drawn = on_terminal(command("-q", "backup", "--db", str(db)), columns=100)
    assert (status, out, drawn) == (0, "", "")
    assert len(list(tmp_path.glob("t.db.backup-*-manual"))) == 1
    copy = tmp_path / "copy.db"
    status, out, drawn = on_terminal(
        command("copy", "--quiet", "--from", str(db), "--to", str(copy)), columns=100
    )
    assert (status, out, drawn) == (0, "", "")
    with Store(copy) as copied:
        assert copied.status(rows=True).rows["agents"] == 3


# --- 5. copy refuses --db -----------------------------------------------------------------


@pytest.mark.parametrize("before", [True, False], ids=["before copy", "after copy"])
def test_copy_refuses_db_as_a_usage_error(before: bool, tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.db", agents=1)
    other, target = tmp_path / "other.db", tmp_path / "target.db"
    db = ["--db", str(other)]
    copy = ["copy", "--from", str(source), "--to", str(target)]
    done = run_cli(*(db + copy if before else copy + db))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("tmws-store copy: error: argument --db: not allowed with copy")
    assert not target.exists() and not other.exists()


# --- 6. progress with tqdm, on a terminal only ----------------------------------------------


@pytest.mark.slow
def test_only_backup_and_copy_load_tqdm_and_only_to_draw(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    probe = textwrap.dedent(
        f"""
        import sys
        from tmws_store import cli

        def run(*argv):
            assert cli.main([*argv, "--db", {str(db)!r}]) == 0, argv
            return "tqdm" in sys.modules

        assert sys.stderr.isatty()  # a bar would be drawn: the commands below draw none
        print("before", [run(name) for name in ("path", "init", "status", "verify")])
        print("backup", run("backup"))
        """
    )
    status, out, drawn = on_terminal([sys.executable, "-c", probe], columns=100)
    assert status == 0, drawn
    lines = out.splitlines()
    assert "before [False, False, False, False]" in lines and lines[-1] == "backup True"
    assert "backup: 100%|" in drawn


TIMES = r"\[\d\d:\d\d<\d\d:\d\d, "  # tqdm's elapsed<left


@pytest.mark.slow
@pytest.mark.parametrize("columns", [100, 0], ids=["sized terminal", "terminal of no size"])
def test_backup_draws_a_tqdm_bar_on_a_terminal_only(columns: int, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    status, out, drawn = on_terminal(command("backup", "--db", str(db)), columns=columns)
    assert status == 0 and out.startswith("backup written to "), drawn
    last = drawn.rstrip("\r\n").rsplit("\r", 1)[-1].rstrip()  # the bar as it was left
    assert last.startswith("backup: 100%|") and last.endswith(" pages/s]"), drawn
    assert re.search(r"\| ([\d,]+)/\1 " + TIMES, last) and len(last) <= (columns or 80)
    assert drawn.endswith("\r\n")  # the line is ended: what follows starts on its own

    piped = run("backup", "--db", str(db))
    assert (piped.returncode, piped.stderr) == (0, "")


@pytest.mark.slow
def test_copy_draws_a_copy_then_a_check_bar(tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.db", agents=1234, memories=1)
    status, out, drawn = on_terminal(
        command("copy", "--from", str(source), "--to", str(tmp_path / "a.db")), columns=120
    )
    assert status == 0, drawn
    assert out.startswith("copied 1,235 rows of 2 tables from ")
    bars = [line.rsplit("\r", 1)[-1].rstrip() for line in drawn.split("\r\n") if line]
    assert [bar.split(":")[0] for bar in bars] == ["copy", "check"]
    for bar in bars:
        assert "100%|" in bar and "| 1,235/1,235 [" in bar and bar.endswith(" rows/s]")
        assert re.search(TIMES, bar), bar

    piped = run("copy", "--from", str(source), "--to", str(tmp_path / "b.db"))
    assert (piped.returncode, piped.stderr) == (0, "")


# --- 7. counts in words --------------------------------------------------------------------


def test_counts_are_in_words_with_thousands_separated(capsys, tmp_path: Path) -> None:
    # An unstamped file lacking one table without indexes and one index: init adopts it.
    db = run_sql(
        make_store(tmp_path / "t.db"),
        "DROP TABLE token_consumption",
        "DROP INDEX ix_agents_tier",
        "PRAGMA application_id = 0",
        "PRAGMA user_version = 0",
    )
    assert main(["init", "--db", str(db)]) == 0
    assert f"adopted, schema version {SCHEMA_VERSION}; 1 table created; 1 index created;" in (
        capsys.readouterr().out
    )

    run_sql(db, "DROP INDEX ix_agents_tier")
    assert main(["verify", "--db", str(db)]) == 1
    assert capsys.readouterr().out.startswith(f"{db}: 1 problem\nmissing index ix_agents_tier\n")

    one = make_store(tmp_path / "one.db", agents=1)
    assert main(["copy", "--from", str(one), "--to", str(tmp_path / "c1.db")]) == 0
    assert capsys.readouterr().out.startswith("copied 1 row of 1 table from ")
    many = make_store(tmp_path / "many.db", agents=1234, memories=2)
    assert main(["copy", "--from", str(many), "--to", str(tmp_path / "c2.db")]) == 0
    assert capsys.readouterr().out.startswith("copied 1,236 rows of 2 tables from ")


def test_one_tolerated_licence_key_row_is_one_row(capsys, tmp_path: Path) -> None:
    db = copy_reference(REF42, tmp_path)  # its two licence keys name no agent, as TMWS wrote
    run_sql(db, "DELETE FROM license_key_usage", "DELETE FROM license_keys WHERE rowid = 2")
    # Adopted at version 1 only, which keeps TMWS's licence key (version 2 drops it), with
    # version 2's indexes made by hand, so that nothing else is missing.
    startup.initialise(resolve_location(db), busy_timeout=5, migrations=(), target=1)
    run_sql(db, *(f"CREATE INDEX {n} ON {t} ({', '.join(c)})" for n, t, c in NEW_INDEXES))
    assert main(["verify", "--db", str(db)]) == 0
    assert "note: 1 licence-key row breaks its foreign key, as in every file TMWS wrote" in (
        capsys.readouterr().out
    )


# --- 8. status --tables -------------------------------------------------------------------


def test_status_tables_counts_rows_and_changes_nothing(capsys, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db", agents=1234, memories=1)
    before = file_digest(db)
    assert main(["status", "--tables", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("table "))) :]
    assert len(table) == 1 + ALL
    assert [line.split() for line in table[:4]] == [
        ["table", "rows"],
        ["agent_namespaces", "0"],
        ["agent_teams", "0"],
        ["agents", "1,234"],
    ]
    assert len({len(line) for line in table}) == 1  # the counts are aligned on the right

    assert main(["status", "--db", str(db), "--json", "--tables"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = {name: 0 for name in TMWSModel.metadata.tables} | {"agents": 1234, "memories": 1}
    assert data["rows"] == expected and data["permissions"] == "0600"
    assert main(["status", "--db", str(db), "--json"]) == 0  # the rows only when asked
    assert "rows" not in json.loads(capsys.readouterr().out)
    assert file_digest(db) == before and side_files(db) == []

    missing = tmp_path / "not" / "there.db"
    assert main(["status", "--tables", "--db", str(missing)]) == 1
    assert not (tmp_path / "not").exists()


def test_status_tables_counts_no_view_of_someone_elses(capsys, tmp_path: Path) -> None:
    # A view named like one of our tables, whose query raises when run (unsafe in a schema):
    # counting it would run someone else's SQL.
    db = run_sql(
        make_store(tmp_path / "t.db", agents=2),
        "DROP TABLE skill_suggestions",
        "CREATE VIEW skill_suggestions AS SELECT load_extension('/no/such/thing') AS x",
    )
    assert main(["status", "--tables", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert "skill_suggestions" not in rows and rows["agents"] == 2 and len(rows) == ALL - 1


def test_status_tables_on_postgresql(capsys, postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:  # not ours: a view that raises
        conn.execute("CREATE VIEW skills AS SELECT 1 / 0 AS x")
    assert main(["status", "--tables", "--db", postgres_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == {}  # a view is counted as nothing
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP VIEW skills")
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)  # status created nothing

    with Store(url=postgres_url) as store:
        store.init()
        store.insert_many(Agent, [{"agent_id": f"a{i}", "display_name": "A"} for i in range(3)])
    assert main(["status", "--tables", "--db", postgres_url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows == {name: 0 for name in TMWSModel.metadata.tables} | {"agents": 3}
    assert main(["status", "--tables", "--db", postgres_url]) == 0
    assert ["agents", "3"] in [line.split() for line in capsys.readouterr().out.splitlines()]


@pytest.mark.slow
def test_the_key_file_warning_is_one_line_of_the_command(tmp_path: Path) -> None:
    """It was the warnings module's two lines, the second quoting a line of cli.py."""
    make_store(tmp_path / "tmws.db")
    done = run("encrypt", "--db", str(tmp_path / "tmws.db"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("tmws-store: warning: created the encryption key file ")
    assert done.stderr.count("\n") == 1
