"""Shared fixtures. The real ~/.tmws is never touched: every test gets its own TMWS_HOME."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tmws_store import Store

from ._postgres import PostgresServer, fresh_database
from .helpers import REF34, REF42, copy_reference


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
    """A fresh, initialised store on each back end: a file, then a new PostgreSQL database."""
    if request.param == "postgresql":
        opened = Store(url=request.getfixturevalue("postgres_url"))
    else:
        opened = Store(tmp_path / "tmws.db")
    with opened as store:
        store.init()
        yield store


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
    use and stopped, its directory deleted, at the end. No server installed: an error, no skip."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL (postgresql+psycopg) of a new empty database, dropped after the test."""
    with fresh_database(postgres_server) as url:
        yield url
