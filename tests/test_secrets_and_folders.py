"""No password in any message, and no folder the store did not create ever changes its mode.

Passwords: every command of ``python -m tmws_store`` (run as a user runs it, in a subprocess)
is given URLs holding ``SECRETPW`` through ``--db``, ``--from``/``--to`` and
``TMWS_DATABASE_URL``: unreachable (a closed port, refused at once), unparseable (a port that
is not a number), oddly shaped, and a real server that answers. The password must appear
nowhere, while ``***`` shows where it was. In-process: reprs, ``where``, every exception raised
(with its chain) and the log.

Folders: a sticky 1777 TMWS home and a ``data`` folder linked to a setgid 2770 team folder
keep exactly their modes through ``init()``; what the store creates is 0700, and ``status``
warns about the folders other users can reach.
"""

import json
import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tmws_store import Store, StoreError
from tmws_store.transfer import copy_store

SECRET = "SECRETPW"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connections are refused at once, and no other
    process can start listening there while the test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def unreachable(port: int) -> str:
    return f"postgresql://me:{SECRET}@127.0.0.1:{port}/tmws"


def unparseable() -> str:
    # SQLAlchemy's make_url fails on the port; the old message pasted the raw URL.
    return f"postgresql+psycopg://me:{SECRET}@127.0.0.1:notaport/tmws"


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python -m tmws_store ARGS`` from this tree; stdout and stderr together."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "tmws_store", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1, 2), (done.returncode, done.stderr)  # 2: a usage error
    return done.stdout + done.stderr


def assert_masked(output: str) -> None:
    assert SECRET not in output, output
    assert "***" in output, output


# --- the command line ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("command", ["path", "init", "status", "verify", "backup"])
def test_no_command_shows_the_password_of_db_or_tmws_database_url(
    command: str, closed_port: int
) -> None:
    for url in (unreachable(closed_port), unparseable()):
        assert_masked(cli(command, "--db", url))
        assert_masked(cli(command, "--json", env={"TMWS_DATABASE_URL": url}))


@pytest.mark.slow
@pytest.mark.parametrize("side", ["--from", "--to"])
def test_copy_shows_no_password_of_either_side(side: str, closed_port: int, tmp_path: Path) -> None:
    other = "--to" if side == "--from" else "--from"
    file_side = str(tmp_path / "file.db")
    if side == "--to":  # a source that exists, so that the copy gets as far as the URL
        with Store(file_side) as store:
            store.init()
    assert_masked(cli("copy", side, unreachable(closed_port), other, file_side, "--json"))
    assert_masked(cli("copy", side, unparseable(), other, file_side))


@pytest.mark.slow
def test_usage_errors_show_no_password() -> None:
    url = f"postgresql://me:{SECRET}@db.example/tmws"
    assert_masked(cli("path", url))  # unrecognized arguments: <the url>
    assert_masked(cli(url))  # invalid choice: '<the url>'
    assert_masked(cli("path", f"--db={url}", url))


@pytest.mark.slow
@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://me:{SECRET}@db.example",  # names no database
        f"sqlite://me:{SECRET}@db.example/",  # names no file
        f"postgresql://me:{SECRET}@[::1/tmws",  # a bracket left open
        f"postgresql://me:p@{SECRET}@db.example/tmws",  # a raw "@" in the password
        f"postgresql://me@db.example/tmws?password={SECRET}",  # libpq reads it from the query
    ],
    ids=["no database", "no file", "open bracket", "raw @", "query password"],
)
def test_no_password_whatever_the_shape_of_the_url(url: str) -> None:
    assert_masked(cli("path", "--db", url))
    assert_masked(cli("path", "--json", env={"TMWS_DATABASE_URL": url}))


@pytest.mark.slow
def test_no_password_when_the_server_answers(postgres_url: str, ref42_copy: Path) -> None:
    """The test server trusts its user, so it accepts the URL whatever password it holds."""
    in_netloc = postgres_url.replace("tmws@", f"tmws:{SECRET}@")
    in_query = f"{postgres_url}?password={SECRET}"
    assert_masked(cli("init", "--json", "--db", in_query))
    assert_masked(cli("verify", "--db", in_netloc))
    assert_masked(cli("verify", "--json", env={"TMWS_DATABASE_URL": in_query}))
    assert_masked(cli("copy", "--json", "--from", str(ref42_copy), "--to", in_query))
    # The copy filled it: a second copy is refused, in a message naming the destination.
    assert_masked(cli("copy", "--from", str(ref42_copy), "--to", in_netloc))


# --- in-process: reprs, exceptions and the log -----------------------------------------------


def raised(action: Callable[[], object]) -> list[BaseException]:
    """The exception ``action`` raises, with every exception chained to it."""
    try:
        action()
    except Exception as exc:
        chain: list[BaseException] = []
        current: BaseException | None = exc
        while current is not None and current not in chain:
            chain.append(current)
            current = current.__cause__ or current.__context__
        return chain
    raise AssertionError("nothing was raised")


