"""What the command line and path resolution do with input a user gets wrong.

An empty ``--db`` (an unset variable in a script), a file ``encrypt`` must not convert, a
``decrypt`` of a plain file, ``~`` in ``TMWS_HOME``, a user that does not exist, stderr
closed, a URL given where a path goes or written with a slash missing, and Ctrl-C while the
arguments are read. Each is provoked for real; the conftest points HOME and TMWS_HOME at
temp dirs for every test.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import NotADatabaseError, Store, StoreError, schema
from tmws_store import cli as cli_module
from tmws_store.cli import main
from tmws_store.encryption import DatabaseKey, encrypt_file, key_file_path
from tmws_store.paths import resolve_location

from .helpers import file_digest, run_sql

PASSWORD = "s3cretpw"


def default_store() -> Path:
    """The store at the default path (under this test's TMWS_HOME), created."""
    with Store() as store:
        store.init()
        return store.path


def folder_listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "argv",
    [
        ["encrypt", "--db", ""],
        ["init", "--db", ""],
        ["backup", "--db", ""],
        ["status", "--db="],
        ["copy", "--from", "", "--to", "out.db"],
    ],
)
def test_an_empty_db_is_refused_not_taken_for_the_default_store(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = default_store()
    home = Path(os.environ["TMWS_HOME"])
    before, listing = file_digest(store), folder_listing(home)

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the database path is empty" in err and err.count("\n") == 1
    assert file_digest(store) == before
    assert folder_listing(home) == listing  # no key file, no backup
    assert not (tmp_path / "out.db").exists()


def test_backup_to_an_empty_name_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where Path("") would have put it
    default_store()
    assert main(["backup", ""]) == 2
    assert "the backup destination is empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with Store() as store, pytest.raises(StoreError, match="destination is empty"):
        store.backup("")


@pytest.mark.parametrize(
    ("statements", "refusal"),
    [
        (["PRAGMA application_id = 1234", "CREATE TABLE bar (x)"], "belongs to another program"),
        (["CREATE TABLE foo (x)", "INSERT INTO foo VALUES (42)"], "of another program"),
        (
            [f"PRAGMA application_id = {schema.APPLICATION_ID}", "PRAGMA user_version = 99",
             "CREATE TABLE agents (x)"],
            "written by a newer tmws_store",
        ),
        (None, "is not a SQLite database"),
    ],
    ids=["application_id", "foreign_tables", "newer_schema", "not_sqlite"],
)  # fmt: skip
def test_encrypt_refuses_a_file_init_refuses_and_makes_no_key(
    statements: list[str] | None,
    refusal: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = tmp_path / "theirs.db"
    if statements is None:
        path.write_text("not a database\n")
    else:
        run_sql(path, *statements)
    before = file_digest(path)

    assert main(["encrypt", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert refusal in err and err.count("\n") == 1
    assert file_digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # no backup beside it
    assert not key_file_path().exists()


def test_encrypt_file_itself_refuses_another_programs_file(tmp_path: Path) -> None:
    """The library's conversion checks what it converts, not only the command line."""
    path = run_sql(tmp_path / "theirs.db", "CREATE TABLE foo (x)")
    before = file_digest(path)
    with pytest.raises(StoreError, match="of another program"):
        encrypt_file(path, DatabaseKey("k" * 64), busy_timeout=1)
    assert file_digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]


@pytest.mark.parametrize("which", ["plain", "missing"])
def test_decrypt_says_what_is_wrong_with_the_file_before_asking_for_a_key(
    which: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "tmws.db"
    if which == "plain":
        Store(path).init()
    assert main(["decrypt", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    expected = "already a plain SQLite file" if which == "plain" else "does not exist"
    assert expected in err and "key" not in err


def test_tmws_home_with_a_tilde_keeps_the_key_beside_the_store(tmp_path: Path, monkeypatch) -> None:
    """``TMWS_HOME=~/th`` (from a .env file, where no shell expands it): the database and the
    key file are both under ``$HOME/th``, wherever the process starts."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    environ = {"TMWS_HOME": "~/th"}
    location = resolve_location(environ=environ)
    assert location.path == home / "th" / "data" / "tmws.db"
    assert key_file_path(environ) == home / "th" / "secrets" / "db_encryption.key"


def test_a_relative_home_gives_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "relative-home")
    assert resolve_location(environ={}).path == tmp_path / "relative-home/.tmws/data/tmws.db"
    assert key_file_path({}) == tmp_path / "relative-home/.tmws/secrets/db_encryption.key"


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["path", "--db", "~no-such-user-xyz/x.db"], {}),
        (["status"], {"TMWS_HOME": "~no-such-user-xyz"}),
        (["init"], {"TMWS_DATABASE_URL": "sqlite:///~no-such-user-xyz/x.db"}),
    ],
)
def test_a_user_that_does_not_exist_is_one_line_not_a_traceback(
    argv: list[str], environ: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "its user or home directory is unknown" in err and err.count("\n") == 1
    with pytest.raises(StoreError, match="give the path in full"):
        resolve_location("~no-such-user-xyz/x.db")


def test_backup_with_stderr_closed_still_writes_the_backup(tmp_path: Path) -> None:
    """``2>&-`` (cron, a daemon): Python has no sys.stderr at all; no bar is drawn."""
    store = default_store()
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" -m tmws_store backup --json 2>&-', sys.executable],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout
    assert '"backup"' in done.stdout
    assert len(list(store.parent.glob("tmws.db.backup-*"))) == 1


@pytest.mark.parametrize("as_json", [False, True])
def test_a_url_given_as_the_backup_destination_keeps_its_password_hidden(
    as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    default_store()
    url = f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"
    assert main(["backup", *(["--json"] if as_json else []), url]) == 2
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert "***" in out + err


def test_a_url_with_a_slash_missing_is_refused_making_no_folders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--db", f"postgresql+psycopg:/me:{PASSWORD}@dbhost/tmws"]) == 2
    err = capsys.readouterr().err
    assert "looks like a URL with a slash missing" in err
    assert PASSWORD not in err
    assert list(tmp_path.iterdir()) == []


def test_a_one_letter_scheme_is_a_path_not_a_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["path", "--db", "C:/x.db"]) == 0  # a folder named "C:" on this system
    assert str(tmp_path / "C:" / "x.db") in capsys.readouterr().out


def test_ctrl_c_while_the_arguments_are_read_is_one_line_and_130(
    capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """A real SIGINT, sent by the process to itself while the command line is parsed."""
    parse = cli_module._parse

    def parse_interrupted(argv):  # type: ignore[no-untyped-def]
        signal.raise_signal(signal.SIGINT)  # Python's handler raises KeyboardInterrupt
        return parse(argv)

    monkeypatch.setattr(cli_module, "_parse", parse_interrupted)
    assert main(["status"]) == 130
    assert capsys.readouterr().err == "tmws-store: interrupted\n"


def test_store_refuses_an_empty_path_as_before() -> None:
    with pytest.raises(NotADatabaseError, match="the database path is empty"):
        Store("")


@pytest.mark.parametrize("command", ["status", "verify"])
def test_status_and_verify_do_not_promise_init_adopts_another_programs_file(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = run_sql(tmp_path / "theirs.db", "CREATE TABLE foo (x)")
    main([command, "--db", str(path)])
    out = capsys.readouterr().out
    assert "another program's database" in out
    assert "adopt" not in out and "adds what is missing" not in out
    assert main(["init", "--db", str(path)]) == 2  # as init() then says
    assert "of another program" in capsys.readouterr().err


def test_a_backup_destination_is_expanded_and_made_absolute_as_the_store_path_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    """'backup ~/copy.db' failed, or wrote into a literal ./~/ folder; a relative one was
    printed relative."""
    monkeypatch.chdir(tmp_path)
    default_store()
    home = Path(os.environ["HOME"])
    assert main(["backup", "~/copy.db"]) == 0
    assert (home / "copy.db").is_file() and not (tmp_path / "~").exists()
    assert main(["backup", "relative.db"]) == 0
    assert f"backup written to {tmp_path / 'relative.db'}" in capsys.readouterr().out


def test_path_with_encryption_on_makes_no_key_file(
    capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """`tmws-store path` never opens the file; with TMWS_DB_ENCRYPTION_ENABLED=true it made
    the key file all the same, for a store that did not exist."""
    monkeypatch.setenv("TMWS_DB_ENCRYPTION_ENABLED", "true")
    assert main(["path"]) == 0
    assert "data/tmws.db" in capsys.readouterr().out
    assert not key_file_path().exists()
