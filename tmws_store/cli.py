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
import sqlite3
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from .backup import backup_name, backup_to, list_backups
from .errors import NotADatabaseError, StoreError, from_sqlite
from .paths import ServerLocation
from .schema import APPLICATION_ID, table_names
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
    return json.loads(json.dumps(asdict(record), default=str))


# --- the commands -----------------------------------------------------------------------


def cmd_path(store: Store, args: argparse.Namespace) -> Result:
    """Where the database is and which setting chose it; never opens the file."""
    where = store.location
    if isinstance(where, ServerLocation):
        return Result({"url": where.shown, "source": where.source}, where.describe())
    data = {"path": str(where.path), "source": where.source, "exists": where.path.exists()}
    return Result(data, where.describe())


def cmd_init(store: Store, args: argparse.Namespace) -> Result:
    """Create, complete or confirm the database; the report names any backup made first."""
    report = store.init()
    return Result(_plain(report), report.summary())


def cmd_status(store: Store, args: argparse.Namespace) -> Result:
    """A quick look at the file, without creating, completing or changing anything."""
    path = store.path
    if not path.exists():
        # Creating the file here would make "status" lie about a fresh install.
        data = {"path": str(path), "exists": False}
        return Result(data, f"{path}: no database yet (`{PROG} init` creates it)", 1)
    if not path.is_file():
        raise NotADatabaseError(f"{path} is not a regular file", path=path)
    tables, app_id, version, journal = _read_header(path)
    expected = set(table_names())
    backups = list_backups(path)
    file_stat, dir_stat = path.stat(), path.parent.stat()
    data = {
        "path": str(path),
        "exists": True,
        "tables": len(tables & expected),
        "tables_expected": len(expected),
        "missing_tables": sorted(expected - tables),
        "other_tables": sorted(tables - expected),
        "application_id": app_id,
        "stamped": app_id == APPLICATION_ID,
        "schema_version": version,
        "size_bytes": file_stat.st_size,
        "journal_mode": journal,
        "permissions": oct(stat.S_IMODE(file_stat.st_mode)),
        "directory_permissions": oct(stat.S_IMODE(dir_stat.st_mode)),
        "newest_backup": str(backups[-1]) if backups else None,
        "backups": len(backups),
    }
    if app_id == APPLICATION_ID:
        identity = str(version)
    elif app_id == 0:
        identity = f"{version} (not stamped by tmws_store yet; `{PROG} init` adopts it)"
    else:
        identity = f"{version} (application_id {app_id:#x}: another program's database)"
    other = f" (and {', '.join(data['other_tables'])})" if data["other_tables"] else ""
    newest = f"{backups[-1]} ({len(backups)} in all)" if backups else "none"
    lines = [
        f"database:       {path}",
        f"tables:         {data['tables']} of {len(expected)}{other}",
        f"schema version: {identity}",
        f"size:           {file_stat.st_size:,} bytes",
        f"journal mode:   {journal}",
        f"permissions:    file {data['permissions']}, folder {data['directory_permissions']}",
        f"newest backup:  {newest}",
    ]
    return Result(data, "\n".join(lines))


def _read_header(path: Path) -> tuple[set[str], int, int, str]:
    """Table names, application_id, user_version and journal mode, read without writing.

    ``mode=rw`` never creates a missing file, and ``query_only`` refuses any write. Not
    ``mode=ro``: a read-only connection cannot delete a WAL file's ``-wal`` and ``-shm`` when
    it closes, so a mere ``status`` would leave them behind.
    """
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
        try:
            con.execute("PRAGMA query_only = ON")
            con.execute("PRAGMA trusted_schema = OFF")  # a crafted schema runs no functions
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {row[0] for row in rows}
            app_id, version, journal = (
                con.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("application_id", "user_version", "journal_mode")
            )
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise from_sqlite(exc, path, "reading") or StoreError(f"{path}: {exc}", path=path) from exc
    return tables, app_id, version, journal


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
        if report.application_id == 0:
            notes.append(f"not stamped by tmws_store yet; `{PROG} init` adopts it")
        text = "\n".join([text, *(f"note: {note}" for note in notes)])
    else:
        problems = report.problems()
        text = "\n".join([f"{store.where}: {len(problems)} problem(s)", *problems])
        if report.application_id == 0 and report.path is not None:  # init() completes it
            text += f"\n`{PROG} init` adds what is missing, after a backup"
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
    """Copy the file as it is now (never creating, completing or changing it).

    This copies with the same function as ``Store.backup``, but without its ``init()``: a
    backup is what people take *before* letting anything change a file (an old TMWS file
    would otherwise be adopted first), and a missing file must not be created just to be
    copied.
    """
    source = store.path
    if not source.is_file():
        what = "does not exist" if not source.exists() else "is not a regular file"
        raise NotADatabaseError(f"{source} {what}; there is nothing to back up", path=source)
    if args.dest is None:
        dest = backup_name(source, reason="manual")
    elif Path(args.dest).is_dir():
        dest = backup_name(source, reason="manual", folder=Path(args.dest))
    else:
        dest = Path(args.dest)
    bar = ProgressBar()
    try:
        written = backup_to(source, dest, progress=bar)
    except sqlite3.Error as exc:
        raise from_sqlite(exc, source, "backing up") or StoreError(
            f"backing up {source}: {exc}", path=source
        ) from exc
    finally:
        bar.finish()
    data = {"path": str(source), "backup": str(written), "size_bytes": written.stat().st_size}
    return Result(data, f"backup written to {written}")


def _open(where: str) -> Store:
    """A store for ``--db`` or a copy side: a URL when it has a scheme, else a file path."""
    return Store(url=where) if "://" in where else Store(where)


def cmd_copy(store: Store, args: argparse.Namespace) -> Result:
    """Copy every row of ``--from`` into the empty ``--to``, and check each one arrived.

    Either side is a file path or a URL (``sqlite:///...``, ``postgresql+psycopg://...``).
    The source is read as it is and never created or changed; the destination is created
    or completed with ``init()``. A source file that does not exist is a usage mistake
    (exit status 2), so nothing is made at either side. ``--db`` plays no part.
    """
    from .transfer import copy_store

    bars = {"copy": ProgressBar("copy "), "check": ProgressBar("check")}

    def progress(step: str, done: int, total: int) -> None:
        if step == "check":
            bars["copy"].finish()
        bars[step](done, total)

    with _open(args.source) as source, _open(args.target) as target:
        if source.backend == "sqlite" and not source.path.exists():
            message = f"{source.where} does not exist; there is nothing to copy"
            data = {"from": source.where, "to": target.where, "error": message}
            return Result(data, f"{PROG} copy: {message}", 2)
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


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse's default also prints the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{PROG} --help`)\n")


def _common_options(*, keep_earlier: bool) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    # The options are accepted before and after the command name. The subcommand's copy
    # must not overwrite a value given before the name with its default, hence SUPPRESS.
    default = {"default": argparse.SUPPRESS} if keep_earlier else {}
    options.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the database file, or a sqlite:/// or postgresql+psycopg:// URL "
        "(default: as Store() finds it)",
        **default,
    )
    options.add_argument("--json", action="store_true", help="print JSON", **default)
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


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"  # not "[Errno 2] No such file ...: '...'"
    return " ".join(str(exc).splitlines()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors (already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    run = COMMANDS[args.command][0]
    try:
        with _open(args.db) if args.db else Store() as store:
            result = run(store, args)
    except (StoreError, OSError, sqlite3.Error) as exc:
        print(f"{PROG} {args.command}: {_one_line(exc)}", file=sys.stderr)
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
