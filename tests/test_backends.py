"""The same behaviour on both back ends: a SQLite file and a real PostgreSQL database.

Each test taking ``any_store`` runs twice, once per back end, on a fresh store. The
PostgreSQL server is a throwaway one the run starts itself (tests/_postgres.py). What only
one back end has (SQLite's file header, PostgreSQL's stamp comment and native types) is
tested below the shared part, and in the SQLite-specific files.
"""

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy import event, func, inspect, select

from tmws_store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    Agent,
    DatabaseLockedError,
    ForeignDatabaseError,
    Memory,
    NewerSchemaError,
    ReadOnlyStoreError,
    Store,
    StoreError,
    Task,
    TaskPriority,
    TMWSModel,
)
from tmws_store.backends.postgresql import STAMP_TABLE, stamp_text

from ._procs import INIT_IMPORTS, Workers
from .helpers import (
    INIT_WORKER,
    TMWS_TABLES,
    psql,
    reference_rows_by_table,
    table_names,
)

BACKENDS = ["sqlite", "postgresql"]


def open_store(target: str) -> Store:
    return Store(url=target) if "://" in target else Store(target)


@pytest.fixture(params=BACKENDS)
def any_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store goes: a file path, or the URL of an empty PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "tmws.db")


@pytest.fixture
def any_store(any_target: str) -> Iterator[Store]:
    """A fresh, initialised store on each back end."""
    with open_store(any_target) as store:
        store.init()
        yield store


def count(store: Store, model: type[TMWSModel]) -> int:
    with store.session(readonly=True) as session:
        return session.exec(select(func.count()).select_from(model)).one()[0]


# --- start-up -------------------------------------------------------------------------------

FRESH_INIT = textwrap.dedent(
    """
    import json, sys
    import tmws_store
    target = sys.argv[1]
    store = tmws_store.Store(url=target) if "://" in target else tmws_store.Store(target)
    report = store.init()
    print(json.dumps({"action": report.action, "created": sorted(report.tables_created)}))
    """
)


