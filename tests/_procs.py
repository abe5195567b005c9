"""Helpers for tests that run real processes: a barrier over files, and result collection."""

import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# Prepended to every worker script: wait_for(name) blocks until the parent says "go".
WORKER_PRELUDE = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    SYNC = Path(sys.argv[1]); WORKER = sys.argv[2]
    PARENT = os.getppid()

    def wait_for(name):
        # Gives up when the test that started it is gone or never says go (it failed before
        # its barrier): a worker never outlives its test spinning on a file that never comes.
        (SYNC / f"ready-{name}-{WORKER}").touch()
        deadline = time.monotonic() + 120
        while not (SYNC / f"go-{name}").exists():
            if os.getppid() != PARENT or time.monotonic() > deadline:
                sys.exit(3)
            time.sleep(0.001)

    def report(name, value):
        # Written aside, then renamed: the parent never reads half a result.
        temp = SYNC / f"partial-{name}-{WORKER}"
        temp.write_text(json.dumps(value))
        os.replace(temp, SYNC / f"result-{name}-{WORKER}.json")
    """
)


@functools.cache
def model_table_names() -> frozenset[str]:
    """The tables a fresh interpreter's ``TMWSModel.metadata`` holds.

    Asked in a subprocess: inside a test run every model module is already imported, which is
    exactly how a table missing from the registration hid in TMWS.
    """
    code = (
        "import json; from tmws_store import TMWSModel; "
        "print(json.dumps(sorted(TMWSModel.metadata.tables)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return frozenset(json.loads(out.stdout))


# For Forks: run(path, log) runs Store(path).init() slowed down, and appends to the file log one
# line per SQL statement of the start-up connection (its first two words) and around the
# backup, so the parent knows where its kill -9 landed.
TRACED_INIT = """
import os, time
import tmws_store.models  # loaded now, not inside init(): the kill window is init's alone
from tmws_store import Store
from tmws_store.backends.sqlite import startup
from tmws_store.backends.sqlite.backup import backup_name, backup_to

def run(path, log_path):
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def mark(text):
        os.write(log, (" ".join(text.split()[:2]) + "\\n").encode())

    real_connect = startup.connect

    def traced(p, t, key=None):
        con = real_connect(p, t, key)
        con.set_trace_callback(mark)
        # Each statement takes a few ms instead of microseconds: room for kills to land in.
        con.set_progress_handler(lambda: time.sleep(0.0002) or 0, 50)
        return con

    def slow_backup(source, *, reason, key=None):
        mark("backup started")
        # A pause after each 256-page step keeps the copy half made for a while.
        dest = backup_to(source, backup_name(source, reason=reason), named_by_us=True,
                         progress=lambda done, total: time.sleep(0.03), key=key)
        mark("backup finished")
        return dest

    startup.connect = traced
    startup.backup_beside = slow_backup
    Store(path).init()
    mark("init returned")
"""


# For Forks: run(path) runs Store(path).init() with every SQLite statement slowed down, so that
# a kill -9 from the parent lands inside the init transaction.
SLOW_INIT = """
import time
import tmws_store.models  # loaded now, not inside init(): the kill window is init's alone
from tmws_store import Store
from tmws_store.backends.sqlite import startup
real = startup.connect
def slow(p, t, key=None):
    con = real(p, t, key)
    con.set_progress_handler(lambda: time.sleep(0.0002) or 0, 50)
    return con
startup.connect = slow
def run(path):
    Store(path).init()
