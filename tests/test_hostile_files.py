"""A crafted file's triggers and views: tmws_store refuses to adopt or upgrade a file holding
any (test_refused_files.py), never runs them when it refuses, opens, inspects or backs up a
file, and the SQL functions they call are refused in every connection of ours.

A file can still hold such triggers on the paths that do not look for them: a current store
they were added to afterwards (the warm start reads two header fields and nothing else). So
the traps below are added to a TMWS file after tmws_store adopted it; unstamping it then
gives a TMWS file to adopt with the traps in place, which init() refuses.

What a crafted file can reach, honestly: SQL in a view or trigger can only call functions
the process provides. SQLite's built-ins have no side effects except two that are unsafe in
schema code (``load_extension``, ``fts3_tokenizer``); an application may also register its
own functions on the store's connections. So the tests use three real traps:

- triggers with no function at all, on every original table, that log any INSERT, UPDATE or
  DELETE into a canary table: they fire whatever ``trusted_schema`` says, so an empty canary
  shows our start-up, verify, backup and status paths wrote no row;
- views and triggers calling the unsafe built-ins: SQLite refuses those in schema code on
  any connection, so evaluating one raises, and a start-up that succeeds evaluated none;
- a trigger and a view calling an application function with a visible side effect: a plain
  connection runs it (the control), the store's connections refuse it (``trusted_schema=OFF``).
"""

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from tmws_store import Agent, ForeignDatabaseError, Memory, Store
from tmws_store.cli import main

from .helpers import REF34, copy_reference


def execute_script(path: Path, script: str) -> None:
    con = sqlite3.connect(path)
    try:
        con.executescript(script)
        con.commit()
    finally:
        con.close()


