"""The pytest plugin shipped with the package, tested in separate pytest runs (``pytester``).

Each run is a subprocess, so the plugin is loaded the way users get it: through the
``pytest11`` entry point of the installed package, not through this project's conftest.
"""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Settings of the inner runs: warnings are errors, so an unclosed connection or an event
# loop problem in a fixture's teardown fails the run instead of scrolling past.
RUN_OPTIONS = ("-p", "no:cacheprovider", "-W", "error")


@pytest.fixture
def home(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME for the inner run, with no TMWS_HOME: ``Store()`` would use home/.tmws."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # after pytester's own HOME; the run inherits it
    monkeypatch.delenv("TMWS_HOME", raising=False)
    monkeypatch.delenv("TMWS_DATABASE_URL", raising=False)
    return home


def ini(pytester: pytest.Pytester, mode: str = "strict") -> None:
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    )


def run_inner(
    pytester: pytest.Pytester, test_source: str, *options: str, mode: str = "strict"
) -> pytest.RunResult:
    """Run ``test_source`` as the inner run's test file, in a new process, with the settings
    of RUN_OPTIONS (and ``options``) and pytest-asyncio's ``mode``."""
    ini(pytester, mode)
    pytester.makepyfile(test_source)
    return pytester.runpytest_subprocess(*RUN_OPTIONS, *options)


@pytest.mark.slow
def test_fixtures_give_fresh_current_isolated_stores(pytester: pytest.Pytester, home) -> None:
    result = run_inner(
        pytester,
        """
        import sqlite3
        from sqlmodel import select
        from tmws_store import Agent, TMWSModel

        def tables(path):
            con = sqlite3.connect(path)
            try:
                rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                return {row[0] for row in rows}
            finally:
                con.close()

        def test_current_and_complete(tmws_store):
            assert tmws_store.init().action == "current"
            assert tables(tmws_store.path) == set(TMWSModel.metadata.tables)
            assert tmws_store.verify().ok

        def test_write(tmws_session):
            tmws_session.add(Agent(agent_id="a", display_name="A"))

        def test_next_test_does_not_see_it(tmws_session):
            assert tmws_session.exec(select(Agent)).all() == []

        def test_factory_gives_distinct_files(tmws_store_factory, tmws_store):
            one, two = tmws_store_factory("one"), tmws_store_factory("two")
            assert len({one.path, two.path, tmws_store.path}) == 3
            with one.session() as session:
                session.add(Agent(agent_id="only-in-one", display_name="One"))
            with two.session() as session:
                assert session.exec(select(Agent)).all() == []
            assert tables(two.path) == set(TMWSModel.metadata.tables)
        """,
    )
    result.assert_outcomes(passed=4)
    assert not (home / ".tmws").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_async_session_works_in_both_pytest_asyncio_modes(
    pytester: pytest.Pytester, home, mode: str
) -> None:
    result = run_inner(
        pytester,
        """
        import pytest
        from sqlmodel import select
        from tmws_store import Agent, Memory

        @pytest.mark.asyncio
        async def test_async(tmws_async_session):
            tmws_async_session.add(Agent(agent_id="b", display_name="B"))
            tmws_async_session.add(Memory(content="hello", agent_id="b", namespace="t"))
            await tmws_async_session.flush()
            memories = (await tmws_async_session.exec(select(Memory))).all()
            assert [m.content for m in memories] == ["hello"]

        @pytest.mark.asyncio
        async def test_async_sessions_of_the_store_itself(tmws_store):
            # Connections opened here are closed by the fixture's sync teardown.
            async with tmws_store.async_session() as session:
                session.add(Agent(agent_id="c", display_name="C"))
            async with tmws_store.async_session(readonly=True) as session:
                assert len((await session.exec(select(Agent))).all()) == 1
        """,
        mode=mode,
    )
    result.assert_outcomes(passed=2)
    assert not (home / ".tmws").exists()


