"""Which file a Store uses, and why."""

from pathlib import Path

import pytest

from tmws_store import NotADatabaseError, Store, UnsupportedURLError
from tmws_store.paths import ServerLocation, resolve_location


def test_explicit_path_wins_over_environment(tmp_path: Path) -> None:
    env = {"TMWS_DATABASE_URL": "sqlite:////elsewhere/x.db", "TMWS_HOME": "/h"}
    loc = resolve_location(tmp_path / "a.db", environ=env)
    assert (loc.path, loc.source) == (tmp_path / "a.db", "argument")


def test_url_argument(tmp_path: Path) -> None:
    loc = resolve_location(url=f"sqlite:///{tmp_path}/u.db", environ={})
    assert (loc.path, loc.source) == (tmp_path / "u.db", "url argument")


def test_database_url_env_beats_tmws_home(tmp_path: Path) -> None:
    env = {"TMWS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/e.db", "TMWS_HOME": "/h"}
    loc = resolve_location(environ=env)
    assert (loc.path, loc.source) == (tmp_path / "e.db", "TMWS_DATABASE_URL")


def test_tmws_home(tmp_path: Path) -> None:
    loc = resolve_location(environ={"TMWS_HOME": str(tmp_path)})
    assert (loc.path, loc.source, loc.home) == (
        tmp_path / "data" / "tmws.db",
        "TMWS_HOME",
        tmp_path,
    )


def test_default_is_home_dot_tmws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    loc = resolve_location(environ={})
    assert (loc.path, loc.source) == (tmp_path / ".tmws" / "data" / "tmws.db", "default")
    assert "default location" in loc.describe()


def test_path_with_url_characters_stays_a_literal_path(tmp_path: Path) -> None:
    weird = tmp_path / "y.db?mode=ro&timeout=0"
    with Store(weird) as store:
        store.init()
    assert weird.is_file()
    assert not (tmp_path / "y.db").exists()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/tmws",
        "postgresql+asyncpg://localhost/tmws",
        "postgresql://localhost",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url",
    ],
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsupportedURLError, match="url argument"):
        resolve_location(url=url, environ={})


@pytest.mark.parametrize(
    "url", ["postgresql://me:secret@db/tmws", "postgresql+psycopg://me:secret@db/tmws"]
)
def test_postgresql_urls_name_a_server_with_the_psycopg_driver(url: str, monkeypatch) -> None:
    monkeypatch.setenv("TMWS_DATABASE_URL", url)
    location = resolve_location(environ=None)
    assert isinstance(location, ServerLocation)
    assert location.url.drivername == "postgresql+psycopg"
    assert (location.url.username, location.url.host, location.url.database) == ("me", "db", "tmws")
    assert "secret" not in location.describe()
    assert location.describe().endswith("(from the TMWS_DATABASE_URL environment variable)")


def test_empty_path_is_an_error_not_an_in_memory_database() -> None:
    with pytest.raises(NotADatabaseError, match="empty"):
        Store("")


def test_store_uses_tmws_home_and_makes_it_private(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "tmws-home"
    monkeypatch.setenv("TMWS_HOME", str(home))
    with Store() as store:
        store.init()
    assert store.path == home / "data" / "tmws.db"
    assert (home.stat().st_mode & 0o777, (home / "data").stat().st_mode & 0o777) == (0o700, 0o700)
