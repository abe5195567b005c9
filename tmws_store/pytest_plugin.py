"""pytest fixtures for code that uses tmws_store (loaded through the ``pytest11`` entry point).

- ``tmws_store``: a fresh, initialised ``Store`` in the test's temp dir, closed afterwards.
- ``tmws_session``: a sync session on that store, committed after a passing test and rolled
  back after a failing one.
- ``tmws_async_session``: the same on aiosqlite, for ``async def`` tests. It needs
  pytest-asyncio; in its default strict mode, mark the test ``@pytest.mark.asyncio`` (an
  unmarked one fails at setup with a message saying so).
- ``tmws_store_factory``: call it for as many fresh stores as a test needs.

No fixture is autouse, and none touches the real ``~/.tmws``: every store is a file in the
test's own temp dir. (Code under test that calls ``Store()`` with no path still uses
``TMWS_HOME`` or ``~/.tmws``; point ``TMWS_HOME`` at ``tmp_path`` with ``monkeypatch`` or
hand that code ``tmws_store``.)

Each fresh store is the image ``Store.init()`` places for a missing file (built once per
process, in memory, from the DDL snapshot): writing 1.3 MB instead of creating 42 tables and
their indexes. Test stores skip the fsyncs: they need no durability.

A session fixture keeps one transaction open for the whole test, and writes take SQLite's
write lock. A test that also writes through ``tmws_store.session()`` while that transaction
holds the lock waits for it (then fails after the busy timeout): write through one of them.
"""

import inspect
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session

from .backends.sqlite.image import place_image, place_scratch_copy
from .store import Store

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

# pytest-asyncio runs an async fixture declared with plain @pytest.fixture only in its "auto"
# mode; in the default strict mode the test would fail. Its own decorator works in both.
# Without pytest-asyncio, pytest itself says that nothing can run the fixture.
if TYPE_CHECKING:
    from pytest_asyncio import fixture as _async_fixture
else:
    try:
        from pytest_asyncio import fixture as _async_fixture
    except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
        _async_fixture = pytest.fixture

__all__ = [
    "tmws_async_session",
    "tmws_session",
    "tmws_store",
    "tmws_store_factory",
    "tmws_template",
]

# Set on each test item: did the test body raise? Its sessions then roll back, not commit.
_TEST_RAISED = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Record whether the test body raised (failure, error, xfail or skip inside the test)."""
    if call.when == "call":
        item.stash[_TEST_RAISED] = call.excinfo is not None


def _test_raised(request: pytest.FixtureRequest) -> bool:
    # No record means the body never ran (another fixture failed first): do not commit.
    raised: bool = request.node.stash.get(_TEST_RAISED, True)
    return raised


@pytest.fixture(scope="session")
def tmws_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A current, empty store file, made once per test session from the fresh-store image.

    Kept for tests that copy it themselves; the fixtures below copy a private one.
    """
    path = tmp_path_factory.mktemp("tmws-template") / "tmws.db"
    place_image(path, durable=False)
    return path


