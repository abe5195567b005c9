"""A throwaway PostgreSQL server for the tests: started from the server binaries, never a service.

``PostgresServer`` runs ``initdb`` into a fresh temp directory, starts ``postgres`` on a free
loopback port and hands out empty databases. Nothing of the machine's own PostgreSQL set-up
(a running cluster, ``/etc/postgresql``, port 5432) is used or touched, so the same code runs on a
developer's machine and on CI's fresh one. A missing server is an error that says how to install
it, never a skip: a suite that quietly skips its PostgreSQL tests would pass without testing them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

__all__ = ["RUNNING_SERVER_PORT", "PostgresServer", "find_server_binaries", "fresh_database"]

# Debian (and Ubuntu) keep each major version's server binaries here, off PATH.
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
# The superuser that initdb creates; with --auth=trust it connects without a password.
SUPERUSER = "tmws"
# Set by a test that runs this suite's own tests in a child pytest (test_schema_recipe.py): the
# child's tests use the parent's server on this port instead of running initdb again (seconds
# per child on a 2-core machine), and leave the server running for the parent.
RUNNING_SERVER_PORT = "TMWS_TEST_POSTGRES_PORT"
# Generous for a loaded 2-core CI machine; a healthy start takes well under a second.
START_TIMEOUT = 60

# Each line is appended to postgresql.conf after initdb (so no -o quoting is involved).
# Only loopback, only IPv4: no test server is ever reachable from another machine.
# fsync/synchronous_commit/full_page_writes off: the cluster is thrown away after the run, so
# crash safety buys nothing and costs each commit a disk flush.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "100",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def find_server_binaries() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    PATH first (a developer's own build or Homebrew), then Debian's
    ``/usr/lib/postgresql/<version>/bin``, newest version first. Raises RuntimeError, with the
    command that installs the server, when there is none.
    """
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        # Resolved: /usr/local/bin/pg_ctl may be a symlink into a directory that also holds
        # initdb and postgres, and pg_ctl itself looks for postgres beside its real path.
        candidates.append(Path(on_path).resolve().parent)
    candidates.extend(sorted(DEBIAN_BINARIES.glob("*/bin"), key=_version_key, reverse=True))
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH nor in "
        f"{DEBIAN_BINARIES}/*/bin. The PostgreSQL tests start a server of their own: install "
        "one with `apt-get install postgresql` (Debian/Ubuntu; as root or with sudo)."
    )


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: "15" > "9.6"; odd names sort last."""
    version = bin_dir.parent.name
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return (-1,)
    return tuple(int(part) for part in version.split("."))


def _free_port() -> int:
    """A loopback TCP port that nothing listens on right now (the kernel's pick for port 0).

    It is free only until someone else takes it, so ``PostgresServer.start`` retries on a clash.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unprivileged_user() -> str:
    """The user to run the server as when we are root: PostgreSQL refuses to run as root.

    ``postgres`` is the account Debian's package creates for exactly this; ``nobody`` exists
    everywhere else.
    """
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "nobody"
    return "postgres"


class PostgresServer:
    """One PostgreSQL cluster in its own temp directory, listening on 127.0.0.1 only.

    Use ``start()``/``stop()`` or ``with PostgresServer() as server:``. The cluster's superuser
    is ``tmws``, with trust authentication, so URLs carry no password.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_server_binaries()
        self.port: int | None = None
        self.base_dir: Path | None = None
        # Root must hand every server command to an ordinary user (see _unprivileged_user).
        self.run_as: str | None = _unprivileged_user() if os.geteuid() == 0 else None

    @classmethod
    def running_at(cls, port: int) -> PostgresServer:
        """The server that another process started, listening on ``port`` of 127.0.0.1.

        It hands out databases like a started one; ``stop()`` leaves it alone (no base dir).
        """
        server = cls()
        server.port = port
        return server

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's PGDATA (inside ``base_dir``)."""
        return self._base() / "data"

    @property
    def log_file(self) -> Path:
        """The server's log, quoted in the error when it fails to start."""
        return self._base() / "server.log"

    def start(self) -> PostgresServer:
        """initdb a fresh cluster and start it; returns self. Cleans up after itself on failure."""
        if self.base_dir is not None:
            raise RuntimeError("this PostgresServer is already started")
        # mkdtemp under the system temp dir, not pytest's tmp_path: as root that one is 0700
        # root-only, and the unprivileged server user could not reach its data directory.
        self.base_dir = Path(tempfile.mkdtemp(prefix="tmws-postgres-"))
        try:
            if self.run_as is not None:
                shutil.chown(self.base_dir, self.run_as, pwd.getpwnam(self.run_as).pw_gid)
            self._initdb()
            self._start_on_free_port()
        except BaseException:
            # stop(), not just removal: an interrupt can land after the postmaster is up, and
            # its directory must not vanish under a server left running. The first error wins.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (no shutdown checkpoint: the data is thrown away) and delete
        its directory. Safe to call twice, or after a failed start."""
        if self.base_dir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        finally:
            self._remove_base_dir()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ----------------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server, for the psycopg 3 driver."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self._port()}/{dbname}"

    def create_database(self, template: str = "template0") -> str:
        """Create a uniquely named database and return its SQLAlchemy URL.

        Empty by default, from ``template0`` rather than the default ``template1``: nothing that
        a test might have added to template1 leaks into the next test's database. A test that
        needs a store already made passes the name of a database holding one: PostgreSQL copies
        it file by file, several times faster than creating the 42 tables again.
        """
        name = f"test_{uuid.uuid4().hex[:16]}"
        with self._admin_connection() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, ending any connection a test left open to it (FORCE)."""
        with self._admin_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def database_names(self) -> set[str]:
        """The names of every database on the server (for tests of the fixtures themselves)."""
        with self._admin_connection() as conn:
            return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}

    # -- internals ----------------------------------------------------------------------------

    def _base(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("this PostgresServer is not started")
        return self.base_dir

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("this PostgresServer is not started")
        return self.port

    def _admin_connection(self) -> psycopg.Connection:
        # Autocommit: CREATE/DROP DATABASE cannot run inside a transaction block.
        return psycopg.connect(
            host="127.0.0.1", port=self._port(), user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the server binaries (as ``run_as`` when root); raise with its output."""
        command = [str(self.bin_dir / program), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(
            command,
            # The server user may not be able to enter our working directory (say /root), which
            # makes initdb and postgres warn or fail; the base dir is theirs.
            cwd=self._base(),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "--auth=trust",
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            # Skips initdb's final fsync of every file: about half of its time, and pointless for
            # a cluster that never outlives the test run.
            "--no-sync",
        )
        # Appended as the server user's file: later settings in postgresql.conf win.
        settings = dict(SERVER_SETTINGS, unix_socket_directories=f"'{self._base()}'")
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# tests/_postgres.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_on_free_port(self, attempts: int = 3) -> None:
        """``pg_ctl start -w`` on a free port, retrying when another process took it first."""
        for attempt in range(attempts):
            self.port = _free_port()
            try:
                self._run(
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    str(START_TIMEOUT),
                    "-D",
                    str(self.data_dir),
                    # -l: the server's output goes to a file; without it the postmaster would
                    # keep our capture pipes open and subprocess.run would never return.
                    "-l",
                    str(self.log_file),
                    "-o",
                    f"-p {self.port}",
                )
                return
            except RuntimeError as error:
                log = self._read_log()
                if "Address already in use" in log and attempt + 1 < attempts:
                    self.log_file.unlink(missing_ok=True)
                    continue
                self.port = None
                raise RuntimeError(f"{error}\nserver log:\n{log}") from None

    def _read_log(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def _remove_base_dir(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None
        self.port = None


@contextlib.contextmanager
def fresh_database(server: PostgresServer, template: str = "template0") -> Iterator[str]:
    """A new database on ``server``, empty or a copy of ``template``: yields its URL, drops it
    on the way out.

    The body of the ``postgres_url`` fixture, kept here so that a test can drive it directly.
    """
    url = server.create_database(template)
    try:
        yield url
    finally:
        server.drop_database(url.rsplit("/", 1)[1])
