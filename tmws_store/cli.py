"""The ``tmws-store`` command (also ``python -m tmws_store``).

    tmws-store path           where the database is, and why
    tmws-store init           create or complete it; prints what was done
    tmws-store status         tables, schema version, size, journal mode, permissions, backups
                              (``--tables``: the rows of each table too)
    tmws-store verify         read-only check; exits 1 when anything is missing or wrong
    tmws-store backup [DEST]  a consistent copy (beside the file unless DEST is given)
    tmws-store copy --from A --to B   every row of store A into the empty store B, checked

Every command takes ``--db PATH`` or ``--db URL`` (default: where ``Store()`` looks),
``--json`` and ``--quiet``, before or after the command name; ``copy`` names its two stores
itself and refuses ``--db`` (a usage error). ``backup`` reads SQLite files only.

Exit status:

- 0: all is well.
- 1: the command ran, and what it found is not all well: ``verify``'s problems, or no
  database for ``status`` (a finding, printed on stdout like any other, not an error:
  nothing failed, and nothing was created).
- 2: bad usage, or the store could not be opened or was refused (any ``StoreError``, or
  the system refusing a file): one line on stderr, no traceback, nothing written.
- 130: interrupted (Ctrl-C).
- 141: stdout was closed early (``| head``). The command stops without a word, and with the
  status a shell reports for a Unix tool that SIGPIPE ended (128 + 13), so that it cannot
  be taken for ``verify``'s 1.

``--json`` holds for errors too: instead of the line on stderr, stdout gets one object
``{"error": {"type": CLASS, "message": MESSAGE}}``, with the same exit status (``type`` is
``UsageError`` for bad usage; ``MESSAGE`` is the line without its ``tmws-store CMD:``). A
usage error is shown so whenever ``--json`` (or a prefix argparse accepts, such as ``--js``)
is among the arguments before any ``--``: the parser stopped at the error, so the arguments
are read as they were typed.

``--quiet`` (``-q``) prints nothing when the command succeeds (exit 0), in text or JSON,
and draws no progress bar. What is not success is printed all the same: ``verify``'s
problems, a missing database, an error. Progress bars (tqdm: step, rate, time left) are
drawn on stderr only when it is a terminal.

Each command is a function taking the ``Store`` and the parsed arguments and returning a
``Result``: the JSON data, the text for people, and the exit status. ``main`` prints one or
the other, so ``--json`` and the text always say the same thing.
"""

import contextlib
import itertools
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TextIO

from .errors import StoreError, UnsupportedURLError
from .paths import mask_url
from .reports import counted
from .schema import table_names
from .store import Store

# argparse, json and signal are imported where they are needed, not here: a plain
# ``status``, ``path`` or ``init`` needs none of them, and importing them (argparse brings
# gettext, locale and shutil with zlib, bz2 and lzma) is a good part of such a command's time
# (#16; tests/test_cli_startup.py).
if TYPE_CHECKING:
    import argparse

__all__ = ["main"]

PROG = "tmws-store"


class Arguments:
    """The parsed command line: what ``argparse`` would return, read by the commands.

    A plain class, so that ``_plain_arguments`` can fill one without importing argparse;
    argparse fills it too (``parse_args(namespace=...)``). Each attribute exists only once
    set: argparse tells an option given before the command name by its presence.
    """

    command: str
    db: str | None
    json: bool
    quiet: bool
    tables: bool  # status only
    dest: str | None  # backup only
    source: str  # copy only
    target: str  # copy only


class Result:
    """What a command found: ``data`` for ``--json``, ``text`` for people, the exit status."""

    __slots__ = ("data", "status", "text")

    def __init__(self, data: dict[str, Any], text: str, status: int = 0) -> None:
        self.data = data
        self.text = text
        self.status = status


def _expected_tables() -> int:
    # What init() creates, so the CLI can never disagree with it (and needs no model class).
    return len(table_names())


