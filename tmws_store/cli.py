"""The ``tmws-store`` command (also ``python -m tmws_store``).

    tmws-store path           where the database is, and why
    tmws-store init           create or complete it; prints what was done
    tmws-store status         tables, schema version, size, journal mode, permissions, backups
    tmws-store verify         read-only check; exits 1 when anything is missing or wrong
    tmws-store backup [DEST]  a consistent copy (beside the file unless DEST is given)
    tmws-store copy --from A --to B   every row of store A into the empty store B, checked

Every command takes ``--db PATH`` or ``--db URL`` (default: where ``Store()`` looks) and
``--json``, before or after the command name; ``copy`` names its two stores itself. Exit
status: 0 when all is well; 1 when the file is missing (``status``, ``backup``), has problems
(``verify``) or cannot be used (an error: one line on stderr, no traceback); 2 for bad usage
(also one line). ``status`` and ``backup`` read SQLite files only.

Each command is a function taking the ``Store`` and the parsed arguments and returning a
``Result``: the JSON data, the text for people, and the exit status. ``main`` prints one or
the other, so ``--json`` and the text always say the same thing.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NoReturn

from .errors import StoreError
from .paths import mask_url
from .schema import table_names
from .store import Store

__all__ = ["main"]

PROG = "tmws-store"


@dataclass
class Result:
    """What a command found: ``data`` for ``--json``, ``text`` for people, the exit status."""

    data: dict[str, Any]
    text: str
    status: int = 0


def _expected_tables() -> int:
    # What init() creates, so the CLI can never disagree with it (and needs no model class).
    return len(table_names())


def _plain(record: Any) -> dict[str, Any]:
    """A report dataclass as JSON-ready data (paths as strings, tuples as lists)."""
    plain: dict[str, Any] = json.loads(json.dumps(asdict(record), default=str))
    return plain


# --- the commands -----------------------------------------------------------------------


def cmd_path(store: Store, args: argparse.Namespace) -> Result:
    """Where the database is and which setting chose it; never opens the file."""
    return Result(store.location.as_dict(), store.location.describe())


def cmd_init(store: Store, args: argparse.Namespace) -> Result:
    """Create, complete or confirm the database; the report names any backup made first."""
    report = store.init()
    return Result(_plain(report), report.summary())


def cmd_status(store: Store, args: argparse.Namespace) -> Result:
    """A quick look at the store, without creating, completing or changing anything."""
    report = store.status()
    where = report.where
    if not report.exists:
        # Creating the file here would make "status" lie about a fresh install.
        data = {"path": where, "exists": False}
        return Result(data, f"{where}: no database yet (`{PROG} init` creates it)", 1)
    data = _plain(report) | {
        "stamped": report.stamped,
        "tables_expected": _expected_tables(),
        "newest_backup": str(report.newest_backup) if report.newest_backup else None,
        "backups": len(report.backups),
    }
    if report.stamped:
        identity = str(report.schema_version)
    elif report.application_id == 0:
        identity = (
            f"{report.schema_version} (not stamped by tmws_store yet; `{PROG} init` adopts it)"
        )
    else:
        identity = (
            f"{report.schema_version} (application_id {report.application_id:#x}: another "
            "program's database)"
        )
    other = f" (and {', '.join(report.other_tables)})" if report.other_tables else ""
    lines = [
        f"database:       {where}",
        f"tables:         {report.tables} of {_expected_tables()}{other}",
        f"schema version: {identity}",
    ]
    if report.size_bytes is not None:  # a file
        newest = report.newest_backup
        lines += [
            f"size:           {report.size_bytes:,} bytes",
            f"journal mode:   {report.journal_mode}",
            f"permissions:    file {report.permissions}, folder {report.directory_permissions}",
            f"newest backup:  {f'{newest} ({len(report.backups)} in all)' if newest else 'none'}",
        ]
    lines += [f"warning: {warning}" for warning in report.warnings]
    return Result(data, "\n".join(lines))


def cmd_verify(store: Store, args: argparse.Namespace) -> Result:
    """Compare the file with the models (read-only); exit status 1 names every problem."""
    report = store.verify()
    data = _plain(report) | {"ok": report.ok, "problems": report.problems()}
    if report.ok:
        checked = ", quick_check ok" if report.quick_check is not None else ""
        text = f"{store.where}: ok ({_expected_tables()} tables{checked})"
        notes = []
        if report.extra_tables:
            notes.append(f"other tables kept: {', '.join(report.extra_tables)}")
        if report.tolerated_violations:
            count = len(report.tolerated_violations)
            notes.append(
                f"{count} licence-key rows break their foreign key, as in every file TMWS "
                "wrote (tolerated)"
            )
        if report.tolerated_differences:
            count = len(report.tolerated_differences)
            notes.append(
                f"{count} differences from the models that TMWS files have, as documented in "
                "docs/compatibility.md (tolerated; --json lists them)"
            )
        if report.application_id == 0:
            notes.append(f"not stamped by tmws_store yet; `{PROG} init` adopts it")
        text = "\n".join([text, *(f"note: {note}" for note in notes)])
    else:
        problems = report.problems()
        text = "\n".join([f"{store.where}: {len(problems)} problem(s)", *problems])
        if report.foreign_triggers_and_views:  # init() refuses the file while they are there
            text += f"\n`{PROG} init` will not adopt or upgrade the file until they are dropped"
        elif report.application_id == 0 and report.path is not None:  # init() completes it
            text += f"\n`{PROG} init` adds what is missing, after a backup"
    text = "\n".join([text, *(f"warning: {warning}" for warning in report.warnings)])
    return Result(data, text, 0 if report.ok else 1)


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    Call it with ``(done, total)``; ``finish()`` ends the line even if the copy failed half
    way, so the error message that follows starts on a line of its own.
    """

    WIDTH = 30

    def __init__(self, label: str = "backup") -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = self.WIDTH * done // total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {100 * done // total:3d}%")
        sys.stderr.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def cmd_backup(store: Store, args: argparse.Namespace) -> Result:
    """Copy the file as it is now (never creating, completing or changing it)."""
    bar = ProgressBar()
    try:
        written = store.backup(args.dest, progress=bar)
    finally:
        bar.finish()
    data = {"path": str(store.path), "backup": str(written), "size_bytes": written.stat().st_size}
    return Result(data, f"backup written to {written}")


