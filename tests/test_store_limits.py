"""Limits of one ``Store`` in one process: how long it waits, how many sessions it serves at
once, and threads that open their first sessions together.

Each is provoked for real: busy_timeout values SQLite cannot keep, more open sessions than
the pool has connections, and eight threads released at once by a barrier.
"""

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlmodel import func, select

from tmws_store import Agent, DatabaseLockedError, Store
from tmws_store.store import MAX_BUSY_TIMEOUT


@pytest.mark.parametrize("value", [float("nan"), float("inf"), MAX_BUSY_TIMEOUT + 1, -0.5])
def test_a_busy_timeout_sqlite_cannot_keep_is_refused_naming_it(value: float) -> None:
    with pytest.raises(ValueError, match="busy_timeout must be from 0 to 2,147,483 seconds"):
        Store("unused.db", busy_timeout=value)


def test_the_longest_busy_timeout_works(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db", busy_timeout=MAX_BUSY_TIMEOUT) as store:
        store.init()
        with store.session() as session:
            session.add(Agent(agent_id="a", display_name="A"))
        with store.session(readonly=True) as session:
            assert session.exec(select(Agent.agent_id)).all() == ["a"]


def test_more_sessions_than_connections_wait_busy_timeout_then_say_so(tmp_path: Path) -> None:
    """The pool keeps 15 connections; the 16th open session waits busy_timeout (not
    SQLAlchemy's own 30 s) and gets a DatabaseLockedError, not SQLAlchemy's TimeoutError."""
    with Store(tmp_path / "t.db", busy_timeout=0.3) as store:
        store.init()
        with ExitStack() as open_sessions:
            for _ in range(15):  # read-only: write sessions would wait for the write lock
                session = open_sessions.enter_context(store.session(readonly=True))
                session.exec(select(Agent)).all()  # holds its connection until closed
            began = time.monotonic()
            with (
                pytest.raises(DatabaseLockedError, match="no free connection within busy"),
                store.session(readonly=True) as session,
            ):
                session.exec(select(Agent)).all()
            assert 0.25 < time.monotonic() - began < 10
        with store.session() as session:  # all given back: the store works on
            session.add(Agent(agent_id="a", display_name="A"))


def descriptors_on(path: Path) -> int:
    """How many of this process's descriptors are open on ``path``, its -wal or -shm."""
    names = {str(path), f"{path}-wal", f"{path}-shm"}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(f"/proc/self/fd/{fd}") in names
    return count


# The child runs descriptors_on (above) too: its imports and source come before this script.
CHILD_IMPORTS = "import contextlib, os\nfrom pathlib import Path\n"
FIRST_SESSIONS_AT_ONCE = """
import sys, threading
from tmws_store import Store

path = sys.argv[1]
store = Store(path)
start = threading.Barrier(8)

def first_session():
    start.wait()
    with store.session() as session:  # its first use imports sqlmodel and makes the engine
        session.connection()  # checks one out of the pool, kept there after the block

threads = [threading.Thread(target=first_session) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
opened = descriptors_on(path)
store.close()
print(opened, descriptors_on(path))
"""


def test_threads_opening_their_first_sessions_at_once_share_one_engine(tmp_path: Path) -> None:
    """In a new process, where the first session also imports sqlmodel: each thread making an
    engine of its own, close() closed only the last one's connections, and the others' stayed
    open on the file."""
    path = tmp_path / "t.db"
    Store(path).init()
    done = subprocess.run(
        [sys.executable, "-c", CHILD_IMPORTS + inspect.getsource(descriptors_on)
         + FIRST_SESSIONS_AT_ONCE, str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    opened, after_close = map(int, done.stdout.split())
    assert opened > 0
    assert after_close == 0


def test_one_store_serves_async_sessions_in_one_event_loop_after_another(tmp_path: Path) -> None:
    """As pytest-asyncio's loop per test with a module's store: once sessions in the first
    loop had waited for a pooled connection, SQLAlchemy's pool was bound to that loop, and
    every later loop's sessions failed with "bound to a different event loop"."""
    path = tmp_path / "t.db"
    store = Store(path)
    store.init()

    async def one_session() -> None:
        async with store.async_session(readonly=True) as session:
            await session.exec(select(func.count()).select_from(Agent))
            await asyncio.sleep(0.02)  # held, so that the next ones wait for the pool

    async def many_at_once() -> list[BaseException]:
        done = await asyncio.gather(*(one_session() for _ in range(20)), return_exceptions=True)
        return [error for error in done if isinstance(error, BaseException)]

    for _ in range(3):
        assert asyncio.run(many_at_once()) == []
    store.close()
    assert descriptors_on(path) == 0  # the engines of earlier loops were closed too
