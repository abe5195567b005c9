"""Start-up of a short ``tmws-store`` command (#16): what it does not import, and why that
changes nothing it prints.

``status``, ``path`` and ``init`` on a current file should cost little more than a python
process that opens the file with sqlite3. argparse (with gettext, locale, and shutil with
zlib, bz2 and lzma) and json are most of what they imported beyond that, so a plain command
line is read without argparse and json is imported only to print JSON. Each import check
runs in a fresh interpreter, so that a module brought back at module level cannot go
unnoticed; the others hold the shortcuts to what they replace.
"""

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tmws_store import Store
from tmws_store.cli import _parse, _plain, _plain_arguments, _UsageError, build_parser

from .helpers import REF42, copy_reference

# What the pip-generated ``tmws-store`` script runs, then every module imported, last line.
CONSOLE_SCRIPT = (
    "import sys\n"
    "from tmws_store.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "print('exit status', status)\n"
    "print(' '.join(sorted(sys.modules)))\n"
)

# Not needed by a plain status, path or init, and a few milliseconds each to import.
NOT_AT_START_UP = {
    "argparse",
    "gettext",
    "locale",
    "json",
    "shutil",
    "zlib",
    "bz2",
    "lzma",
    "signal",
}


def modules_after_command(*args: str) -> tuple[set[str], list[str]]:
    """Every module a fresh interpreter imported running ``tmws-store ARGS`` as the console
    script does, and the lines it printed before (the exit status last)."""
    result = subprocess.run(
        [sys.executable, "-c", CONSOLE_SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    *printed, last = result.stdout.splitlines()
    return set(last.split()), printed


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("status", "--db", "{path}"), "tables:         42 of 42"),
        (("status", "--tables", "-q", "--db", "{path}"), "exit status 0"),
        (("--db={path}", "path"), "given as the path argument"),
        (("init", "--db", "{path}"), "current, schema version 2"),
        (("--quiet", "init", "--db", "{path}"), "exit status 0"),
    ],
)
def test_plain_commands_import_neither_argparse_nor_json(
    current: Path, args: tuple[str, ...], says: str
) -> None:
    modules, printed = modules_after_command(*(arg.format(path=current) for arg in args))
    assert printed[-1] == "exit status 0"
    assert any(says in line for line in printed)
    assert modules & NOT_AT_START_UP == set()


def test_json_output_imports_json_but_not_argparse(current: Path) -> None:
    modules, printed = modules_after_command("status", "--json", "--db", str(current))
    assert json.loads("\n".join(printed[:-1]))["tables"] == 42
    assert "json" in modules  # the probe sees what it imports
    assert modules & (NOT_AT_START_UP - {"json"}) == set()


def test_a_command_line_argparse_must_read_still_reaches_it(current: Path) -> None:
    # An abbreviation ("--js") is argparse's to resolve: the control that the probe sees it.
    modules, printed = modules_after_command("status", "--js", "--db", str(current))
    assert json.loads("\n".join(printed[:-1]))["exists"] is True
    assert "argparse" in modules


# Command lines read without argparse, each as the whole parser reads it.
PLAIN = [
    ["status"],
    ["path"],
    ["init"],
    ["verify"],
    ["encrypt", "--db", "x.db"],
    ["decrypt", "--quiet"],
    ["--db", "status", "init"],  # a database file named like a command
    ["--db", "x.db", "status", "--db", "y.db"],  # the last one wins, as in argparse
    ["--db=", "path"],  # an empty value: argparse takes it, and so Store()'s default
    ["--db=-odd.db", "path"],  # after "=", a value may start with "-"
    ["--db", "", "init"],
    ["--db", "sqlite:////tmp/x.db?mode=ro", "status"],
    ["--json", "status", "--tables", "--db", "x.db"],
    ["-q", "status", "--json", "--tables", "--tables"],
    ["status", "--quiet", "-q", "--json", "--json"],
    ["init", "--db", "a b.db", "--json"],
]

# Command lines left to argparse: its errors and its odd cases are its own.
ARGPARSE = [
    [],
    ["--help"],
    ["status", "-h"],
    ["--version"],
    ["--js", "path"],  # an abbreviation
    ["status", "--tab"],
    ["--tables", "status"],  # an option of status's before its name: an error
    ["init", "--tables"],
    ["path", "--db"],  # no value
    ["path", "--db", "--json"],
    ["path", "--db", "-x.db"],  # a value starting with "-": argparse's error
    ["status", "status"],
    ["status", "init"],
    ["bogus"],
    ["backup"],
    ["backup", "dest"],
    ["copy", "--from", "a", "--to", "b"],
    ["status", "--"],
    ["status", "-qq"],
    ["status", "--quiet=yes"],
    ["", "status"],
]


def whole_parser_reads(argv: list[str]) -> dict[str, Any] | str:
    """What argparse's whole parser makes of ``argv``: its values, or its one-line error."""
    try:
        return vars(build_parser().parse_args(argv))
    except _UsageError as error:
        return error.line()


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_plain_command_lines_read_as_argparse_reads_them(argv: list[str]) -> None:
    plain = _plain_arguments(argv)
    assert plain is not None
    assert vars(plain) == whole_parser_reads(argv)
    assert vars(_parse(argv)) == vars(plain)


@pytest.mark.parametrize("argv", ARGPARSE, ids=lambda argv: " ".join(argv) or "(nothing)")
def test_other_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert _plain_arguments(argv) is None


def reports(tmp_path: Path) -> list[object]:
    """One report of each kind the CLI prints, with paths, tuples, lists and row counts."""
    found: list[object] = []
    with Store(tmp_path / "new.db") as store:
        found.append(store.init())  # created: 42 tables
        found.append(store.status(rows=True))
    with Store(copy_reference(REF42, tmp_path)) as store:
        found.append(store.verify())  # differences, tolerated ones, extra indexes
        found.append(store.init())  # adopted, with a backup's path
        found.append(store.status())  # a backup, a wide folder's warning
    return found


def test_report_data_is_the_json_round_trip_it_replaces(tmp_path: Path) -> None:
    # Guards the byte-identical --json output: _plain once was exactly this round trip.
    tmp_path.chmod(0o755)  # a warning in the status report
    for report in reports(tmp_path):
        assert _plain(report) == json.loads(json.dumps(asdict(report), default=str))  # type: ignore[call-overload]