@pytest.mark.slow
def test_a_fresh_interpreter_creates_all_42_tables(any_target: str) -> None:
    # In a subprocess: inside this run every model module is imported already, which is how
    # TMWS's missing tables hid.
    out = subprocess.run(
        [sys.executable, "-c", FRESH_INIT, any_target], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result == {"action": "created", "created": sorted(TMWS_TABLES)}
    with open_store(any_target) as store:
        assert table_names(store) == TMWS_TABLES  # exactly 42: no bookkeeping table either
        assert store.init().action == "current"


def test_init_is_idempotent_and_keeps_rows(any_store: Store, any_target: str) -> None:
    with any_store.session() as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
    for _ in range(3):
        with open_store(any_target) as again:
            assert again.init().action == "current"
    assert count(any_store, Agent) == 1


@pytest.mark.slow
def test_eight_processes_starting_at_once_create_once(
    request: pytest.FixtureRequest, tmp_path: Path, any_target: str
) -> None:
    if "://" in any_target:
        server = request.getfixturevalue("postgres_server")
        targets = [any_target] + [server.create_database() for _ in range(2)]
    else:
        targets = [str(tmp_path / f"round{r}" / "tmws.db") for r in range(3)]
    (tmp_path / "sync").mkdir()
    (tmp_path / "sync" / "targets.json").write_text(json.dumps(targets))
    # PostgreSQL's init() compiles the DDL from the models: imported once, before the fork. A
    # fresh file is placed from the image, which needs none of it.
    preload = INIT_IMPORTS if "://" in any_target else None
    workers = Workers(INIT_WORKER, 8, tmp_path / "sync", preload=preload)
    for r, target in enumerate(targets):
        workers.release(f"round{r}")
        results = workers.results(f"round{r}")
        assert all(res["ok"] for res in results), results
        assert sorted(res["action"] for res in results) == ["created"] + ["current"] * 7
        with open_store(target) as store:
            assert table_names(store) == TMWS_TABLES
    workers.finish()


# --- the 42 models: TMWS's own rows through every model -------------------------------------

TABLE_ORDER = [t.name for t in TMWSModel.metadata.sorted_tables]
MODELS = {m.class_.__tablename__: m.class_ for m in TMWSModel._sa_registry.mappers}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def reference_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Every row of the complete TMWS reference database, as validated model data."""
    return reference_rows_by_table(tmp_path_factory.mktemp("ref"))


def parents_first(table: str, rows: list[dict]) -> list[dict]:
    """A table's rows with the ones that other rows of it refer to first."""
    refs = [
        fk.parent.key
        for fk in TMWSModel.metadata.tables[table].foreign_keys
        if fk.column.table.name == table
    ]
    return sorted(rows, key=lambda row: any(row.get(ref) for ref in refs))


def test_every_reference_row_round_trips_through_its_model(
    any_store: Store, reference_rows: dict[str, list[dict]]
) -> None:
    assert len(reference_rows) == 42 and all(reference_rows.values())
    for table in TABLE_ORDER:  # parents before children: foreign keys are enforced
        model = MODELS[table]
        with any_store.session() as session:
            for row in parents_first(table, reference_rows[table]):
                session.add(model.model_validate(row))
                session.flush()
    for table in TABLE_ORDER:
        model = MODELS[table]
        key = inspect(model).primary_key
        with any_store.session(readonly=True) as session:
            back = [row.model_dump() for row in session.scalars(select(model).order_by(*key))]
        expected = sorted(reference_rows[table], key=lambda r: tuple(r[c.key] for c in key))
        assert back == expected, table


# --- sessions ------------------------------------------------------------------------------


def test_a_failing_session_block_writes_nothing(any_store: Store) -> None:
    with pytest.raises(RuntimeError), any_store.session() as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
        session.flush()  # sent to the database, then rolled back
        raise RuntimeError("the agent crashed")
    assert count(any_store, Agent) == 0


def test_bad_values_are_refused_naming_the_field_and_nothing_is_written(any_store: Store) -> None:
    with pytest.raises(ValidationError, match="status") as caught, any_store.session() as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
        session.add(Agent(agent_id="ares", display_name="Ares", status="bogus"))
    assert "Agent" in str(caught.value)
    assert count(any_store, Agent) == 0


def test_datetimes_are_stored_as_the_same_instant_and_read_back_in_utc(any_store: Store) -> None:
    tokyo_noon = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=9)))
    with any_store.session() as session:
        agent = Agent(agent_id="athena", display_name="Athena", last_active_at=tokyo_noon)
        session.add(agent)
    with any_store.session(readonly=True) as session:
        back = session.get(Agent, agent.id)
    assert back is not None
    assert back.last_active_at == tokyo_noon
    assert back.last_active_at.tzinfo is UTC and back.last_active_at.hour == 3


def test_json_edits_in_place_and_enums_are_saved(any_store: Store) -> None:
    with any_store.session() as session:
        task = Task(title="t", description="d", tags=["a"], priority=TaskPriority.HIGH)
        session.add(task)
    with any_store.session() as session:
        loaded = session.get(Task, task.id)
        assert loaded is not None
        loaded.tags.append("edited")
        loaded.task_config["nested"] = {"deep": [1, 2.5, None, "x"]}
    with any_store.session(readonly=True) as session:
        final = session.get(Task, task.id)
    assert final is not None
    assert final.tags == ["a", "edited"]
    assert final.task_config == {"nested": {"deep": [1, 2.5, None, "x"]}}
    assert final.priority is TaskPriority.HIGH
    raw = "SELECT priority FROM tasks"
    with any_store.engine.connect() as conn:
        assert conn.exec_driver_sql(raw).scalar() == "high"  # the value, as TMWS stores it


