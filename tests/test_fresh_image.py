"""A fresh store is the finished image of an empty store, linked into place (issue #16).

The image must be exactly what the DDL makes, a crash must never leave part of it at the
target, and a file another process placed first must never be replaced.
"""

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tmws_store import SCHEMA_VERSION, StorageFullError, Store
from tmws_store.backends.sqlite import startup
from tmws_store.backends.sqlite.image import fresh_image, place_image, place_scratch_copy

from ._procs import Workers, model_table_names
from .helpers import identity, integrity, schema_of, small_tmpfs

# Header bytes that legitimately differ: the change counter (24-27) and the "version valid
# for" counter with the writing SQLite's version number (92-99) count the writes that made
# the file; the DDL path commits twice (WAL switch, schema), the image none.
_COUNTERS = {*range(24, 28), *range(92, 100)}


def header_pragmas(path: Path) -> dict[str, object]:
    """What a plain sqlite3 connection reads from the file without changing anything."""
    con = sqlite3.connect(path)
    try:
        return {
            name: con.execute(f"PRAGMA {name}").fetchone()[0]
            for name in (
                "application_id",
                "user_version",
                "journal_mode",  # read, never set: WAL must be persisted in the file
                "page_size",
                "auto_vacuum",
                "encoding",
                "freelist_count",
            )
        }
    finally:
        con.close()


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_the_image_is_what_the_ddl_makes(tmp_path: Path) -> None:
    by_ddl = tmp_path / "ddl.db"
    by_ddl.touch()  # an empty file takes the DDL path
    by_image = tmp_path / "image.db"
    assert Store(by_ddl).init().action == "created"
    report = Store(by_image).init()
    assert report.action == "created"
    assert by_image.read_bytes() == fresh_image()  # placed, not made by SQL
    assert schema_of(by_image) == schema_of(by_ddl)
    assert header_pragmas(by_image) == header_pragmas(by_ddl)
    assert header_pragmas(by_image)["journal_mode"] == "wal"
    image, ddl = by_image.read_bytes(), by_ddl.read_bytes()
    assert image[18:20] == ddl[18:20] == b"\x02\x02"  # WAL, as the file format says
    assert len(image) == len(ddl)
    assert [i for i in range(100) if image[i] != ddl[i] and i not in _COUNTERS] == []
    assert integrity(by_image) == "ok"


def test_a_missing_file_runs_no_sql_and_is_private(tmp_path: Path, monkeypatch) -> None:
    def no_connection(path: Path, busy_timeout: float) -> sqlite3.Connection:
        raise AssertionError("the image path opened a connection")

    monkeypatch.setattr(startup, "connect", no_connection)
    path = tmp_path / "new" / "folder" / "tmws.db"
    old_umask = os.umask(0o022)  # a usual umask: private modes must come from the store
    try:
        report = Store(path).init()
    finally:
        os.umask(old_umask)
    assert report.action == "created"
    assert report.schema_version == SCHEMA_VERSION
    assert set(report.tables_created) == model_table_names()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert partials(path.parent) == []
    monkeypatch.undo()
    assert Store(path).init().action == "current"


def test_a_file_placed_first_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "tmws.db"
    path.write_bytes(b"someone else's file")
    assert place_image(path) is False
    assert path.read_bytes() == b"someone else's file"
    assert partials(tmp_path) == []


def test_no_room_for_the_image_leaves_no_temporary_file(tmp_path: Path) -> None:
    """On a full file system the image cannot be written; the DDL path then reports it."""
    with small_tmpfs(tmp_path / "tiny", 256 * 1024) as point:
        path = point / "tmws.db"
        with pytest.raises(StorageFullError, match="disk is full"):
            Store(path).init()
        assert partials(point) == []


@pytest.mark.parametrize("template_on", ["the same file system", "another file system"])
def test_no_room_for_a_scratch_copy_leaves_no_file(tmp_path: Path, template_on: str) -> None:
    """The fixtures' copy of the 1.3 MB image on a full file system: a tmpfs with room for
    the template beside it but not a second image, or the template on the test's own disk."""
    same = template_on == "the same file system"
    with small_tmpfs(tmp_path / "tiny", (2048 if same else 768) * 1024) as point:
        source = (point if same else tmp_path) / "t.db"
        assert place_image(source, durable=False)
        path = point / "tmws.db"
        with pytest.raises(OSError) as full:
            place_scratch_copy(path, source)
        assert full.value.errno == errno.ENOSPC
        assert list(point.iterdir()) == ([source] if same else [])


