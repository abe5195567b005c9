"""pytest fixtures for code that uses tmws_store (loaded through the ``pytest11`` entry point).

- ``tmws_store``: a fresh, initialised ``Store`` in the test's temp dir, closed afterwards.
- ``tmws_session`` / ``tmws_async_session``: a session on that store, committed after a
  passing test and rolled back after a failing one.
- ``tmws_store_factory``: call it for as many fresh stores as a test needs.

No fixture is autouse, and none touches the real ``~/.tmws``. The schema is built once per
test session into a template file; each fresh store is a copy of it, which costs a file copy
instead of 42 CREATE TABLEs.
"""

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session

from .store import Store

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = [
    "tmws_async_session",
    "tmws_session",
    "tmws_store",
    "tmws_store_factory",
    "tmws_template",
]


@pytest.fixture(scope="session")
def tmws_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A current, empty store file built once per test session; copied, never used directly."""
    path = tmp_path_factory.mktemp("tmws-template") / "tmws.db"
    with Store(path) as store:
        store.init()
    # A clean close checkpoints the WAL into the main file, so the main file alone is whole.
    assert not Path(f"{path}-wal").exists(), "template WAL was not checkpointed"
    return path


@pytest.fixture
def tmws_store_factory(tmws_template: Path, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Make fresh stores: ``tmws_store_factory()`` or ``tmws_store_factory("name")``."""
    made: list[Store] = []

    def make(name: str = "tmws", **store_kwargs: object) -> Store:
        path = tmp_path / f"{name}.db"
        if path.exists():
            raise FileExistsError(f"a store named {name!r} exists already in this test")
        shutil.copyfile(tmws_template, path)
        path.chmod(0o600)
        store = Store(path, **store_kwargs)  # type: ignore[arg-type]
        store.init()  # the warm path: two header reads
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def tmws_store(tmws_store_factory: Callable[..., Store]) -> Store:
    """A fresh, initialised store in the test's temp dir."""
    return tmws_store_factory()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Remember whether the test itself failed, so its session rolls back instead of committing."""
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def tmws_session(tmws_store: Store, request: pytest.FixtureRequest) -> Iterator[Session]:
    """A sync session on ``tmws_store``: committed after a passing test, rolled back otherwise."""
    tmws_store.init()
    session = Session(tmws_store.engine, expire_on_commit=False)
    try:
        yield session
        if request.node.stash.get(_FAILED, True):
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()


@pytest.fixture
async def tmws_async_session(
    tmws_store: Store, request: pytest.FixtureRequest
) -> AsyncIterator["AsyncSession"]:
    """The async (aiosqlite) twin of ``tmws_session``; needs pytest-asyncio."""
    from sqlmodel.ext.asyncio.session import AsyncSession

    tmws_store.init()
    session = AsyncSession(tmws_store.async_engine, expire_on_commit=False)
    try:
        yield session
        if request.node.stash.get(_FAILED, True):
            await session.rollback()
        else:
            await session.commit()
    finally:
        await session.close()
        await tmws_store.aclose()