def _plain(record: Any) -> dict[str, Any]:
    """A report dataclass as JSON-ready data (paths as strings, tuples as lists).

    The same data as a JSON round trip of ``dataclasses.asdict`` (which tests/test_cli_startup.py
    holds it to), made without either: the text of a short command needs the data too, and
    neither json nor the conversion is otherwise loaded or run for it.
    """
    return {name: _jsonable(getattr(record, name)) for name in record.__dataclass_fields__}


def _jsonable(value: object) -> object:
    """``value`` as ``json.loads(json.dumps(value, default=str))`` gives it back, for the
    values reports hold: text, numbers, None, paths, and lists, tuples and dicts of them
    (dict keys are table names, text already)."""
    if value is None or isinstance(value, str | int | float):  # a bool is an int
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return str(value)


# --- the commands -----------------------------------------------------------------------


def cmd_path(store: Store, args: Arguments) -> Result:
    """Where the database is and which setting chose it; never opens the file."""
    return Result(store.location.as_dict(), store.location.describe())


def cmd_init(store: Store, args: Arguments) -> Result:
    """Create, complete or confirm the database; the report names any backup made first."""
    report = store.init()
    return Result(_plain(report), report.summary())


def _rows_table(rows: dict[str, int]) -> list[str]:
    """Two columns, table and rows, the counts aligned on the right."""
    if not rows:
        return ["rows:           no table of the schema yet"]
    counts = {name: f"{count:,}" for name, count in sorted(rows.items())}
    name_width = max(len(name) for name in [*counts, "table"])
    count_width = max(len(count) for count in [*counts.values(), "rows"])
    return [
        f"{name:<{name_width}}  {count:>{count_width}}"
        for name, count in [("table", "rows"), *counts.items()]
    ]


def cmd_status(store: Store, args: Arguments) -> Result:
    """A quick look at the store, without creating, completing or changing anything."""
    report = store.status(rows=args.tables)
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
    if not args.tables:
        del data["rows"]  # the text shows them only with --tables, and so does the JSON
    if report.stamped:
        identity = str(report.schema_version)
    elif report.application_id == 0 and report.tables == 0 and report.other_tables:
        # What init() refuses (startup.classify): tables, none of them TMWS's.
        identity = f"{report.schema_version} (no TMWS table: another program's database)"
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
            f"size:           {counted(report.size_bytes, 'byte')}",
            f"journal mode:   {report.journal_mode}",
            f"permissions:    file {report.permissions}, folder {report.directory_permissions}",
            f"encryption:     {_encryption_line(store, report.encrypted)}",
            f"newest backup:  {f'{newest} ({len(report.backups)} in all)' if newest else 'none'}",
        ]
    if report.rows is not None:
        lines += _rows_table(report.rows)
    lines += [f"warning: {warning}" for warning in report.warnings]
    return Result(data, "\n".join(lines))


def _encryption_line(store: Store, encrypted: bool) -> str:
    key = getattr(store.location, "key", None)
    if not encrypted or key is None:
        return "off (plain SQLite file)"
    return f"encrypted (SQLCipher, {key.shown})"