def original_tables(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        con.close()


def canary(path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT tbl, op FROM canary ORDER BY rowid").fetchall()
    finally:
        con.close()


def schema_names(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    finally:
        con.close()


def adopted(folder: Path) -> Path:
    """A copy of the 34-table TMWS reference, adopted by tmws_store: a current store."""
    path = copy_reference(REF34, folder)
    with Store(path) as store:
        assert store.init().action == "adopted"
    return path


def unstamp(path: Path) -> None:
    """Make ``path`` a TMWS file that init() would adopt (PRAGMA writes fire no trigger)."""
    execute_script(path, "PRAGMA application_id = 0; PRAGMA user_version = 0;")


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """A current store given a function-free logging trigger for every write afterwards."""
    path = adopted(tmp_path)
    triggers = [
        f'CREATE TRIGGER "log_{op}_{table}" AFTER {op} ON "{table}" '
        f"BEGIN INSERT INTO canary VALUES ('{table}', '{op}'); END;"
        for table in original_tables(path)
        for op in ("INSERT", "UPDATE", "DELETE")
    ]
    execute_script(path, "CREATE TABLE canary (tbl TEXT, op TEXT);\n" + "\n".join(triggers))
    return path


def test_start_up_verify_backup_and_status_write_no_row(logged: Path, capsys) -> None:
    with Store(logged) as store:
        assert store.init().action == "current"
        report = store.verify()
        copy = store.backup(logged.with_name("copy.db"))
        with store.session(readonly=True) as session:  # reading every table fires nothing
            for table in original_tables(logged):
                session.exec(text(f'SELECT * FROM "{table}"')).all()  # type: ignore[call-overload]
    assert main(["status", "--db", str(logged)]) == 0
    assert main(["verify", "--db", str(logged)]) == 1  # the triggers are problems now
    assert report.quick_check == ["ok"] and "canary" in report.extra_tables
    assert "trigger log_UPDATE_agents on agents" in report.foreign_triggers_and_views
    assert canary(logged) == [] and canary(copy) == []
    # The control: the triggers are live, and a user's own write fires them (SQLite's rules).
    with Store(logged) as store, store.session() as session:
        session.add(Agent(agent_id="user-write", display_name="U"))
    assert canary(logged) == [("agents", "INSERT")]
    # Adopting the file with the triggers in place: refused, and no further row logged.
    unstamp(logged)
    with pytest.raises(ForeignDatabaseError, match="trigger log_"):
        Store(logged).init()
    assert canary(logged) == [("agents", "INSERT")]


@pytest.fixture
def trapped(tmp_path: Path) -> Path:
    """A current store given afterwards views and triggers that call unsafe built-ins."""
    path = adopted(tmp_path)
    execute_script(
        path,
        """
        CREATE TRIGGER trap_memories AFTER INSERT ON memories BEGIN
            SELECT load_extension('/tmp/no-such-extension');
        END;
        CREATE TRIGGER trap_agents AFTER UPDATE ON agents BEGIN
            SELECT fts3_tokenizer('simple');
        END;
        CREATE VIEW trap_view AS SELECT load_extension('/tmp/no-such-extension') AS x FROM agents;
        """,
    )
    return path


def test_unsafe_built_ins_in_a_crafted_schema_never_run(trapped: Path, capsys) -> None:
    # The control: evaluating a trap raises, even on a plain connection.
    con = sqlite3.connect(trapped)
    with pytest.raises(sqlite3.OperationalError, match=r"unsafe use of load_extension\(\)"):
        con.execute("SELECT * FROM trap_view").fetchall()
    with pytest.raises(sqlite3.OperationalError, match=r"unsafe use of fts3_tokenizer\(\)"):
        con.execute("UPDATE agents SET display_name = display_name")
    con.close()

    with Store(trapped) as store:  # each of these would raise had it run a trap
        assert store.init().action == "current"
        report = store.verify()
        assert report.quick_check == ["ok"]
        assert report.foreign_triggers_and_views == [
            "trigger trap_agents on agents",
            "trigger trap_memories on memories",
            "view trap_view",
        ]
        store.backup(trapped.with_name("copy.db"))
        # Our own sessions refuse the unsafe calls instead of attempting them.
        with pytest.raises(OperationalError, match=r"unsafe use of load_extension\(\)"):  # noqa: SIM117
            with store.session(readonly=True) as session:
                session.exec(text("SELECT * FROM trap_view")).all()  # type: ignore[call-overload]
        with pytest.raises(OperationalError, match=r"unsafe use of load_extension\(\)"):  # noqa: SIM117
            with store.session() as session:
                session.add(Memory(content="m", agent_id="a", namespace="n"))

        async def read_view() -> None:
            try:
                async with store.async_session(readonly=True) as session:
                    await session.exec(text("SELECT * FROM trap_view"))  # type: ignore[call-overload]
            finally:
                await store.aclose()

        with pytest.raises(OperationalError, match=r"unsafe use of load_extension\(\)"):
            asyncio.run(read_view())
    assert main(["status", "--db", str(trapped)]) == 0
    assert {"trap_memories", "trap_agents", "trap_view"} <= schema_names(trapped)  # kept
    # Adopting it refuses with our own error: not an "unsafe use", so no trap was evaluated.
    unstamp(trapped)
    with pytest.raises(ForeignDatabaseError, match="trigger trap_agents on agents"):
        Store(trapped).init()


EXFILTRATING = """
CREATE TRIGGER leak_memory AFTER INSERT ON memories BEGIN
    SELECT exfiltrate(NEW.content);
END;
CREATE VIEW memory_feed AS SELECT exfiltrate(content) AS sent FROM memories;
"""


def test_an_application_function_cannot_be_called_by_a_crafted_schema(tmp_path: Path) -> None:
    """A program registers its own SQL function on the store's connections; the file's
    trigger and view try to send every memory through it."""
    leaked: list[str] = []

    def exfiltrate(value: str) -> int:
        leaked.append(value)
        return 1

    # The control: on a plain connection (trusted_schema on, SQLite's default) the trap works.
    control = copy_reference(REF34, tmp_path)
    execute_script(control, EXFILTRATING)
    con = sqlite3.connect(control)
    con.create_function("exfiltrate", 1, exfiltrate)
    con.executescript(
        """
        CREATE TEMP TABLE one AS SELECT * FROM memories LIMIT 1;
        UPDATE one SET id = 'control-id', content = 'control secret';
        INSERT INTO memories SELECT * FROM one;
        """
    )
    assert leaked == ["control secret"]  # the trigger sent it
    sent = con.execute("SELECT sent FROM memory_feed").fetchall()
    con.close()
    assert len(sent) == 4 and leaked.count("control secret") == 2  # and the view sent all
    leaked.clear()

    (tmp_path / "crafted").mkdir()
    crafted = adopted(tmp_path / "crafted")  # init() would refuse the file with them
    execute_script(crafted, EXFILTRATING)
    with Store(crafted) as store:
        assert store.init().action == "current"

        @event.listens_for(store.engine, "connect")
        def register(dbapi_connection, record) -> None:  # what the application does
            dbapi_connection.create_function("exfiltrate", 1, exfiltrate)

        with pytest.raises(OperationalError, match=r"unsafe use of exfiltrate\(\)"):  # noqa: SIM117
            with store.session() as session:
                session.add(Memory(content="user secret", agent_id="a", namespace="n"))
        with pytest.raises(OperationalError, match=r"unsafe use of exfiltrate\(\)"):  # noqa: SIM117
            with store.session(readonly=True) as session:
                session.exec(text("SELECT * FROM memory_feed")).all()  # type: ignore[call-overload]
        with store.session(readonly=True) as session:  # the function itself stays usable
            assert session.exec(text("SELECT exfiltrate('direct')")).one() == (1,)  # type: ignore[call-overload]
    assert leaked == ["direct"]  # only the application's own, direct call
