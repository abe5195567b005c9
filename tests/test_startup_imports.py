"""Start-up without the ORM (#16): opening a current store imports no SQLAlchemy, sqlmodel,
pydantic, Alembic or aiosqlite.

Importing them is nearly all the time a process takes to open a current store, so they are
imported only when a session, an engine, a model, ``verify()``, a copy, or an ``init()`` that
has to change the file needs them. Each check runs in a fresh interpreter (this one has
imported everything long ago) and reads its ``sys.modules`` at the end. The controls show the
same probe seeing them once a session is used, so the checks can fail.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "aiosqlite")

# Appended to every child's code: its last line of output is every module it imported.
PROBE = textwrap.dedent(
    """
    import json as _json, sys as _sys
    print(_json.dumps(sorted(_sys.modules)))
    """
)

# Runs the command line given as arguments as ``tmws-store`` would, in this interpreter, and
# prints its exit status.
CLI = textwrap.dedent(
    """
    import runpy, sys
    sys.argv = ["tmws-store", *sys.argv[1:]]
    try:
        runpy.run_module("tmws_store", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        print("exit status", exit.code)
    """
)


def heavy_after(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """The heavy packages a fresh interpreter has imported after running ``code``, and what
    it printed before. The environment (PYTHONPATH, the test's TMWS_HOME) is passed on."""
    modules, printed = modules_after(code, *args, env=env)
    return sorted({module.split(".")[0] for module in modules} & set(HEAVY)), printed


def modules_after(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """Every module a fresh interpreter has imported after running ``code``, and what it
    printed before."""
    result = subprocess.run(
        [sys.executable, "-c", code + PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    *printed, last = result.stdout.splitlines()
    return set(json.loads(last)), "\n".join(printed)


def test_init_on_a_current_file_imports_no_orm(current: Path) -> None:
    code = "import sys, tmws_store; print(tmws_store.Store(sys.argv[1]).init().action)"
    heavy, printed = heavy_after(code, str(current))
    assert (printed, heavy) == ("current", [])


def test_init_on_a_current_file_loads_no_backup_or_package_data_code(current: Path) -> None:
    # The rest of the start-up cost: the backup module brings secrets (hashlib, OpenSSL),
    # importlib.resources brings tempfile, shutil and zipfile. The warm path needs neither.
    code = "import sys, tmws_store; tmws_store.Store(sys.argv[1]).init()"
    modules, _ = modules_after(code, str(current))
    unneeded = {"tmws_store.backends.sqlite.backup", "secrets", "importlib.resources", "shutil"}
    assert modules & unneeded == set()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("status", "--db", "{path}"), "42 of 42"),
        (("status", "--tables", "--db", "{path}"), "agents"),
        (("path", "--db", "{path}"), "given as the path argument"),
        (("init", "--db", "{path}"), "current, schema version"),
        (("--json", "status", "--db", "sqlite:///{path}"), '"tables": 42'),
        (("init", "--db", "sqlite+aiosqlite:///{path}"), "current, schema version"),
    ],
)
def test_cli_on_a_current_file_imports_no_orm(
    current: Path, args: tuple[str, ...], says: str
) -> None:
    heavy, printed = heavy_after(CLI, *(arg.format(path=current) for arg in args))
    assert says in printed
    assert printed.splitlines()[-1] == "exit status 0"
    assert heavy == []


def test_database_url_from_the_environment_imports_no_orm(current: Path) -> None:
    heavy, printed = heavy_after(CLI, "init", env={"TMWS_DATABASE_URL": f"sqlite:///{current}"})
    assert f"{current}: current" in printed
    assert heavy == []


# Every shape of SQLite URL read without SQLAlchemy, odd ones included.
SQLITE_URLS = [
    "sqlite:///{tmp}/plain.db",
    "sqlite+pysqlite:///{tmp}/driver.db",
    "sqlite+aiosqlite:///{tmp}/async.db",
    "sqlite:///relative/file.db",
    "sqlite:///~/under-home.db",
    "sqlite:///{tmp}/query.db?mode=ro&timeout=0",
    "sqlite:///{tmp}/two.db?a=1?b=2",
    "sqlite:///{tmp}/space%20and%3Fquestion.db",
    "sqlite:///{tmp}/caf%C3%A9.db",
    "sqlite:///{tmp}/bad%ZZescape.db",
    "sqlite:///{tmp}/at@sign:colon.db",
    "sqlite:///{tmp}/hash#fragment.db",
    "sqlite:///{tmp}/new\nline.db",
    "sqlite:///",
    "sqlite:///?mode=ro",
    "sqlite:///:memory:",
    "sqlite+aiosqlite:///:memory:?cache=shared",
]


def test_sqlite_urls_are_read_as_sqlalchemy_reads_them_without_importing_it(
    tmp_path: Path,
) -> None:
    urls = [url.format(tmp=tmp_path) for url in SQLITE_URLS]
    code = textwrap.dedent(
        """
        import json, sys
        from tmws_store import UnsupportedURLError
        from tmws_store.paths import resolve_location
        found = {}
        for url in json.loads(sys.argv[1]):
            try:
                found[url] = str(resolve_location(url=url, environ={}).path)
            except UnsupportedURLError as error:
                found[url] = str(error)
        print(json.dumps(found))
        """
    )
    heavy, printed = heavy_after(code, json.dumps(urls))
    assert heavy == []
    assert json.loads(printed) == {url: sqlalchemy_reading(url) for url in urls}


def sqlalchemy_reading(url: str) -> str:
    """What the store made of ``url`` when SQLAlchemy parsed every URL: the file, or the refusal."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return f"url argument: {url!r} names no file; tmws_store keeps its data in a file"
    return os.path.abspath(Path(database).expanduser())


# --- controls: the same probe sees the ORM once it is used ---------------------------------


@pytest.mark.slow  # over a second: it imports everything
def test_a_first_session_imports_the_orm(current: Path) -> None:
    code = textwrap.dedent(
        """
        import sys, tmws_store
        with tmws_store.Store(sys.argv[1]) as store, store.session() as session:
            pass
        """
    )
    heavy, _ = heavy_after(code, str(current))
    assert {"sqlalchemy", "sqlmodel", "pydantic"} <= set(heavy)


@pytest.mark.slow
def test_cli_verify_imports_the_orm(current: Path) -> None:
    heavy, printed = heavy_after(CLI, "verify", "--db", str(current))
    assert printed.splitlines()[-1] == "exit status 0"
    assert {"sqlalchemy", "sqlmodel", "pydantic"} <= set(heavy)
