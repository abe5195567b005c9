"""The tmws-store command: each subcommand, --db, --json, exit codes and one-line errors."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tmws_store import Store
from tmws_store.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tmws_store", *args], capture_output=True, text=True
    )


def test_init_then_status_then_verify_at_the_default_location(capsys, tmp_path: Path) -> None:
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert "created" in out and "42 tables created" in out
    assert main(["init"]) == 0
    assert "current" in capsys.readouterr().out
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "42 of 42" in status and "wal" in status and "0o600" in status
    assert main(["verify"]) == 0
    assert ": ok" in capsys.readouterr().out


def test_path_says_why(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMWS_DATABASE_URL", f"sqlite:///{tmp_path}/u.db")
    assert main(["path"]) == 0
    expected = f"{tmp_path}/u.db (from the TMWS_DATABASE_URL environment variable)"
    assert capsys.readouterr().out.strip() == expected
    assert main(["path", "--db", str(tmp_path / "x.db"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"path": str(tmp_path / "x.db"), "source": "argument", "exists": False}


def test_db_option_before_or_after_the_command(capsys, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert main(["--db", str(db), "init"]) == 0
    assert main(["status", "--db", str(db), "--json"]) == 0
    capsys.readouterr()
    assert main(["--json", "--db", str(db), "status"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["tables"], data["schema_version"], data["journal_mode"]) == (42, 1, "wal")


def test_status_does_not_create_a_missing_file(capsys, tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    assert main(["status", "--db", str(db)]) == 1
    assert "no database yet" in capsys.readouterr().out
    assert not db.exists()


def test_verify_names_what_is_missing_and_exits_non_zero(capsys, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store(db) as store:
        store.init()
    con = sqlite3.connect(db)
    con.execute("DROP TABLE skill_memory_filters")
    con.execute("DROP INDEX ix_agents_tier")
    con.commit()
    con.close()
    assert main(["verify", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "missing table skill_memory_filters" in out
    assert "missing index ix_agents_tier" in out


def test_backup_writes_a_consistent_private_copy(capsys, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert main(["init", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["backup", "--db", str(db), "--json"]) == 0
    reported = Path(json.loads(capsys.readouterr().out)["backup"])
    backups = list(tmp_path.glob("t.db.backup-*-manual"))
    assert backups == [reported]
    assert backups[0].stat().st_mode & 0o777 == 0o600
    con = sqlite3.connect(backups[0])
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone() == (42,)
    dest = tmp_path / "chosen.db"
    assert main(["backup", str(dest), "--db", str(db)]) == 0
    assert dest.exists()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_text("not a database at all\n" * 10), "not a SQLite database"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["text file", "directory"],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, make, words) -> None:
    target = tmp_path / "thing.db"
    make(target)
    result = run("init", "--db", str(target))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr


def test_bad_usage_exits_2() -> None:
    result = run("no-such-command")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert run("init", "--db", str(db)).returncode == 0
    existing = tmp_path / "taken.db"
    existing.write_text("keep me")
    result = run("backup", str(existing), "--db", str(db))
    assert result.returncode == 1 and "already exists" in result.stderr
    assert existing.read_text() == "keep me"


def test_verify_flags_a_file_taken_out_of_wal_mode(capsys, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store(db) as store:
        store.init()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    assert main(["verify", "--db", str(db)]) == 1
    assert "journal mode delete, not wal" in capsys.readouterr().out