"""


# Appended to a script that imports what it needs and defines run(*args): for each line of
# tab-separated arguments on stdin, forks a child that calls run(*args), prints the child's pid,
# and, on the next line from stdin, reaps it and prints how it ended (-9: killed; 0: run
# returned; 1: run raised, its traceback on stderr). Reaped only when asked: until then a killed
# child stays a zombie, so its pid cannot be taken by another process before the kill lands.
FORK_LOOP = textwrap.dedent(
    """
    import os as _os, sys as _sys, traceback as _traceback
    print("ready", flush=True)
    for _line in iter(_sys.stdin.readline, ""):
        _pid = _os.fork()
        if _pid == 0:
            _code = 1
            try:
                run(*_line.rstrip("\\n").split("\\t"))
                _code = 0
            except BaseException:
                _traceback.print_exc()
            finally:
                _sys.stderr.flush()
                _os._exit(_code)
        print(_pid, flush=True)
        _sys.stdin.readline()
        print(_os.waitstatus_to_exitcode(_os.waitpid(_pid, 0)[1]), flush=True)
    """
)


class Forks:
    """A child that imports once, then forks a fresh process per trial (``FORK_LOOP``).

    Each trial costs its own work alone, not the second a new interpreter takes to import
    sqlmodel and the models; the forked process is a real one, killed for real.
    """

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script) + FORK_LOOP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        assert self.stdout.readline() == "ready\n", "the forking child did not start"

    def start(self, *args: str) -> int:
        """Fork a process that runs ``run(*args)``; its pid, as soon as it exists."""
        self.stdin.write("\t".join(args) + "\n")
        self.stdin.flush()
        return int(self.stdout.readline())

    def wait(self) -> int:
        """Wait for the last started process to end, and reap it: how it ended."""
        self.stdin.write("reap\n")
        self.stdin.flush()
        return int(self.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.stdin.close()
        self.stdout.close()

    def __enter__(self) -> "Forks":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# What Store.init() imports on its way to adopting, upgrading or creating a store on either
# back end: a preload for Workers whose race is about init() itself, not about its imports.
INIT_IMPORTS = (
    "import alembic.migration, alembic.operations, tmws_store.backends.postgresql, "
    "tmws_store.backends.sqlite.completion, tmws_store.backends.sqlite.migrate, "
    "tmws_store.migrations, tmws_store.models"
)


# Workers(preload=...): one child runs the preload (imports), then forks the workers, each
# running the worker script as ``python -c SCRIPT SYNC N`` would, its stderr in SYNC/stderr-N;
# it writes each one's exit status to SYNC/exit-N. It leaves when the test is gone, and so do
# the workers then (WORKER_PRELUDE's wait_for watches its parent).
FORKING_WORKERS = textwrap.dedent(
    """
    import os, sys, time, traceback
    sync, count, preload, code = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    test = os.getppid()
    exec(preload, {"__name__": "preload"})
    pids = {}
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            err = os.open(os.path.join(sync, f"stderr-{i}"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(err, 2)
            sys.argv = ["-c", sync, str(i)]
            status = 0
            try:
                exec(compile(code, "<worker>", "exec"), {"__name__": "__main__"})
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
                status = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        pids[pid] = i
    while pids and os.getppid() == test:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.005)
            continue
        i = pids.pop(pid)
        temp = os.path.join(sync, f"exit-{i}.partial")
        with open(temp, "w") as out:
            out.write(str(os.waitstatus_to_exitcode(status)))
        os.replace(temp, os.path.join(sync, f"exit-{i}"))
    """
)


class Workers:
    """N worker processes running the same script, released together at each barrier.

    With ``preload`` (say ``"import tmws_store.models"``), the workers are forked from one
    child that ran it: N separate processes still race, but the imports are paid once, not N
    times on a 2-core machine. Only for tests where the imports are not part of what is tested
    (e.g. what a process does while it holds a lock).
    """

    def __init__(
        self,
        script: str,
        count: int,
        sync: Path,
        env: dict | None = None,
        preload: str | None = None,
    ) -> None:
        self.sync, self.count = sync, count
        sync.mkdir(parents=True, exist_ok=True)
        code = WORKER_PRELUDE + textwrap.dedent(script)
        env = {**os.environ, **(env or {})}
        self.procs: list[subprocess.Popen[str]] = []
        self.forker: subprocess.Popen[str] | None = None
        if preload is None:
            self.procs = [
                subprocess.Popen(
                    [sys.executable, "-c", code, str(sync), str(i)],
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                for i in range(count)
            ]
        else:
            self.forker = subprocess.Popen(
                [sys.executable, "-c", FORKING_WORKERS, str(sync), str(count), preload, code],
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )

    def _exit_codes(self) -> list[int | None]:
        """Each worker's exit status, None while it runs."""
        if self.forker is None:
            return [proc.poll() for proc in self.procs]
        files = [self.sync / f"exit-{i}" for i in range(self.count)]
        return [int(f.read_text()) if f.exists() else None for f in files]

    def _stderr(self, i: int) -> str:
        if self.forker is None:
            stream = self.procs[i].stderr
            return stream.read() if stream is not None else ""
        path = self.sync / f"stderr-{i}"
        return path.read_text() if path.exists() else ""

    def _check_alive(self) -> None:
        """Raise, with its stderr, if a worker (or the child forking them) died."""
        if self.forker is not None and self.forker.poll() not in (None, 0):
            assert self.forker.stderr is not None
            raise AssertionError(f"the forking child died: {self.forker.stderr.read()}")
        for i, code in enumerate(self._exit_codes()):
            if code not in (None, 0):
                raise AssertionError(f"a worker died: {self._stderr(i)}")

    def release(self, name: str, timeout: float = 60) -> None:
        """Wait until every worker waits at barrier ``name``, then let them all go at once."""
        deadline = time.monotonic() + timeout
        while len(list(self.sync.glob(f"ready-{name}-*"))) < self.count:
            self._check_alive()
            assert time.monotonic() < deadline, f"workers never reached {name}"
            time.sleep(0.005)
        (self.sync / f"go-{name}").touch()

    def results(self, name: str, timeout: float = 60) -> list:
        deadline = time.monotonic() + timeout
        while len(list(self.sync.glob(f"result-{name}-*.json"))) < self.count:
            self._check_alive()
            assert time.monotonic() < deadline, f"no results for {name}"
            time.sleep(0.005)
        return [json.loads(p.read_text()) for p in sorted(self.sync.glob(f"result-{name}-*"))]

    def finish(self, timeout: float = 60) -> None:
        if self.forker is not None:
            self.forker.wait(timeout)  # it leaves once it has reaped every worker
            assert self.forker.returncode == 0, self.forker.stderr and self.forker.stderr.read()
        else:
            for proc in self.procs:
                proc.wait(timeout)
        for i, code in enumerate(self._exit_codes()):
            assert code == 0, self._stderr(i)
