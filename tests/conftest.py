"""Shared fixtures. The real ~/.tmws is never touched: every test gets its own TMWS_HOME."""

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tmws_store import Store

from ._postgres import RUNNING_SERVER_PORT, PostgresServer, fresh_database
from .helpers import REF34, REF42, copy_reference, small_tmpfs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the PostgreSQL server is ``slow``: starting the server and making a
    database per test costs the everyday loop (``pytest -m "not slow"``, SQLite only) most of
    its time. CI runs them all."""
    for item in items:
        # A back end chosen by a parameter takes the server only at run time (getfixturevalue).
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and "postgresql" in callspec.params.values()
        if on_postgres or "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point HOME and TMWS_HOME at temp dirs so no test can reach the real ~/.tmws."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMWS_HOME", str(home / ".tmws"))
    monkeypatch.delenv("TMWS_DATABASE_URL", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An initialised store on a fresh file in the test's temp dir."""
    with Store(tmp_path / "tmws.db") as s:
        s.init()
        yield s


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, initialised store on each back end: a file, then a new PostgreSQL database
    (a copy of one that ``init()`` made: its own init() finds it current)."""
    if request.param == "postgresql":
        opened = Store(url=request.getfixturevalue("postgres_store_url"))
    else:
        opened = Store(tmp_path / "tmws.db")
    with opened as store:
        store.init()
        yield store


@pytest.fixture
def current(tmp_path: Path) -> Path:
    """A closed store file at the current schema version, in the test's temp dir."""
    path = tmp_path / "tmws.db"
    with Store(path) as store:
        store.init()
    return path


@pytest.fixture
def ref42_copy(tmp_path: Path) -> Path:
    """A temp copy of the complete 42-table TMWS reference database."""
    return copy_reference(REF42, tmp_path)


@pytest.fixture
def ref34_copy(tmp_path: Path) -> Path:
    """A temp copy of the 34-table pre-fix TMWS reference database."""
    return copy_reference(REF34, tmp_path)


# --- PostgreSQL: a real server that the run starts itself (tests/_postgres.py) -----------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server (tests/_postgres.py) for the whole run, started on first
    use and stopped, its directory deleted, at the end. No server installed: an error, no skip.

    In a child pytest that a test runs (``RUNNING_SERVER_PORT`` set), the parent's server."""
    port = os.environ.get(RUNNING_SERVER_PORT)
    if port:
        yield PostgresServer.running_at(int(port))
        return
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL (postgresql+psycopg) of a new empty database, dropped after the test."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_store_template(postgres_server: PostgresServer) -> str:
    """The name of a database holding a store that ``init()`` made, once per run, to be copied.

    Tests of creation itself take ``postgres_url`` (an empty database); the others start from
    this copy. Nothing connects to it after init(): PostgreSQL copies only an idle template.
    """
    url = postgres_server.create_database()
    with Store(url=url) as made:
        made.init()
    return url.rsplit("/", 1)[1]


@pytest.fixture
def postgres_store_url(
    postgres_server: PostgresServer, postgres_store_template: str
) -> Iterator[str]:
    """The URL of a new database that holds a current, empty store, dropped after the test."""
    with fresh_database(postgres_server, postgres_store_template) as url:
        yield url


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """Mount tiny tmpfs file systems under tmp_path (helpers.small_tmpfs); each is unmounted
    afterwards."""
    with ExitStack() as mounted:

        def mount(name: str, size: int) -> Path:
            return mounted.enter_context(small_tmpfs(tmp_path / name, size))

        yield mount
