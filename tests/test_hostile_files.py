"""A crafted file's triggers and views never run when tmws_store opens, inspects, adopts or
backs it up, and the SQL functions they call are refused in every connection of ours."""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tmws_store import Agent, Store
from tmws_store.cli import main

from .conftest import REF34, copy_reference


@pytest.fixture
def crafted(tmp_path: Path) -> Path:
    """A TMWS-looking file (the 34-table reference) that carries a trap in a trigger and a
    view: each calls load_extension(), a function that is unsafe in schema code, and the
    trigger also records every time it fires in a canary table."""
    path = copy_reference(REF34, tmp_path)
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE canary (fired_at TEXT);
        CREATE TRIGGER trap_insert AFTER INSERT ON agents BEGIN
            INSERT INTO canary VALUES (datetime('now'));
            SELECT load_extension('/tmp/not-a-real-extension');
        END;
        CREATE TRIGGER trap_update AFTER UPDATE ON agents BEGIN
            INSERT INTO canary VALUES (datetime('now'));
        END;
        CREATE VIEW trap_view AS SELECT load_extension('/tmp/not-a-real-extension') AS x
            FROM agents;
        """
    )
    con.commit()
    con.close()
    return path


def canary_count(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM canary").fetchone()[0]
    finally:
        con.close()


def test_opening_adopting_inspecting_and_backing_up_run_nothing(crafted: Path, capsys) -> None:
    with Store(crafted) as store:
        assert store.init().action == "adopted"
        report = store.verify()
        store.backup(crafted.with_name("copy.db"))
    assert report.quick_check == ["ok"]
    assert "canary" in report.extra_tables
    assert main(["status", "--db", str(crafted)]) == 0
    assert canary_count(crafted) == 0
    con = sqlite3.connect(crafted)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    assert {"trap_insert", "trap_update", "trap_view"} <= names  # kept, never run


def test_schema_code_cannot_call_unsafe_functions_in_our_sessions(crafted: Path) -> None:
    with Store(crafted) as store:
        store.init()
        with pytest.raises(OperationalError, match="unsafe use of load_extension"):  # noqa: SIM117
            with store.session(readonly=True) as session:
                session.exec(text("SELECT * FROM trap_view")).all()  # type: ignore[call-overload]
        # A user's write fires the trigger (SQLite semantics) but its unsafe call is refused,
        # so the whole statement fails and the canary stays empty.
        with pytest.raises(OperationalError, match="unsafe use of load_extension"):  # noqa: SIM117
            with store.session() as session:
                session.add(Agent(agent_id="x", display_name="X"))
    assert canary_count(crafted) == 0