def test_async_sessions_write_and_read(any_store: Store) -> None:
    from sqlmodel import select as sql_select

    async def main() -> list[str]:
        async with any_store.async_session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
        async with any_store.async_session(readonly=True) as session:
            names = (await session.exec(sql_select(Agent.display_name))).all()
        await any_store.aclose()
        return list(names)

    assert asyncio.run(main()) == ["Athena"]


def test_insert_many_validates_every_row_before_writing(any_store: Store) -> None:
    with any_store.session() as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
    rows = [{"content": f"m{i}", "agent_id": "athena", "namespace": "demo"} for i in range(500)]
    assert any_store.insert_many(Memory, rows) == 500
    rows[250]["access_level"] = "everyone"
    with pytest.raises(ValidationError, match="access_level") as caught:
        any_store.insert_many(Memory, rows)
    assert "in row 250" in "".join(caught.value.__notes__)
    assert count(any_store, Memory) == 500
    with any_store.session(readonly=True) as session:
        memory = session.exec(select(Memory).where(Memory.content == "m7")).one()[0]
    assert (memory.tags, memory.namespace, memory.created_at.tzinfo) == ([], "demo", UTC)


# --- PostgreSQL only -----------------------------------------------------------------------


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    with Store(url=postgres_url) as store:
        store.init()
        yield store


def test_postgresql_uses_native_types(pg_store: Store, postgres_url: str) -> None:
    types = dict(
        psql(
            postgres_url,
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema()",
        )
    )
    assert types["memories.tags"] == "jsonb"
    assert types["memories.metadata"] == "jsonb"
    assert types["memories.created_at"] == "timestamp with time zone"
    assert types["license_keys.id"] == "uuid"
    assert types["agents.id"] == "character varying"  # ids stay TMWS's strings
    assert "json" not in types.values() and "timestamp without time zone" not in types.values()


