"""The ``tmws-store`` command (also ``python -m tmws_store``).

    tmws-store path      where the database is, and why
    tmws-store init      create or complete it; prints what was done
    tmws-store status    tables, schema version, size, journal mode, permissions, backups
    tmws-store verify    read-only check; exits 1 when anything is missing or wrong
    tmws-store backup    a consistent copy (beside the file unless DEST is given)

Every command takes ``--db PATH`` (default: the Store's own resolution) and ``--json``.
Errors print one line on stderr and exit 1 (2 for bad usage); no traceback.
"""

import argparse
import json
import sqlite3
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import schema
from .backup import backup_name
from .errors import NotADatabaseError, StoreError
from .store import Store

__all__ = ["main"]

Printer = Callable[[str], None]


def _cmd_path(store: Store, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    loc = store.location
    data = {"path": str(loc.path), "source": loc.source, "exists": loc.path.exists()}
    return data, loc.describe(), 0


def _cmd_init(store: Store, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    report = store.init()
    data = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(report).items()}
    return data, report.summary(), 0


def _newest_backup(path: Path) -> Path | None:
    backups = sorted(path.parent.glob(f"{path.name}.backup-*"))
    return backups[-1] if backups else None


def _cmd_status(store: Store, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    path = store.path
    if not path.exists():
        data = {"path": str(path), "exists": False}
        return data, f"{path}: no database yet (run `tmws-store init`)", 1
    if not path.is_file():
        raise NotADatabaseError(f"{path} is not a file", path=path)
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        app_id, version, journal = con.execute(
            "SELECT * FROM pragma_application_id(), pragma_user_version(), pragma_journal_mode()"
        ).fetchall()[0]
    except sqlite3.DatabaseError as exc:
        raise NotADatabaseError(f"{path} is not a SQLite database ({exc})", path=path) from exc
    finally:
        con.close()
    ours = names & schema.table_names()
    newest = _newest_backup(path)
    data = {
        "path": str(path),
        "exists": True,
        "tables": len(ours),
        "tables_expected": len(schema.table_names()),
        "other_tables": sorted(names - schema.table_names()),
        "stamped": app_id == schema.APPLICATION_ID,
        "schema_version": version,
        "size_bytes": path.stat().st_size,
        "journal_mode": journal,
        "permissions": oct(stat.S_IMODE(path.stat().st_mode)),
        "directory_permissions": oct(stat.S_IMODE(path.parent.stat().st_mode)),
        "newest_backup": str(newest) if newest else None,
    }
    lines = [
        f"database:       {path}",
        f"tables:         {len(ours)} of {data['tables_expected']}",
        f"schema version: {version}" + ("" if data["stamped"] else " (not stamped by tmws_store)"),
        f"size:           {data['size_bytes']:,} bytes",
        f"journal mode:   {journal}",
        f"permissions:    file {data['permissions']}, folder {data['directory_permissions']}",
        f"newest backup:  {newest or 'none'}",
    ]
    return data, "\n".join(lines), 0


def _cmd_verify(store: Store, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    report = store.verify()
    data = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(report).items()}
    data["ok"] = report.ok
    problems = report.problems()
    if report.ok:
        text = f"{store.path}: ok ({len(schema.table_names())} tables, quick_check ok)"
        if report.tolerated_violations:
            text += f"; {len(report.tolerated_violations)} known TMWS licence-key violations"
    else:
        text = "\n".join([f"{store.path}: {len(problems)} problems", *problems])
    return data, text, 0 if report.ok else 1


class _ProgressBar:
    """A one-line bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} pages")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _cmd_backup(store: Store, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    dest = Path(args.dest) if args.dest else backup_name(store.path, reason="manual")
    written = store.backup(dest, progress=_ProgressBar())
    data = {"backup": str(written), "size_bytes": written.stat().st_size}
    return data, f"backup written to {written}", 0


COMMANDS = {
    "path": (_cmd_path, "show where the database is, and why"),
    "init": (_cmd_init, "create or complete the database"),
    "status": (_cmd_status, "tables, schema version, size, journal mode, permissions"),
    "verify": (_cmd_verify, "read-only check against the models; exit 1 on problems"),
    "backup": (_cmd_backup, "write a consistent copy of the database"),
}


def _parser() -> argparse.ArgumentParser:
    def options(defaults: bool) -> argparse.ArgumentParser:
        # The options are accepted before and after the command; the copy on the command
        # must not reset a value given before it, hence SUPPRESS there.
        common = argparse.ArgumentParser(add_help=False)
        keep = {} if defaults else {"default": argparse.SUPPRESS}
        common.add_argument("--db", metavar="PATH", help="database file", **keep)
        common.add_argument("--json", action="store_true", help="print JSON", **keep)
        return common

    parser = argparse.ArgumentParser(
        prog="tmws-store", description="Manage the TMWS database.", parents=[options(True)]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, parents=[options(False)])
        if name == "backup":
            cmd.add_argument("dest", nargs="?", help="where to write the copy (a new file)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        store = Store(args.db) if args.db else Store()
        with store:
            data, text, code = COMMANDS[args.command][0](store, args)
    except (StoreError, OSError) as exc:
        print(f"tmws-store {args.command}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text)
    return code


if __name__ == "__main__":
    sys.exit(main())