@pytest.fixture(scope="session")
def _tmws_image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh-store image as a file, which each fresh store is a kernel copy of.

    Apart from ``tmws_template``, which tests may use as they like: a test writing into this
    one would change every store made after it. Read-only (0400) against such a write by
    mistake; each store checks that the copy has the image's size.
    """
    path = tmp_path_factory.mktemp("tmws-image") / "image.db"
    place_image(path, durable=False)
    path.chmod(0o400)
    return path


def _fresh_store(folder: Path, image: Path, name: str = "tmws", **store_kwargs: Any) -> Store:
    """A fresh, initialised store at ``<folder>/<name>.db``: a copy of the image file, or an
    encrypted one made by init() itself (the image is plain bytes)."""
    if not name or Path(name).name != name:
        raise ValueError(f"store name {name!r} must be a plain file name, without folders")
    path = folder / f"{name}.db"
    taken = FileExistsError(f"a store named {name!r} exists already in this test")
    if store_kwargs.get("encrypted") or store_kwargs.get("key") is not None:
        if path.exists():
            raise taken
        # A key of its own: never the user's key file.
        store_kwargs.setdefault("key", secrets.token_hex(32))
    elif not place_scratch_copy(path, image):  # private (0600), as init() makes it
        raise taken
    else:
        # A plain copy, opened as one: TMWS_DB_ENCRYPTION_ENABLED=true in the environment
        # (TMWS's own setting) would otherwise refuse it, and look for the user's key file.
        store_kwargs.setdefault("encrypted", False)
    store = Store(path, **store_kwargs)
    store.init()  # the warm path: two numbers read from the file header
    return store


@pytest.fixture
def tmws_store_factory(tmp_path: Path, _tmws_image_file: Path) -> Iterator[Callable[..., Store]]:
    """Make fresh stores: ``tmws_store_factory()`` or ``tmws_store_factory("name")``.

    Each is ``<tmp_path>/<name>.db``, initialised; keyword arguments go to ``Store`` (such as
    ``busy_timeout``); ``encrypted=True`` makes an encrypted one, keyed with a random key
    unless ``key`` is given. All are closed when the test ends.
    """
    made: list[Store] = []

    def make(name: str = "tmws", **store_kwargs: Any) -> Store:
        made.append(_fresh_store(tmp_path, _tmws_image_file, name, **store_kwargs))
        return made[-1]

    yield make
    for store in made:
        # A sync close also closes aiosqlite connections the test opened (in a loop of its
        # own, since the test's loop has stopped by now).
        store.close()


@pytest.fixture
def tmws_store(tmp_path: Path, _tmws_image_file: Path) -> Iterator[Store]:
    """A fresh, initialised store in the test's temp dir (``tmws.db``), closed after the test.

    Made as ``tmws_store_factory()`` makes one, without that fixture: a layer fewer to set up.
    """
    store = _fresh_store(tmp_path, _tmws_image_file)
    yield store
    store.close()  # as the factory's: also any aiosqlite connections the test left open


@pytest.fixture
def tmws_session(tmws_store: Store, request: pytest.FixtureRequest) -> Iterator[Session]:
    """A sync session on ``tmws_store``: committed after a passing test, rolled back otherwise.

    Call ``flush()`` to send pending changes before querying what the test just added.
    """
    # store.session() commits at the end, and says why a commit failed as a StoreError
    # (a constraint, a full disk), as it does for any caller.
    with tmws_store.session() as session:
        yield session
        if _test_raised(request):
            session.rollback()  # the commit that follows has nothing left to write


def _require_asyncio_mark(request: pytest.FixtureRequest) -> None:
    """Fail an ``async def`` test that pytest-asyncio will not run, saying what it lacks.

    In strict mode (pytest-asyncio's default) only tests marked ``@pytest.mark.asyncio`` are
    run on an event loop; auto mode marks every ``async def`` test itself. Unmarked, the test
    would fail after this fixture with pytest's "async def functions are not natively
    supported", which names neither the mark nor the mode.
    """
    test = getattr(request.node, "obj", None)
    if inspect.iscoroutinefunction(test) and request.node.get_closest_marker("asyncio") is None:
        pytest.fail(
            f"{request.node.nodeid} uses tmws_async_session but is not marked "
            "@pytest.mark.asyncio, so pytest-asyncio (strict mode) will not run it: add "
            "@pytest.mark.asyncio to the test, or set asyncio_mode = auto",
            pytrace=False,
        )


@_async_fixture
async def tmws_async_session(
    tmws_store: Store, request: pytest.FixtureRequest
) -> AsyncIterator["AsyncSession"]:
    """An async (aiosqlite) session on ``tmws_store``: the twin of ``tmws_session``.

    Needs pytest-asyncio; in its strict mode (the default) mark the test
    ``@pytest.mark.asyncio``. Committed after a passing test, rolled back otherwise.
    """

    _require_asyncio_mark(request)

    try:
        async with tmws_store.async_session() as session:  # as tmws_session's, async
            yield session
            if _test_raised(request):
                await session.rollback()
    finally:
        # Close the aiosqlite connections here, in the loop that opened them, rather than
        # in the factory's sync teardown after this loop has stopped.
        await tmws_store.aclose()