def cmd_verify(store: Store, args: Arguments) -> Result:
    """Compare the file with the models (read-only); exit status 1 names every problem."""
    report = store.verify()
    data = _plain(report) | {"ok": report.ok, "problems": report.problems()}
    if report.ok:
        checked = ", quick_check ok" if report.quick_check is not None else ""
        text = f"{store.where}: ok ({counted(_expected_tables(), 'table')}{checked})"
        notes = []
        if report.extra_tables:
            notes.append(f"other tables kept: {', '.join(report.extra_tables)}")
        if report.tolerated_violations:
            count = len(report.tolerated_violations)
            rows = "row breaks its" if count == 1 else "rows break their"
            notes.append(
                f"{count:,} licence-key {rows} foreign key, as in every file TMWS wrote (tolerated)"
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
        text = "\n".join([f"{store.where}: {counted(len(problems), 'problem')}", *problems])
        if report.foreign_triggers_and_views:  # init() refuses the file while they are there
            text += f"\n`{PROG} init` will not adopt or upgrade the file until they are dropped"
        elif report.application_id == 0 and report.path is not None:
            if len(report.missing_tables) == _expected_tables() and report.extra_tables:
                # What init() refuses (startup.classify): tables, none of them TMWS's.
                text += f"\nno TMWS table: another program's database, which `{PROG} init` refuses"
            else:  # init() completes it
                text += f"\n`{PROG} init` adds what is missing, after a backup"
    text = "\n".join([text, *(f"warning: {warning}" for warning in report.warnings)])
    return Result(data, text, 0 if report.ok else 1)


class ProgressBar:
    """A tqdm progress bar on stderr (label, rate, time left), drawn only on a terminal.

    Call it with ``(done, total)`` as the back end reports them; ``finish()`` ends the line
    even if the work stopped half way, so the error message that follows starts on a line
    of its own. tqdm is imported with the first bar drawn: the commands that draw none
    never load it.
    """

    # tqdm's own layout, with the counts written out in full ("1,024/2,048").
    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:,}/{total:,} [{elapsed}<{remaining}, {rate_fmt}]"

    def __init__(self, label: str = "backup", unit: str = "pages") -> None:
        self.label = label
        self.unit = unit  # a backup counts SQLite pages, a copy rows
        # No stderr at all when the command was started with it closed (``2>&-``, a daemon).
        self.enabled = sys.stderr is not None and sys.stderr.isatty()
        self._bar: Any = None  # made by the first call, which knows the total

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        if self._bar is None:
            from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs, no py.typed

            columns, lines = _size_unless_told()
            self._bar = tqdm(
                total=total,
                desc=self.label,
                unit=f" {self.unit}",  # "12.3k rows/s"
                unit_scale=True,
                bar_format=self.FORMAT,
                file=sys.stderr,
                ncols=columns,
                nrows=lines,
            )
        self._bar.total = total  # a backup's page count grows if others write meanwhile
        self._bar.update(done - self._bar.n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()  # draws the last state and ends the line
            self._bar = None


def _size_unless_told() -> tuple[int | None, int | None]:
    """tqdm's ``ncols`` and ``nrows``: 80 x 24 on a terminal that does not say its size.

    A pseudo-terminal whose size was never set (``script`` in CI, ``docker exec -t`` at
    first) has 0 columns and 0 lines, and tqdm would then draw nothing at all. None when
    the terminal says: tqdm then follows it.
    """
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        size = os.terminal_size((0, 0))
    return (None, None) if size.columns and size.lines else (80, 24)


def _progress_bar(args: Arguments, *label_and_unit: str) -> ProgressBar:
    """A ``ProgressBar`` that ``--quiet`` keeps from drawing, even on a terminal.

    Made with the label (and unit) alone, then switched off: a stand-in for ``ProgressBar``
    (a test's, pausing a backup half way) needs to take no more than the label.
    """
    bar = ProgressBar(*label_and_unit)
    if args.quiet:
        bar.enabled = False
    return bar


def cmd_backup(store: Store, args: Arguments) -> Result:
    """Copy the file as it is now (never creating, completing or changing it)."""
    bar = _progress_bar(args, "backup")
    try:
        written = store.backup(args.dest, progress=bar)
    finally:
        bar.finish()
    data = {"path": str(store.path), "backup": str(written), "size_bytes": written.stat().st_size}
    return Result(data, f"backup written to {written}")


def _open(where: str, *, encrypted: bool | None = None) -> Store:
    """A store for ``--db`` or a copy side: a URL when it has a scheme, else a file path."""
    scheme, colon_slash, rest = where.partition(":/")
    if colon_slash and not rest.startswith("/") and _looks_like_scheme(scheme):
        # "postgresql+psycopg:/me:pw@host/db": taken as a path, it would make folders named
        # after the password. Shown without anything after the scheme.
        raise UnsupportedURLError(
            f"{scheme}:/... looks like a URL with a slash missing; write it as {scheme}://..."
        )
    return (
        Store(url=where, encrypted=encrypted)
        if "://" in where
        else Store(where, encrypted=encrypted)
    )


def _looks_like_scheme(text: str) -> bool:
    """Whether ``text`` could be a URL scheme ("sqlite", "postgresql+psycopg"); one letter is
    not taken for one (a Windows drive, "C:/")."""
    return len(text) > 1 and text[0].isalpha() and all(c.isalnum() or c in "+-." for c in text)


def cmd_encrypt(store: Store, args: Arguments) -> Result:
    """Encrypt the plain store file with the key file (created if missing), after a backup."""
    from .encryption import (
        encrypt_file,
        key_file_path,
        load_or_create_key,
        require_plain_store_file,
    )

    # Checked first, so that a mistyped path or another program's file makes no key file.
    require_plain_store_file(store.path, busy_timeout=store.busy_timeout)
    key = load_or_create_key(key_file_path())
    backup = encrypt_file(store.path, key, busy_timeout=store.busy_timeout)
    data = {"path": str(store.path), "key_file": str(key.source), "backup": str(backup)}
    text = (
        f"{store.path} is now encrypted with the key in {key.source}; set "
        "TMWS_DB_ENCRYPTION_ENABLED=true to open it. The backup made first, "
        f"{backup}, is NOT encrypted: delete it once the store opens as it should."
    )
    return Result(data, text)


def cmd_decrypt(store: Store, args: Arguments) -> Result:
    """Decrypt the store file with the key file, after a backup (an encrypted one)."""
    from .encryption import (
        decrypt_file,
        key_file_path,
        load_or_create_key,
        require_encrypted_store_file,
    )

    require_encrypted_store_file(store.path)  # before the key, which it is not about
    key = load_or_create_key(key_file_path(), create=False)
    backup = decrypt_file(store.path, key, busy_timeout=store.busy_timeout)
    data = {"path": str(store.path), "key_file": str(key.source), "backup": str(backup)}
    text = (
        f"{store.path} is now a plain SQLite file (unset TMWS_DB_ENCRYPTION_ENABLED); the "
        f"encrypted backup made first is {backup}"
    )
    return Result(data, text)


def cmd_copy(store: Store, args: Arguments) -> Result:
    """Copy every row of ``--from`` into the empty ``--to``, and check each one arrived.

    Either side is a file path or a URL (``sqlite:///...``, ``postgresql+psycopg://...``).
    The source is read as it is and never created or changed (one that does not exist is
    an error, and nothing is made at either side); the destination is created or completed
    with ``init()``. ``--db`` is refused (``_parse``).
    """
    from .transfer import copy_store

    # copy_store reports the step ("copy", then "check") and the rows of all tables, not
    # the table at hand: one bar per step.
    bars = {step: _progress_bar(args, step, "rows") for step in ("copy", "check")}

    def progress(step: str, done: int, total: int) -> None:
        if step == "check":
            bars["copy"].finish()
        bars[step](done, total)

    with _open(args.target) as target:  # ``store`` is the source: ``main`` opened --from
        try:
            report = copy_store(store, target, progress=progress)
        finally:
            for bar in bars.values():
                bar.finish()
    data = {"from": report.source, "to": report.destination, "rows": report.rows}
    return Result(data, report.summary())


Command = Callable[[Store, Arguments], Result]

COMMANDS: dict[str, tuple[Command, str]] = {
    "path": (cmd_path, "show where the database is, and why"),
    "init": (cmd_init, "create or complete the database; prints what was done"),
    "status": (cmd_status, "tables, schema version, size, journal mode, permissions, backups"),
    "verify": (cmd_verify, "read-only check against the models; exit status 1 on problems"),
    "backup": (cmd_backup, "write a consistent copy of the database"),
    "copy": (cmd_copy, "copy every row into an empty store (SQLite file or PostgreSQL)"),
    "encrypt": (cmd_encrypt, "encrypt the SQLite file with the key file, after a backup"),
    "decrypt": (cmd_decrypt, "decrypt the SQLite file with the key file, after a backup"),
}

# Commands whose Store is not keyed by TMWS_DB_ENCRYPTION_ENABLED (made with encrypted=False):
# the conversions, which open the file as it is and read the key file themselves; and path,
# which never opens the file (with encryption on, making its Store would create the key file
# of a store that may not even exist).
_NOT_KEYED = frozenset({"encrypt", "decrypt", "path"})


# --- argument parsing -------------------------------------------------------------------


class _UsageError(Exception):
    """A usage error: the parser (``prog``) and argparse's message, without the usage."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message

    def line(self) -> str:
        return f"{self.prog}: error: {self.message} (see `{PROG} --help`)"


@cache
def _parser_class() -> "type[argparse.ArgumentParser]":
    """argparse's parser, but a usage error is one line (argparse's default also prints the
    usage). Made on first use: argparse is imported only by a command line that needs it."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            # Raised, not printed: argparse quotes the arguments it rejects, URLs among them.
            raise _UsageError(self.prog, message)

    return _Parser