def _open(where: str) -> Store:
    """A store for ``--db`` or a copy side: a URL when it has a scheme, else a file path."""
    return Store(url=where) if "://" in where else Store(where)


def cmd_copy(store: Store, args: argparse.Namespace) -> Result:
    """Copy every row of ``--from`` into the empty ``--to``, and check each one arrived.

    Either side is a file path or a URL (``sqlite:///...``, ``postgresql+psycopg://...``).
    The source is read as it is and never created or changed (one that does not exist is
    an error, and nothing is made at either side); the destination is created or completed
    with ``init()``. ``--db`` plays no part.
    """
    from .transfer import copy_store

    bars = {"copy": ProgressBar("copy "), "check": ProgressBar("check")}

    def progress(step: str, done: int, total: int) -> None:
        if step == "check":
            bars["copy"].finish()
        bars[step](done, total)

    with _open(args.source) as source, _open(args.target) as target:
        try:
            report = copy_store(source, target, progress=progress)
        finally:
            for bar in bars.values():
                bar.finish()
    data = {"from": report.source, "to": report.destination, "rows": report.rows}
    return Result(data, report.summary())


Command = Callable[[Store, argparse.Namespace], Result]

COMMANDS: dict[str, tuple[Command, str]] = {
    "path": (cmd_path, "show where the database is, and why"),
    "init": (cmd_init, "create or complete the database; prints what was done"),
    "status": (cmd_status, "tables, schema version, size, journal mode, permissions, backups"),
    "verify": (cmd_verify, "read-only check against the models; exit status 1 on problems"),
    "backup": (cmd_backup, "write a consistent copy of the database"),
    "copy": (cmd_copy, "copy every row into an empty store (SQLite file or PostgreSQL)"),
}


# --- argument parsing -------------------------------------------------------------------


class _UsageError(Exception):
    """A usage error, as the one line to print; ``main`` hides any password in it first."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse's default also prints the usage)."""

    def error(self, message: str) -> NoReturn:
        # Raised, not printed: argparse quotes the arguments it rejects, URLs among them.
        raise _UsageError(f"{self.prog}: error: {message} (see `{PROG} --help`)")


def _common_options(*, keep_earlier: bool) -> "_Parser":
    options = _Parser(add_help=False)
    # The options are accepted before and after the command name. The subcommand's copy
    # must not overwrite a value given before the name with its default, hence SUPPRESS.
    db_default = argparse.SUPPRESS if keep_earlier else None
    json_default: Any = argparse.SUPPRESS if keep_earlier else False
    options.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the database file, or a sqlite:/// or postgresql+psycopg:// URL "
        "(default: as Store() finds it)",
        default=db_default,
    )
    options.add_argument("--json", action="store_true", help="print JSON", default=json_default)
    return options


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tmws-store`` command."""
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description="Look after the TMWS database (~/.tmws/data/tmws.db by default).",
        epilog="The file is, in order: --db, TMWS_DATABASE_URL, $TMWS_HOME/data/tmws.db, "
        "~/.tmws/data/tmws.db.",
        parents=[_common_options(keep_earlier=False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        command = commands.add_parser(
            name, help=summary, description=summary, parents=[_common_options(keep_earlier=True)]
        )
        if name == "backup":
            command.add_argument(
                "dest",
                nargs="?",
                metavar="DEST",
                help="a new file, or a folder to put the copy in (default: beside the database)",
            )
        if name == "copy":
            command.add_argument(
                "--from", dest="source", required=True, metavar="A", help="path or URL to copy"
            )
            command.add_argument(
                "--to",
                dest="target",
                required=True,
                metavar="B",
                help="path or URL of an empty store",
            )
    return parser


def _given_urls(argv: Sequence[str]) -> list[str]:
    """Every URL the command was given: argument, ``--opt=URL`` value or TMWS_DATABASE_URL."""
    given = [*argv, *(arg.partition("=")[2] for arg in argv if arg.startswith("-"))]
    given.append(os.environ.get("TMWS_DATABASE_URL", ""))
    return [text for text in given if "://" in text]


def _hide_passwords(message: str, urls: Iterable[str]) -> str:
    """``message`` with each of ``urls``, as given or quoted by ``repr``, shown masked.

    The last line of defence: the messages of tmws_store mask URLs themselves, but one from
    elsewhere (argparse, a driver) may quote what it was given.
    """
    for url in urls:
        masked = mask_url(url)
        message = message.replace(repr(url), repr(masked)).replace(url, masked)
    return message


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"  # not "[Errno 2] No such file ...: '...'"
    return " ".join(str(exc).splitlines()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    urls = _given_urls(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        print(_hide_passwords(str(exc), urls), file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version (already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    run = COMMANDS[args.command][0]
    try:
        with _open(args.db) if args.db else Store() as store:
            result = run(store, args)
    except (StoreError, OSError) as exc:
        message = _hide_passwords(_one_line(exc), urls)
        print(f"{PROG} {args.command}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result.data, indent=2, sort_keys=True))
    else:
        print(result.text)
    return result.status


if __name__ == "__main__":
    sys.exit(main())
