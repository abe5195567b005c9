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


# A child that runs Store(argv[1]).init() slowed down, and appends to the file argv[2] one
# line per SQL statement of the start-up connection (its first two words) and around the
# backup, so the parent knows where its kill -9 landed. Prints "ready" once imported, then
# starts when a line arrives on stdin (so the parent can start it ahead of time).
TRACED_INIT_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import tmws_store.models  # loaded now, not inside init(): the kill window is init's alone
    from tmws_store import Store
    from tmws_store.backends.sqlite import startup
    from tmws_store.backends.sqlite.backup import backup_name, backup_to

    log = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

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
        dest = backup_to(source, backup_name(source, reason=reason),
                         progress=lambda done, total: time.sleep(0.03), key=key)
        mark("backup finished")
        return dest

    startup.connect = traced
    startup.backup_beside = slow_backup
    print("ready", flush=True)
    sys.stdin.readline()
    Store(sys.argv[1]).init()
    mark("init returned")
    """
)


# A child that runs Store(argv[1]).init() with every SQLite statement slowed down, so that a
# kill -9 from the parent lands inside the init transaction. It prints "ready" first.
SLOW_INIT_CHILD = textwrap.dedent(
    """
    import sys, time
    import tmws_store.models  # loaded now, not inside init(): the kill window is init's alone
    from tmws_store import Store
    from tmws_store.backends.sqlite import startup
    real = startup.connect
    def slow(p, t, key=None):
        con = real(p, t, key)
        con.set_progress_handler(lambda: time.sleep(0.0002) or 0, 50)
        return con
    startup.connect = slow
    print("ready", flush=True)
    Store(sys.argv[1]).init()
    print("done", flush=True)
    """
)


class Workers:
    """N worker processes running the same script, released together at each barrier."""

    def __init__(self, script: str, count: int, sync: Path, env: dict | None = None) -> None:
        self.sync, self.count = sync, count
        sync.mkdir(parents=True, exist_ok=True)
        code = WORKER_PRELUDE + textwrap.dedent(script)
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(sync), str(i)],
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, **(env or {})},
            )
            for i in range(count)
        ]

    def release(self, name: str, timeout: float = 60) -> None:
        """Wait until every worker waits at barrier ``name``, then let them all go at once."""
        deadline = time.monotonic() + timeout
        while len(list(self.sync.glob(f"ready-{name}-*"))) < self.count:
            for proc in self.procs:
                if proc.poll() not in (None, 0):
                    raise AssertionError(f"a worker died: {proc.stderr.read()}")
            assert time.monotonic() < deadline, f"workers never reached {name}"
            time.sleep(0.005)
        (self.sync / f"go-{name}").touch()

    def results(self, name: str, timeout: float = 60) -> list:
        deadline = time.monotonic() + timeout
        while len(list(self.sync.glob(f"result-{name}-*.json"))) < self.count:
            for proc in self.procs:
                if proc.poll() not in (None, 0):
                    raise AssertionError(f"a worker died: {proc.stderr.read()}")
            assert time.monotonic() < deadline, f"no results for {name}"
            time.sleep(0.005)
        return [json.loads(p.read_text()) for p in sorted(self.sync.glob(f"result-{name}-*"))]

    def finish(self, timeout: float = 60) -> None:
        for proc in self.procs:
            proc.wait(timeout)
            assert proc.returncode == 0, proc.stderr.read()