@pytest.mark.slow
def test_sessions_commit_after_a_pass_and_roll_back_after_a_failure(
    pytester: pytest.Pytester, home
) -> None:
    result = run_inner(
        pytester,
        """
        import sqlite3
        import pytest
        from tmws_store import Agent

        PATHS = {}

        def count(path):
            con = sqlite3.connect(path)
            try:
                return con.execute("SELECT count(*) FROM agents").fetchone()[0]
            finally:
                con.close()

        def test_passes(tmws_store, tmws_session):
            PATHS["passed"] = tmws_store.path
            tmws_session.add(Agent(agent_id="a", display_name="A"))

        def test_fails(tmws_store, tmws_session):
            PATHS["failed"] = tmws_store.path
            tmws_session.add(Agent(agent_id="a", display_name="A"))
            tmws_session.flush()
            raise RuntimeError("boom")

        @pytest.mark.asyncio
        async def test_fails_async(tmws_store, tmws_async_session):
            PATHS["failed async"] = tmws_store.path
            tmws_async_session.add(Agent(agent_id="a", display_name="A"))
            await tmws_async_session.flush()
            raise RuntimeError("boom")

        def test_what_was_kept():
            assert {name: count(path) for name, path in PATHS.items()} == {
                "passed": 1, "failed": 0, "failed async": 0
            }
        """,
    )
    result.assert_outcomes(passed=2, failed=2)
    assert not (home / ".tmws").exists()


@pytest.mark.slow
def test_no_fixture_is_autouse(pytester: pytest.Pytester, home) -> None:
    result = run_inner(
        pytester,
        """
        from tmws_store import pytest_plugin

        def test_nothing_requested(request):
            assert not set(pytest_plugin.__all__) & set(request.fixturenames)
        """,
        "--basetemp",
        str(pytester.path / "t"),
    )
    result.assert_outcomes(passed=1)
    # Not even the session-wide template was built for a run that asked for no store.
    assert not list((pytester.path / "t").glob("tmws-template*"))
    assert not (home / ".tmws").exists()


@pytest.mark.slow
def test_the_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures")
    for name in ("tmws_store", "tmws_session", "tmws_async_session", "tmws_store_factory"):
        result.stdout.fnmatch_lines([f"{name}*"])
    result.stdout.fnmatch_lines(["*committed after a passing test*"])


@pytest.mark.slow
def test_factory_refuses_odd_or_repeated_names(pytester: pytest.Pytester, home) -> None:
    result = run_inner(
        pytester,
        """
        import pytest

        def test_names(tmws_store_factory):
            tmws_store_factory("same")
            with pytest.raises(FileExistsError):
                tmws_store_factory("same")
            with pytest.raises(ValueError, match="plain file name"):
                tmws_store_factory("../elsewhere")
        """,
    )
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_fixtures_ignore_tmws_encryption_setting(
    pytester: pytest.Pytester, home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``TMWS_DB_ENCRYPTION_ENABLED=true`` (TMWS's own setting, set in a user's shell) must
    neither refuse the fixtures' plain stores nor make them read the user's key file."""
    monkeypatch.setenv("TMWS_DB_ENCRYPTION_ENABLED", "true")
    result = run_inner(
        pytester,
        """
        from tmws_store import Agent

        def test_store(tmws_store):
            assert tmws_store.init().action == "current"

        def test_session(tmws_session):
            tmws_session.add(Agent(agent_id="a", display_name="A"))

        def test_factory(tmws_store_factory):
            assert tmws_store_factory("other").init().action == "current"
        """,
    )
    result.assert_outcomes(passed=3)
    assert not (home / ".tmws").exists()


@pytest.mark.slow
def test_a_session_fixture_that_cannot_commit_says_why_as_a_store_error(
    pytester: pytest.Pytester, home
) -> None:
    """The commit after a passing test fails on a duplicate key: the teardown error is
    UniqueViolationError, one line without the row's values, not the driver's IntegrityError."""
    result = run_inner(
        pytester,
        """
        import pytest
        from tmws_store import Agent

        def test_sync(tmws_session):
            tmws_session.add(Agent(agent_id="a", display_name="secret-name-1"))
            tmws_session.add(Agent(agent_id="a", display_name="secret-name-2"))

        @pytest.mark.asyncio
        async def test_async(tmws_async_session):
            tmws_async_session.add(Agent(agent_id="a", display_name="secret-name-1"))
            tmws_async_session.add(Agent(agent_id="a", display_name="secret-name-2"))
        """,
        "--tb=line",
    )
    result.assert_outcomes(passed=2, errors=2)
    output = result.stdout.str()
    assert output.count("UniqueViolationError") >= 2
    assert "IntegrityError" not in output
    assert "secret-name" not in output
