"""The pytest plugin shipped with the package, tested with pytester in isolated runs."""

import pytest

pytest_plugins = ["pytester"]


def test_fixtures_give_fresh_current_isolated_stores(
    pytester: pytest.Pytester, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # the run below inherits it
    monkeypatch.delenv("TMWS_HOME", raising=False)
    pytester.makepyfile(
        """
        import sqlite3
        from sqlmodel import select
        from tmws_store import Agent, TMWSModel

        def test_current(tmws_store):
            assert tmws_store.init().action == "current"
            con = sqlite3.connect(tmws_store.path)
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            assert names == set(TMWSModel.metadata.tables)

        def test_write(tmws_session):
            tmws_session.add(Agent(agent_id="a", display_name="A"))

        def test_not_shared(tmws_session):
            assert tmws_session.exec(select(Agent)).all() == []

        def test_factory(tmws_store_factory):
            one, two = tmws_store_factory(), tmws_store_factory("two")
            assert one.path != two.path and one.path.parent == two.path.parent

        async def test_async(tmws_async_session):
            tmws_async_session.add(Agent(agent_id="b", display_name="B"))
            await tmws_async_session.flush()
            assert len((await tmws_async_session.exec(select(Agent))).all()) == 1
        """
    )
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    assert not (home / ".tmws").exists()


def test_no_fixture_is_autouse(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_nothing_requested(request):
            assert not {"tmws_store", "tmws_session", "tmws_template"} & set(request.fixturenames)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_failing_test_does_not_commit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sqlite3
        import pytest
        from tmws_store import Agent

        PATHS = []

        def test_fails(tmws_store, tmws_session):
            PATHS.append(tmws_store.path)
            tmws_session.add(Agent(agent_id="a", display_name="A"))
            tmws_session.flush()
            raise RuntimeError("boom")

        def test_nothing_was_committed():
            con = sqlite3.connect(PATHS[0])
            assert con.execute("SELECT count(*) FROM agents").fetchone() == (0,)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