def _common_options(*, keep_earlier: bool) -> "argparse.ArgumentParser":
    import argparse

    options = _parser_class()(add_help=False)
    # The options are accepted before and after the command name. The subcommand's copy
    # must not overwrite a value given before the name with its default, hence SUPPRESS.
    db_default = argparse.SUPPRESS if keep_earlier else None
    flag_default: Any = argparse.SUPPRESS if keep_earlier else False
    options.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the database file, or a sqlite:/// or postgresql+psycopg:// URL "
        "(default: as Store() finds it)",
        default=db_default,
    )
    options.add_argument(
        "--json", action="store_true", help="print JSON, errors too", default=flag_default
    )
    options.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print nothing when all is well (problems and errors are still printed)",
        default=flag_default,
    )
    return options


def build_parser(only: str | None = None) -> "argparse.ArgumentParser":
    """The argument parser of the ``tmws-store`` command; with ``only``, of that command alone
    (a parser per command costs a few milliseconds, most of a short command's own time)."""
    from . import __version__

    parser = _parser_class()(
        prog=PROG,
        description="Look after the TMWS database (~/.tmws/data/tmws.db by default).",
        epilog="The file is, in order: --db, TMWS_DATABASE_URL, $TMWS_HOME/data/tmws.db, "
        "~/.tmws/data/tmws.db. Exit status: 0 fine, 1 problems found (verify) or no "
        "database (status), 2 bad usage or an error.",
        parents=[_common_options(keep_earlier=False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        if only is not None and name != only:
            continue
        command = commands.add_parser(
            name, help=summary, description=summary, parents=[_common_options(keep_earlier=True)]
        )
        if name == "status":
            command.add_argument(
                "--tables", action="store_true", help="the rows of each table, too"
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


def _command_named(argv: Sequence[str]) -> str | None:
    """The command that ``argv`` names: its first word that is one and not the value of --db.

    Only a guess, for building the one parser needed: ``_parse`` falls back to the whole
    parser whenever the guess fails, so what is accepted and every message stay argparse's.
    """
    for before, word in zip(["", *argv], argv, strict=False):
        if word in COMMANDS and before != "--db":
            return word
    return None


def _asks_for_help_or_version(word: str) -> bool:
    """``-h``, ``--help``, ``--version`` or an abbreviation argparse takes for one of them
    (``--he``): help lists every command, so it needs the whole parser."""
    if word.startswith("-h"):
        return True
    return len(word) > 2 and ("--help".startswith(word) or "--version".startswith(word))


# The commands that take the common options alone (and status its --tables), which
# ``_plain_arguments`` reads without argparse; backup and copy have arguments of their own.
_PLAIN_COMMANDS = frozenset({"path", "init", "status", "verify", "encrypt", "decrypt"})
_PLAIN_FLAGS = {"--json": "json", "--quiet": "quiet", "-q": "quiet"}


def _plain_arguments(argv: Sequence[str]) -> Arguments | None:
    """``argv`` read as argparse reads it, when it is one of the plain command lines of the
    commands above: the command name, ``--db VALUE`` or ``--db=VALUE``, ``--json``,
    ``--quiet``/``-q``, and ``--tables`` after ``status``, each word spelt out in full.

    None for anything else (an abbreviation, ``--help``, a value starting with "-", a second
    command, ``--``, an unknown word): argparse then reads it, and every message and every
    odd case stays argparse's. tests/test_cli_startup.py holds the two readings equal.
    """
    values: dict[str, object] = {"db": None, "json": False, "quiet": False}
    words = iter(argv)
    for word in words:
        if word in _PLAIN_FLAGS:
            values[_PLAIN_FLAGS[word]] = True
        elif word == "--db":
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None  # argparse's error, or a value it may read otherwise
            values["db"] = value
        elif word.startswith("--db="):
            values["db"] = word.removeprefix("--db=")
        elif word in _PLAIN_COMMANDS and "command" not in values:
            values["command"] = word
            if word == "status":
                values["tables"] = False
        elif word == "--tables" and values.get("command") == "status":
            values["tables"] = True
        else:
            return None
    if "command" not in values:
        return None
    args = Arguments()
    for name, read in values.items():
        setattr(args, name, read)
    return args


def _parse(argv: Sequence[str]) -> Arguments:
    """The parsed arguments; raises ``_UsageError`` for what argparse refuses, and more."""
    plain = _plain_arguments(argv)
    if plain is not None:
        return plain
    only = _command_named(argv)
    try:
        if only is None or any(_asks_for_help_or_version(word) for word in argv):
            raise _UsageError(PROG, "not one plain command")  # the whole parser decides
        args = build_parser(only).parse_args(argv, namespace=Arguments())
    except _UsageError:
        args = build_parser().parse_args(argv, namespace=Arguments())
    if args.command == "copy" and args.db is not None:
        # Ignoring it would copy other stores than the user may think they named.
        raise _UsageError(
            f"{PROG} copy", "argument --db: not allowed with copy, which takes --from and --to"
        )
    return args


def _given_urls(argv: Sequence[str]) -> list[str]:
    """Every URL the command was given: argument, ``--opt=URL`` value or TMWS_DATABASE_URL."""
    given = [*argv, *(arg.partition("=")[2] for arg in argv if arg.startswith("-"))]
    given.append(os.environ.get("TMWS_DATABASE_URL", ""))
    return [text for text in given if "://" in text or ":/" in text]


def _json_typed(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or a prefix argparse takes for it, "--js") is among ``argv``.

    For usage errors, where the parser stopped before it could say; an argument after
    ``--`` is a value, not an option.
    """
    options = itertools.takewhile(lambda arg: arg != "--", argv)
    return any(len(arg) >= 3 and "--json".startswith(arg) for arg in options)


def _hide_passwords(message: str, urls: Iterable[str]) -> str:
    """``message`` with each of ``urls``, as given or quoted by ``repr``, shown masked.

    The last line of defence: the messages of tmws_store mask URLs themselves, but one from
    elsewhere (argparse, a driver) may quote what it was given.
    """
    for url in urls:
        # Also as a path would show it: a URL given where a path is taken (a backup's
        # destination) is quoted with its "//" made "/", which mask_url no longer reads as
        # a URL; the password is then masked by the same rule.
        as_path = os.path.normpath(url)
        for text, masked in ((url, mask_url(url)), (as_path, mask_url(url).replace("//", "/"))):
            message = message.replace(repr(text), repr(masked)).replace(text, masked)
    return message


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"  # not "[Errno 2] No such file ...: '...'"
    return " ".join(str(exc).splitlines()) or type(exc).__name__


# --- running a command ------------------------------------------------------------------


class Output:
    """What ``main`` prints on stdout and on stderr, and the exit status."""

    __slots__ = ("err", "out", "status")

    def __init__(self, out: str = "", err: str = "", status: int = 0) -> None:
        self.out = out
        self.err = err
        self.status = status


def _failure(as_json: bool, kind: str, line: str, message: str, status: int) -> Output:
    """An error: ``line`` on stderr, or with ``--json`` one object on stdout instead."""
    if as_json:
        import json

        error = {"error": {"type": kind, "message": message}}
        return Output(out=json.dumps(error, indent=2, sort_keys=True) + "\n", status=status)
    return Output(err=line + "\n", status=status)


def _run(argv: Sequence[str]) -> Output:
    """Parse ``argv``, run the command, and say what to print; prints only --help/--version."""
    urls = _given_urls(argv)
    try:
        args = _parse(argv)
    except _UsageError as exc:
        message, line = (_hide_passwords(text, urls) for text in (exc.message, exc.line()))
        return _failure(_json_typed(argv), "UsageError", line, message, 2)
    except SystemExit as exit_:  # --help and --version (already printed)
        return Output(status=exit_.code if isinstance(exit_.code, int) else 2)
    run = COMMANDS[args.command][0]
    # The store a command works on; copy's is its source, so that it builds no default
    # Store (which an unusable TMWS_DATABASE_URL would stop) between two stores it names.
    where = args.source if args.command == "copy" else args.db
    try:
        encrypted = False if args.command in _NOT_KEYED else None
        # An empty --db (an unset variable in a script) is refused as the empty path it is,
        # not taken for no --db: that would act on the default store.
        with (
            Store(encrypted=encrypted)
            if where is None
            else _open(where, encrypted=encrypted) as store
        ):
            result = run(store, args)
    except (StoreError, OSError) as exc:
        message = _hide_passwords(_one_line(exc), urls)
        line = f"{PROG} {args.command}: {message}"
        return _failure(args.json, type(exc).__name__, line, message, 2)
    except KeyboardInterrupt:
        line = f"{PROG} {args.command}: interrupted"
        return _failure(args.json, "KeyboardInterrupt", line, "interrupted", 130)
    if args.quiet and result.status == 0:
        return Output()
    if args.json:
        import json

        data = json.dumps(result.data, indent=2, sort_keys=True)
        return Output(out=data + "\n", status=result.status)
    return Output(out=result.text + "\n", status=result.status)


def _reader_gone() -> int:
    """Stop without a word once stdout's reader has gone (``tmws-store status | head -1``).

    Python ignores SIGPIPE, so writing to a pipe nobody reads raises BrokenPipeError where
    a Unix tool would die of the signal. Both streams are pointed at /dev/null, so that the
    flush at exit has nothing left to fail on (the recipe of Python's ``signal`` docs), and
    the status is the one a shell shows for a tool SIGPIPE ended: 128 + 13. SIGPIPE's
    default action is not restored instead: as those docs warn, it would also end the
    process without a word when a socket (a PostgreSQL connection) breaks.
    """
    import signal

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError, OSError):  # no real descriptor
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)
    return 128 + signal.SIGPIPE


def _write(stream: TextIO | None, text: str) -> None:
    """Write all of ``text`` to ``stream`` and flush it, or raise (BrokenPipeError).

    Through the binary buffer, in a loop: when the reader of a pipe goes away during a
    write, the write returns a short count, which ``TextIOWrapper.write`` takes for the
    whole, and the rest would be lost without a word (exit status 0). The next write meets
    the closed pipe instead.
    """
    if stream is None:  # the command was started with the stream closed
        return
    binary: BinaryIO | None = getattr(stream, "buffer", None)
    if binary is None:  # a text-only stream (io.StringIO): nothing is cut short there
        stream.write(text)
        stream.flush()
        return
    stream.flush()  # what went through the text layer first (argparse's --help) comes first
    left = memoryview(text.encode(stream.encoding, stream.errors or "strict"))
    while left:
        left = left[binary.write(left) :]
    binary.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    # Warnings (the new key file's) as one line each, like every other message of the
    # command, not the warnings module's two lines quoting a line of this file.
    with warnings.catch_warnings(record=True) as warned:  # the filters stay as they were
        try:
            output = _run(sys.argv[1:] if argv is None else argv)
        except KeyboardInterrupt:  # before the command ran (while parsing): it has its own
            output = Output(err=f"{PROG}: interrupted\n", status=130)
    notes = "".join(f"{PROG}: warning: {' '.join(str(w.message).split())}\n" for w in warned)
    output.err = notes + output.err
    try:
        # Written and flushed here, not at exit: a reader that went away is met where it
        # can be handled.
        _write(sys.stdout, output.out)
        _write(sys.stderr, output.err)
    except BrokenPipeError:
        return _reader_gone()
    return output.status


if __name__ == "__main__":
    sys.exit(main())