def test_the_stamp_is_a_comment_and_the_warm_path_is_one_query(
    pg_store: Store, postgres_url: str
) -> None:
    comment = psql(postgres_url, f"SELECT obj_description('{STAMP_TABLE}'::regclass)")
    assert comment == [(stamp_text(SCHEMA_VERSION),)]
    assert str(APPLICATION_ID) in comment[0][0]
    seen: list[str] = []
    with Store(url=postgres_url) as again:
        event.listen(again.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        assert again.init().action == "current"
    assert len(seen) == 1 and "pg_description" in seen[0], seen


def test_a_newer_schema_is_refused_untouched(pg_store: Store, postgres_url: str) -> None:
    with pg_store.session() as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
    newer = stamp_text(99)
    psql(postgres_url, f"COMMENT ON TABLE agents IS '{newer}'")
    with Store(url=postgres_url) as again, pytest.raises(NewerSchemaError, match="version 99"):
        again.init()
    assert psql(postgres_url, "SELECT obj_description('agents'::regclass)") == [(newer,)]
    assert psql(postgres_url, "SELECT agent_id FROM agents") == [("athena",)]


def test_another_programs_tables_are_refused_untouched(postgres_url: str) -> None:
    psql(postgres_url, "CREATE TABLE invoices (id int)", "INSERT INTO invoices VALUES (7)")
    with Store(url=postgres_url) as store, pytest.raises(ForeignDatabaseError, match="invoices"):
        store.init()
    assert psql(postgres_url, "SELECT id FROM invoices") == [(7,)]
    tables = psql(
        postgres_url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    assert tables == [("invoices",)]


def test_a_comment_that_is_not_our_stamp_is_refused(pg_store: Store, postgres_url: str) -> None:
    psql(postgres_url, "COMMENT ON TABLE agents IS 'owned by the billing service'")
    with Store(url=postgres_url) as again, pytest.raises(ForeignDatabaseError, match="billing"):
        again.init()


def test_a_held_lock_times_out_cleanly_and_creates_nothing(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (APPLICATION_ID,))  # as a starter would
        started = time.monotonic()
        store = Store(url=postgres_url, busy_timeout=0.5)
        with store, pytest.raises(DatabaseLockedError, match="busy timeout"):
            store.init()
        assert time.monotonic() - started < 5
    with Store(url=postgres_url) as store:
        assert table_names(store) == set()
        assert store.init().action == "created"


def test_read_only_sessions_refuse_writes(pg_store: Store) -> None:
    refused = pytest.raises(ReadOnlyStoreError, match="read-only")
    with refused, pg_store.session(readonly=True) as session:
        session.add(Agent(agent_id="athena", display_name="Athena"))
    assert count(pg_store, Agent) == 0


SLOW_PG_INIT = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import event
    import tmws_store.models  # loaded now: the kill window is init()'s alone
    from tmws_store import Store
    store = Store(url=sys.argv[1])
    def slow(conn, cursor, statement, *args):
        if statement.lstrip().startswith("CREATE"):
            print("creating", flush=True)
            time.sleep(0.02)
    event.listen(store.engine, "before_cursor_execute", slow)
    store.init()
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_kill_during_the_first_run_leaves_no_table(postgres_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_PG_INIT, postgres_url], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    # Ten CREATEs in (of about 250): tables made inside the open transaction. Counted, not
    # slept for: the kill lands at the same point however busy the machine is.
    for _ in range(10):
        assert child.stdout.readline().strip() == "creating"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with Store(url=postgres_url) as store:
        assert table_names(store) == set()  # the server rolled the whole transaction back
        assert store.init().action == "created"
        assert table_names(store) == TMWS_TABLES


@pytest.mark.slow
def test_without_psycopg_the_error_says_what_to_install(postgres_url: str) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"  # what an install without it looks like
        "from tmws_store import Store, StoreError\n"
        "try:\n    Store(url=sys.argv[1]).init()\n"
        "except StoreError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, postgres_url], capture_output=True, text=True)
    assert "pip install 'psycopg[binary]'" in out.stdout, out.stderr


def test_file_only_operations_say_so(pg_store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="PostgreSQL store"):
        pg_store.backup(tmp_path / "copy.db")
    with pytest.raises(StoreError, match="has no file"):
        _ = pg_store.path
    assert not (tmp_path / "copy.db").exists()


def test_verify_compares_the_schema_with_the_models_and_writes_nothing(
    postgres_url: str, capsys
) -> None:
    from tmws_store.cli import main

    with Store(url=postgres_url) as empty:  # never initialised: verify must not create
        report = empty.verify()
    assert (report.ok, len(report.missing_tables), report.application_id) == (False, 42, 0)
    assert psql(postgres_url, "SELECT count(*) FROM pg_class WHERE relkind = 'r' "
                "AND relnamespace = 'public'::regnamespace") == [(0,)]  # fmt: skip

    with Store(url=postgres_url) as store:
        store.init()
        report = store.verify()
    assert report.ok and report.ours and report.problems() == [], report.problems()
    assert (report.path, report.url, report.quick_check) == (None, postgres_url, None)
    assert main(["verify", "--db", postgres_url]) == 0
    assert capsys.readouterr().out == f"{postgres_url}: ok (42 tables)\n"

    psql(
        postgres_url,
        "DROP INDEX ix_memories_agent_id",
        "ALTER TABLE memories DROP COLUMN summary",
        "CREATE TABLE notes (id int)",
    )
    assert main(["verify", "--db", postgres_url]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{postgres_url}: 2 problems",
        "missing column memories.summary",
        "missing index ix_memories_agent_id",
    ]
    with Store(url=postgres_url) as store:
        assert store.verify().extra_tables == ["notes"]


def test_the_command_line_takes_a_postgresql_url(postgres_url: str, capsys) -> None:
    from tmws_store.cli import main

    with_password = postgres_url.replace("tmws@", "tmws:sekrit@")  # trust auth ignores it
    assert main(["init", "--db", with_password, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["action"], report["path"], len(report["tables_created"])) == (
        "created",
        None,
        42,
    )
    assert main(["--db", with_password, "init"]) == 0
    assert capsys.readouterr().out.endswith(f": current, schema version {SCHEMA_VERSION}\n")
    assert main(["path", "--db", with_password]) == 0
    hidden = postgres_url.replace("tmws@", "tmws:***@")
    assert capsys.readouterr().out == f"{hidden} (given as the url argument)\n"
    assert main(["status", "--db", with_password]) == 0  # the stamp and the tables
    captured = capsys.readouterr()
    assert "tables:         42 of 42\n" in captured.out
    assert f"schema version: {SCHEMA_VERSION}\n" in captured.out
    assert "size:" not in captured.out  # file facts only for a file
    assert "sekrit" not in captured.out + captured.err
    assert main(["backup", "--db", with_password]) == 2  # file-only: one clear line
    captured = capsys.readouterr()
    assert captured.err.startswith("tmws-store backup: ") and "PostgreSQL store" in captured.err
    assert "sekrit" not in captured.out + captured.err


def test_a_role_that_may_not_create_tables_is_told_so_and_nothing_is_made(
    postgres_url: str,
) -> None:
    role = f"reader_{postgres_url.rsplit('_', 1)[-1]}"  # roles are per server: one per test
    psql(postgres_url, f"CREATE ROLE {role} LOGIN", "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    as_reader = postgres_url.replace("//tmws@", f"//{role}@")
    try:
        with Store(url=as_reader) as store, pytest.raises(ReadOnlyStoreError, match="CREATE"):
            store.init()
        tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        assert psql(postgres_url, tables) == [(0,)]
    finally:
        psql(postgres_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_a_server_that_does_not_answer_is_one_clear_error(postgres_server) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://tmws:sekrit@127.0.0.1:{port}/tmws"
    with Store(url=url) as store, pytest.raises(StoreError) as failed:
        store.init()
    message = str(failed.value)
    assert f"127.0.0.1:{port}/tmws" in message and "refused" in message.lower()
    assert "sekrit" not in message


def test_a_schema_chosen_in_the_url_holds_the_store(postgres_url: str) -> None:
    psql(postgres_url, "CREATE SCHEMA team_a")
    in_team_a = f"{postgres_url}?options=-csearch_path%3Dteam_a"
    with Store(url=in_team_a, busy_timeout=2.5) as store:
        assert store.init().action == "created"
        with store.session() as session:
            session.add(Agent(agent_id="athena", display_name="Athena"))
        with store.engine.connect() as conn:  # the URL's options and ours both apply
            assert conn.exec_driver_sql("SHOW search_path").scalar() == "team_a"
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "2500ms"
    where = "SELECT table_schema, count(*) FROM information_schema.tables GROUP BY 1"
    counts = dict(psql(postgres_url, where))
    assert counts.get("team_a") == 42 and "public" not in counts
    assert psql(postgres_url, "SELECT agent_id FROM team_a.agents") == [("athena",)]
    with Store(url=postgres_url) as public:  # the same database, another schema: a new store
        assert public.init().action == "created"


def test_tables_this_role_cannot_see_still_make_the_schema_not_ours(postgres_url: str) -> None:
    role = f"app_{postgres_url.rsplit('_', 1)[-1]}"
    psql(
        postgres_url,
        f"CREATE ROLE {role} LOGIN",
        f"GRANT CREATE ON SCHEMA public TO {role}",
        "CREATE TABLE payroll (id int)",  # the superuser's, with no grant to the role
    )
    as_app = postgres_url.replace("//tmws@", f"//{role}@")
    try:
        with Store(url=as_app) as store, pytest.raises(ForeignDatabaseError, match="payroll"):
            store.init()
        names = (
            "SELECT relname FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        )
        assert psql(postgres_url, names) == [("payroll",)]
    finally:
        psql(postgres_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")