# A child that creates stores from the image with its writes slowed (64 KiB every 2 ms, about
# 40 ms for the image), so that a kill -9 lands while the temporary file is being written.
SLOW_IMAGE_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from tmws_store import Store
    from tmws_store.backends.sqlite import image

    def slow_write(fd, data):
        for start in range(0, len(data), 65536):
            os.write(fd, data[start:start + 65536])
            time.sleep(0.002)

    image.fresh_image()  # built now: the kill window is placing it
    image._write_all = slow_write
    print("ready", flush=True)
    Store(sys.argv[1]).init()
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_kill_while_placing_leaves_no_file_or_a_whole_store(tmp_path: Path) -> None:
    outcomes = {"before": 0, "mid": 0, "whole": 0}
    for trial in range(12):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        path = folder / "tmws.db"
        child = subprocess.Popen(
            [sys.executable, "-c", SLOW_IMAGE_CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # From the first bytes to after the link, by the child's own clock: it reports nothing
        # more, so the parent waits on its pipe with a timeout that grows each trial.
        try:
            child.communicate(timeout=0.02 * trial)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
        child.wait()
        if path.exists():
            outcomes["whole"] += 1
            assert path.read_bytes() == fresh_image()
            assert integrity(path) == "ok"
            assert Store(path).init().action == "current"
        else:
            # Killed before the link: at most our temporary file, which the next init removes.
            outcomes["mid" if partials(folder) else "before"] += 1
            assert Store(path).init().action == "created"
            assert partials(folder) == []  # the later init removed what the dead one left
        assert identity(path) == (0x544D5753, SCHEMA_VERSION)
    assert outcomes["mid"] > 0 and outcomes["whole"] > 0, outcomes


# Each round, every worker initialises the same missing file at the barrier.
IMAGE_RACE_WORKER = """
from tmws_store import Store
for round_, path in enumerate(json.loads(os.environ["TMWS_TEST_TARGETS"])):
    wait_for(f"round{round_}")
    report(f"round{round_}", Store(path).init().action)
"""


@pytest.mark.slow
def test_processes_racing_on_a_missing_file_make_exactly_one(tmp_path: Path) -> None:
    paths = [tmp_path / f"round{r}" / "data" / "tmws.db" for r in range(4)]  # folders too
    env = {"TMWS_TEST_TARGETS": json.dumps([str(path) for path in paths])}
    workers = Workers(IMAGE_RACE_WORKER, 6, tmp_path / "sync", env)
    for round_, path in enumerate(paths):
        workers.release(f"round{round_}")
        actions = sorted(workers.results(f"round{round_}"))
        assert actions == ["created"] + ["current"] * 5
        assert path.read_bytes() == fresh_image()  # the winner's image, never overwritten
        assert integrity(path) == "ok"
        assert partials(path.parent) == []
    workers.finish()


def test_the_fixture_store_is_the_image(tmws_store: Store) -> None:
    """The plugin's stores are written from the same image, as private as init() makes them."""
    assert tmws_store.path.read_bytes() == fresh_image()
    assert tmws_store.path.stat().st_mode & 0o777 == 0o600
    assert partials(tmws_store.path.parent) == []
    assert tmws_store.init().action == "current"


@pytest.mark.parametrize("template", ["the image", "cut short", "grown"])
def test_a_store_copied_from_a_template_file_is_the_image(tmp_path: Path, template: str) -> None:
    """The fixtures' kernel copy of a template file; one that is not the image's size (cut
    short, or grown by a write) is not copied: the image is written from memory instead."""
    source = tmp_path / "template.db"
    assert place_image(source, durable=False)
    if template == "cut short":
        os.truncate(source, 4096)
    elif template == "grown":
        with source.open("ab") as file:
            file.write(b"\0" * 4096)
    path = tmp_path / "tmws.db"

    assert place_scratch_copy(path, source)

    assert path.read_bytes() == fresh_image()
    assert path.stat().st_mode & 0o777 == 0o600
    assert Store(path).init().action == "current"
    assert not place_scratch_copy(path, source)  # never over an existing file
    assert path.read_bytes() == fresh_image()