def test_reprs_exceptions_and_logs_show_no_password(
    closed_port: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chains: list[list[BaseException]] = []
    shown: list[str] = []
    for url in (unreachable(closed_port), f"{unreachable(closed_port)}?password={SECRET}"):
        store = Store(url=url)
        shown += [repr(store), store.where, repr(store.location), store.location.describe()]
        chains += [raised(action) for action in (store.init, store.verify, lambda s=store: s.path)]
        with Store(tmp_path / "file.db") as file_store:
            file_store.init()  # a source that exists: the copy fails at the destination's URL
            chains.append(raised(lambda s=store: copy_store(file_store, s)))
        store.close()
    for url in (unparseable(), f"postgresql://me:p@{SECRET}@127.0.0.1:{closed_port}/tmws"):
        chains.append(raised(lambda u=url: Store(url=u)))  # refused before anything connects
    for chain in chains:
        assert isinstance(chain[0], StoreError), chain
        shown.append(str(chain[0]))  # names the store, so shows its masked URL
        for cause in chain[1:]:  # the driver's own errors, which name no URL
            assert SECRET not in str(cause), cause
    for text in shown:
        assert_masked(text)
    assert SECRET not in caplog.text


# --- folders -----------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def status_json(env: dict[str, str]) -> dict:
    return json.loads(cli("status", "--json", env=env))


@pytest.mark.slow
def test_a_sticky_tmws_home_keeps_its_mode_and_status_warns(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    home.chmod(0o1777)
    monkeypatch.setenv("TMWS_HOME", str(home))
    with Store() as store:
        store.init()
    assert mode(home) == 0o1777  # the sticky bit stays: others' files there stay theirs
    assert (mode(home / "data"), mode(store.path)) == (0o700, 0o600)  # what the store made

    warnings = status_json({"TMWS_HOME": str(home)})["warnings"]
    assert len(warnings) == 1 and str(home) in warnings[0], warnings
    text = cli("status", env={"TMWS_HOME": str(home)})
    assert [line for line in text.splitlines() if line.startswith("warning:")] == [
        f"warning: {warnings[0]}"
    ]
    assert mode(home) == 0o1777  # status changed nothing either


@pytest.mark.slow
def test_a_data_folder_linked_to_a_team_folder_keeps_the_team_mode(
    tmp_path: Path, monkeypatch
) -> None:
    team = tmp_path / "team"
    team.mkdir()
    team.chmod(0o2770)
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    (home / "data").symlink_to(team)
    monkeypatch.setenv("TMWS_HOME", str(home))
    with Store() as store:
        store.init()
    assert (mode(team), mode(home)) == (0o2770, 0o700)
    assert (home / "data").is_symlink() and mode(team / "tmws.db") == 0o600

    warnings = status_json({"TMWS_HOME": str(home)})["warnings"]
    assert len(warnings) == 1 and str(home / "data") in warnings[0], warnings
    from tmws_store.paths import wide_folders  # here: the other tests also run on older code

    assert wide_folders(store.location) == warnings
    assert mode(team) == 0o2770


@pytest.mark.slow
def test_status_of_private_folders_has_no_warning(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "new" / "home"  # missing: the store creates it and its data folder
    monkeypatch.setenv("TMWS_HOME", str(home))
    old = os.umask(0o022)
    try:
        with Store() as store:
            store.init()
    finally:
        os.umask(old)
    assert (mode(tmp_path / "new"), mode(home), mode(home / "data")) == (0o700,) * 3
    assert status_json({"TMWS_HOME": str(home)})["warnings"] == []


def test_a_store_file_reached_through_a_link_keeps_its_mode(tmp_path: Path) -> None:
    """A TMWS file kept in a team share (0660) and linked into place is adopted without
    narrowing the shared file: the link is not followed for a chmod."""
    from .helpers import REF34, copy_reference

    share = tmp_path / "share"
    share.mkdir()
    shared = copy_reference(REF34, share)
    os.chmod(shared, 0o660)
    link = tmp_path / "tmws.db"
    link.symlink_to(shared)
    with Store(link) as store:
        assert store.init().action == "adopted"
    assert stat.S_IMODE(shared.stat().st_mode) == 0o660
    assert link.is_symlink()


def test_verify_warns_of_a_wide_folder_and_still_says_ok(tmp_path: Path, capsys) -> None:
    from tmws_store.cli import main

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with Store(shared / "tmws.db") as store:
        store.init()
        report = store.verify()
    assert report.ok and len(report.warnings) == 1 and str(shared) in report.warnings[0]
    assert main(["verify", "--db", str(shared / "tmws.db")]) == 0
    assert f"warning: folder {shared} is open to other users" in capsys.readouterr().out
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
