"""The tmws-store command: each subcommand, --db, --json, exit statuses and one-line errors.

How it behaves as a Unix tool (--quiet, --json errors, pipes, progress bars, counts in
words, status --tables) is in test_cli_behaviour.py.

Most tests call ``main([...])`` in-process and read its output with ``capsys``; a few run
``python -m tmws_store`` in a subprocess, to see exactly what a user's terminal gets.
The conftest points HOME and TMWS_HOME at temp dirs for every test.
"""

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import SCHEMA_VERSION, Agent, Store, TMWSModel
from tmws_store.backends.sqlite.backup import backup_name, list_backups
from tmws_store.cli import main

from .helpers import run_cli

ALL = len(TMWSModel.metadata.tables)


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tmws_store ARGS`` with this test's environment (its HOME and TMWS_HOME)."""
    return subprocess.run(
        [sys.executable, "-m", "tmws_store", *args], capture_output=True, text=True, timeout=60
    )


def json_out(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def make_store(path: Path) -> Path:
    with Store(path) as store:
        store.init()
    return path


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.name}-*"))


# --- path ---------------------------------------------------------------------------------


def test_path_names_each_source(capsys, monkeypatch, tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    monkeypatch.delenv("TMWS_HOME")
    assert main(["path"]) == 0
    default = home / ".tmws" / "data" / "tmws.db"
    assert capsys.readouterr().out == f"{default} (the default location)\n"

    monkeypatch.setenv("TMWS_HOME", str(tmp_path / "th"))
    assert main(["path", "--json"]) == 0
    assert json_out(capsys) == {
        "path": str(tmp_path / "th" / "data" / "tmws.db"),
        "source": "TMWS_HOME",
        "exists": False,
    }

    monkeypatch.setenv("TMWS_DATABASE_URL", f"sqlite:///{tmp_path}/u.db")
    assert main(["path"]) == 0
    assert "u.db (from the TMWS_DATABASE_URL environment variable)" in capsys.readouterr().out

    assert main(["path", "--db", str(tmp_path / "x.db")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'x.db'} (given as the path argument)\n"
    assert not default.exists() and not (tmp_path / "x.db").exists()


def test_options_go_before_or_after_the_command(capsys, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert main(["--db", str(db), "init"]) == 0
    capsys.readouterr()
    for argv in (
        ["status", "--db", str(db), "--json"],
        ["--json", "--db", str(db), "status"],
        ["--json", "status", "--db", str(db)],
    ):
        assert main(argv) == 0
        data = json_out(capsys)
        assert (data["path"], data["tables"], data["journal_mode"]) == (str(db), ALL, "wal")


# --- init ---------------------------------------------------------------------------------


def test_init_creates_then_finds_it_current(capsys) -> None:
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert f"created, schema version {SCHEMA_VERSION}; {ALL} tables created" in out
    assert main(["init", "--json"]) == 0
    data = json_out(capsys)
    assert (data["action"], data["tables_created"], data["backup"]) == ("current", [], None)
    assert Path(data["path"]) == Path(os.environ["TMWS_HOME"]) / "data" / "tmws.db"


def test_init_adopts_an_old_tmws_file_and_names_the_backup(capsys, ref34_copy: Path) -> None:
    assert main(["init", "--db", str(ref34_copy), "--json"]) == 0
    data = json_out(capsys)
    assert data["action"] == "adopted" and len(data["tables_created"]) == ALL - 34
    backup = Path(data["backup"])
    assert backup.is_file() and list_backups(ref34_copy) == [backup]
    assert backup.name.startswith("tmws-2.4.18-prefix-34-tables.db.backup-")
    assert backup.name.endswith("-before-adopt")


# --- status -------------------------------------------------------------------------------


def test_status_reports_tables_version_size_mode_permissions(capsys, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    for expected in (
        f"tables:         {ALL} of {ALL}\n",
        f"schema version: {SCHEMA_VERSION}\n",
        f"size:           {db.stat().st_size:,} bytes",
        "journal mode:   wal",
        "permissions:    file 0600",
        "newest backup:  none",
    ):
        assert expected in out
    assert side_files(db) == []  # a status leaves no -wal or -shm file behind


def test_status_shows_the_newest_backup(capsys, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    assert main(["backup", "--db", str(db)]) == 0
    assert main(["backup", "--db", str(db)]) == 0  # within the same second, most likely
    newest = capsys.readouterr().out.splitlines()[-1].removeprefix("backup written to ")
    assert main(["status", "--db", str(db), "--json"]) == 0
    data = json_out(capsys)
    assert (data["newest_backup"], data["backups"]) == (newest, 2)


def test_status_does_not_create_a_missing_file(capsys, tmp_path: Path) -> None:
    db = tmp_path / "not" / "yet" / "tmws.db"
    assert main(["status", "--db", str(db)]) == 1
    assert "no database yet" in capsys.readouterr().out
    assert main(["status", "--db", str(db), "--json"]) == 1
    assert json_out(capsys) == {"path": str(db), "exists": False}
    assert not (tmp_path / "not").exists()


def test_status_of_an_unstamped_tmws_file_says_init_adopts_it(capsys, ref34_copy: Path) -> None:
    before = ref34_copy.read_bytes()
    assert main(["status", "--db", str(ref34_copy)]) == 0
    out = capsys.readouterr().out
    assert f"tables:         34 of {ALL}" in out and "`tmws-store init` adopts it" in out
    assert ref34_copy.read_bytes() == before


# --- verify -------------------------------------------------------------------------------


def test_verify_ok(capsys, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    assert main(["verify", "--db", str(db)]) == 0
    assert capsys.readouterr().out == f"{db}: ok ({ALL} tables, quick_check ok)\n"
    assert main(["verify", "--db", str(db), "--json"]) == 0
    data = json_out(capsys)
    assert data["ok"] is True and data["problems"] == []


def test_verify_names_what_is_missing_and_exits_1(capsys, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    con = sqlite3.connect(db)
    con.execute("DROP TABLE skill_memory_filters")
    con.execute("DROP INDEX ix_agents_tier")
    con.execute("ALTER TABLE memories DROP COLUMN source_url")
    con.commit()
    con.close()
    before = db.read_bytes()
    assert main(["verify", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "missing table skill_memory_filters" in out
    assert "missing index ix_agents_tier" in out
    assert "missing column memories.source_url" in out
    assert main(["verify", "--db", str(db), "--json"]) == 1
    data = json_out(capsys)
    assert data["ok"] is False and data["missing_tables"] == ["skill_memory_filters"]
    assert db.read_bytes() == before and side_files(db) == []  # read-only


def test_verify_of_an_unstamped_tmws_file_points_at_init(capsys, ref34_copy: Path) -> None:
    assert main(["verify", "--db", str(ref34_copy)]) == 1
    out = capsys.readouterr().out
    assert "missing table skills\n" in out
    assert out.endswith("`tmws-store init` adds what is missing, after a backup\n")
    assert main(["init", "--db", str(ref34_copy)]) == 0
    assert main(["verify", "--db", str(ref34_copy)]) == 0


def test_verify_flags_a_file_taken_out_of_wal_mode(capsys, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    assert main(["verify", "--db", str(db)]) == 1
    assert "journal mode delete, not wal" in capsys.readouterr().out


# --- backup -------------------------------------------------------------------------------


def test_backup_beside_the_file_is_private_and_complete(capsys, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store(db) as store:
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
        # The store is still open, so the new row may be only in the -wal file: the backup
        # must have it all the same.
        assert main(["backup", "--db", str(db), "--json"]) == 0
    written = Path(json_out(capsys)["backup"])
    assert list(tmp_path.glob("t.db.backup-*-manual")) == [written]
    assert written.stat().st_mode & 0o777 == 0o600
    con = sqlite3.connect(written)
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone() == (ALL,)
    assert con.execute("SELECT agent_id FROM agents").fetchall() == [("athena",)]
    con.close()


def test_backup_to_a_file_or_into_a_folder(capsys, tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    chosen = tmp_path / "chosen.db"
    assert main(["backup", str(chosen), "--db", str(db)]) == 0
    assert capsys.readouterr().out == f"backup written to {chosen}\n"
    folder = tmp_path / "backups"
    folder.mkdir()
    assert main(["backup", str(folder), "--db", str(db)]) == 0
    [inside] = folder.iterdir()
    assert inside.name.startswith("t.db.backup-") and inside.name.endswith("-manual")


def test_backup_copies_an_old_file_as_it_is(capsys, ref34_copy: Path) -> None:
    before = ref34_copy.read_bytes()
    assert main(["backup", "--db", str(ref34_copy), "--json"]) == 0
    written = Path(json_out(capsys)["backup"])
    assert ref34_copy.read_bytes() == before  # not adopted on the way
    con = sqlite3.connect(written)
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone() == (34,)
    con.close()


def test_backup_of_a_missing_file_creates_nothing(capsys, tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    assert main(["backup", "--db", str(db)]) == 2  # an error, not a finding
    assert "nothing to back up" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_backup_draws_a_progress_bar_only_on_a_terminal(capsys, monkeypatch, tmp_path) -> None:
    db = make_store(tmp_path / "t.db")
    assert main(["backup", "--db", str(db)]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal under capsys
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["backup", str(tmp_path / "copy.db"), "--db", str(db)]) == 0
    drawn = terminal.getvalue()  # tqdm's bar: label, percentage, rate
    assert drawn.startswith("\rbackup:   0%|") and drawn.endswith(" pages/s]\n")
    assert "\rbackup: 100%|" in drawn


def test_list_backups_skips_side_files_and_other_names(tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    first = backup_name(db, reason="manual")
    first.write_bytes(b"")
    second = backup_name(db, reason="manual")  # same second: a "-1" suffix
    second.write_bytes(b"")
    for name in (f"{first.name}-wal", f"{first.name}-shm", "t.db.backup-notes.txt", "u.db"):
        (tmp_path / name).write_bytes(b"")
    assert second.name == f"{first.name}-1"
    assert list_backups(db) == [first, second]


# --- errors, end to end -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_text("not a database at all\n" * 10), "is not a SQLite database"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["text file", "directory"],
)
@pytest.mark.slow
def test_errors_are_one_line_without_traceback(tmp_path: Path, make, words) -> None:
    target = tmp_path / "thing.db"
    make(target)
    result = run_process("init", "--db", str(target))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("tmws-store init: ") and words in result.stderr
    for command in ("status", "verify", "backup"):
        other = run_process(command, "--db", str(target))
        assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.db"]  # nothing made


def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    db = make_store(tmp_path / "t.db")
    taken = tmp_path / "taken.db"
    taken.write_text("keep me")
    result = run_cli("backup", str(taken), "--db", str(db))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "already exists" in result.stderr
    assert taken.read_text() == "keep me"


@pytest.mark.parametrize(
    "argv", [["no-such-command"], [], ["status", "--db"], ["backup", "a", "b"]]
)
def test_bad_usage_is_one_line_and_exits_2(argv: list[str]) -> None:
    result = run_cli(*argv)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tmws-store")
    assert "error:" in result.stderr and "--help" in result.stderr


def test_help_and_version_in_process(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("path", "init", "status", "verify", "backup"))
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("tmws-store ")


@pytest.mark.slow
def test_the_command_imports_nothing_heavy() -> None:
    probe = (
        "import sys; from tmws_store.cli import main; main(['path']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aiosqlite', 'pytest', '_pytest', 'pytest_asyncio', 'bcrypt')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


# --- one parser per command ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["--db", "status", "init"],  # a database file named like a command
        ["--json", "status", "--tables", "--db", "x.db"],
        ["backup", "status"],  # a backup destination named like a command
        ["backup", "a", "b"],
        ["copy", "--from", "a", "--to", "b"],
        ["copy", "--from", "a"],
        ["verify", "--tables"],
        ["--js", "path"],
        ["path", "--db"],
        ["bogus", "status"],
        ["encrypt", "--db", "x.db", "--quiet"],
    ],
    ids=" ".join,
)
def test_parsing_one_command_alone_reads_argv_as_the_whole_parser_does(argv: list[str]) -> None:
    from tmws_store.cli import _parse, _UsageError, build_parser

    def outcome(parse):
        try:
            return vars(parse(argv))
        except _UsageError as error:
            return error.line()

    whole = outcome(build_parser().parse_args)
    assert outcome(_parse) == whole


def test_copy_between_two_named_files_ignores_an_unusable_default(
    tmp_path: Path, monkeypatch
) -> None:
    """copy names both its stores: the default one (here an invalid TMWS_DATABASE_URL) is
    never built."""
    source, target = tmp_path / "from.db", tmp_path / "to.db"
    with Store(source) as store, store.session() as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
    monkeypatch.setenv("TMWS_DATABASE_URL", "mysql://nobody@nowhere/none")
    assert run_cli("status").returncode == 2  # the default store is unusable indeed

    done = run_cli("copy", "--from", str(source), "--to", str(target), "--json")

    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["rows"]["agents"] == 1
