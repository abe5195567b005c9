"""Where the database is, and why; private directories and files.

Resolution order: the explicit ``path`` or ``url`` argument, ``TMWS_DATABASE_URL``,
``$TMWS_HOME/data/tmws.db``, ``~/.tmws/data/tmws.db`` (TMWS's own default on every
platform, which is why it is not a platformdirs location). A ``postgresql://`` or
``postgresql+psycopg://`` URL names a PostgreSQL database instead of a file
(a ``ServerLocation``).

URLs are parsed by SQLAlchemy and paths are never pasted into URL strings: a path ending in
``?timeout=0`` stays a path, and an empty path is an error, not an in-memory database. The
plain SQLite form ``sqlite:///FILE`` is read here instead, exactly as SQLAlchemy reads it, so
that a start-up on a file never imports SQLAlchemy (see ``_sqlite_url_database``).

A symlink at the database path is followed (a user may keep the file on another disk): the
data, ``-wal`` and ``-shm`` files live beside the target, and the link itself is never
replaced. A broken link is refused rather than followed into a new, empty database: it most
often means the disk holding the file is not mounted.

Folders the store creates are private (0700). A folder that exists already, the TMWS home and
its ``data`` folder included, is never changed: it may be a shared ``/tmp``-like folder or a
link to a team's folder, whose mode is its owner's choice. ``wide_folders`` names those that
other users can reach, for ``tmws-store status`` to warn about.

Every URL shown to people goes through ``mask_url``, which hides the password.
"""

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .errors import NotADatabaseError, StoreError, UnsupportedURLError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from .encryption import DatabaseKey

__all__ = [
    "Location",
    "ServerLocation",
    "absolute_path",
    "create_private_file",
    "ensure_private_dirs",
    "mask_url",
    "resolve_location",
    "tmws_home",
    "wide_folders",
]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
# psycopg 3 serves both the sync and the async engine; plain "postgresql" means it too (SQLAlchemy
# would otherwise pick psycopg2, which tmws_store does not install).
POSTGRES_DRIVERS = {"postgresql", "postgresql+psycopg"}
# scheme://user:PASSWORD@ (also "--db=scheme://..."). The password runs to the LAST "@": one
# holding a raw "@" would otherwise show its tail, as SQLAlchemy cuts it at the first "@" and
# takes the rest for the host name. A file URL (sqlite:///...) has no user part and no match.
_NETLOC_PASSWORD = re.compile(r"^(?P<head>[^:/?#@\s]+://[^:/@]*:)(?P<secret>.*)(?=@)", re.DOTALL)
# libpq (so psycopg) also takes the password from the query: ...?password=...
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


@dataclass(frozen=True)
class Location:
    """The database file and where that choice came from.

    ``source`` is one of ``"argument"``, ``"url argument"``, ``"TMWS_DATABASE_URL"``,
    ``"TMWS_HOME"``, ``"default"``. ``home`` is the TMWS home directory for the last two
    (whose permissions ``status`` and ``verify`` report, never change); ``None`` otherwise.
    """

    path: Path
    source: str
    home: Path | None = None
    # The key of an encrypted file (see ``encryption``); None for a plain one. Never shown.
    key: "DatabaseKey | None" = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """One line for people: the path and why it was chosen."""
        why = {
            "argument": "given as the path argument",
            "url argument": "given as the url argument",
            "TMWS_DATABASE_URL": "from the TMWS_DATABASE_URL environment variable",
            "TMWS_HOME": "from the TMWS_HOME environment variable",
            "default": "the default location",
        }[self.source]
        return f"{self.path} ({why})"

    def as_dict(self) -> dict[str, object]:
        """The same, as data (for ``tmws-store path --json``)."""
        return {"path": str(self.path), "source": self.source, "exists": self.path.exists()}


def mask_url(url: "str | URL") -> str:
    """``url`` as text with its password replaced by ``***``: for every message, repr and log.

    Text that SQLAlchemy cannot parse (a port that is not a number, a bracket left open) is
    masked too, by its shape alone; a ``password=`` query parameter is hidden as well.
    Anything else, a file path included, comes back as it was.
    """
    # Rendered with the password so that one rule masks both; SQLAlchemy percent-encodes any
    # "@", ":" or "/" in it, so the rule finds exactly its span.
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    text = _NETLOC_PASSWORD.sub(r"\g<head>***", text, count=1)
    return _QUERY_PASSWORD.sub(r"\g<head>***", text)


@dataclass(frozen=True, repr=False)
class ServerLocation:
    """A PostgreSQL database named by a URL, and where that URL came from.

    ``source`` is ``"url argument"`` or ``"TMWS_DATABASE_URL"``. The URL always names the
    psycopg driver; ``describe()`` hides the password.
    """

    url: "URL"
    source: str

    @property
    def shown(self) -> str:
        """The URL with its password hidden, for messages and reports."""
        return mask_url(self.url)

    def __repr__(self) -> str:
        # The dataclass repr would show the URL's own repr, which keeps a query password.
        return f"ServerLocation(url={self.shown!r}, source={self.source!r})"

    def describe(self) -> str:
        """One line for people: the URL (without its password) and why it was chosen."""
        why = {
            "url argument": "given as the url argument",
            "TMWS_DATABASE_URL": "from the TMWS_DATABASE_URL environment variable",
        }[self.source]
        return f"{self.shown} ({why})"

    def as_dict(self) -> dict[str, object]:
        """The same, as data (for ``tmws-store path --json``)."""
        return {"url": self.shown, "source": self.source}


def _sqlite_url_database(url: str) -> str | None:
    """The database part of a ``sqlite:///FILE`` URL, read without SQLAlchemy; None for any
    other URL, which SQLAlchemy then parses.

    Only a SQLite scheme followed by ``:///`` is read here. Such a URL has no user, password,
    host or port in SQLAlchemy's reading either: its database runs from the third "/" to the
    first "?" (or the end) and is percent-decoded, and its query is not used by the store.
    ``tests/test_startup_imports.py`` holds the two readings equal.
    """
    scheme, slashes, rest = url.partition(":///")
    if not slashes or scheme not in SQLITE_DRIVERS:
        return None
    return unquote(rest.partition("?")[0])


def _location_from_url(url: str, source: str) -> "Location | ServerLocation":
    shown = mask_url(url)
    database = _sqlite_url_database(url)
    if database is not None:
        return _file_location(database, shown, source)
    # Imported only now: a start-up on a file never needs SQLAlchemy (see the module docstring).
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        # Not SQLAlchemy's reason: it quotes pieces of the text (the whole URL in some
        # versions, the "port" in others, which is the password's tail when it holds an "@").
        raise UnsupportedURLError(
            f"{source}: {shown!r} is not a database URL; check the scheme:// at its start and "
            "that the port after the host is a number"
        ) from None
    if parsed.host and "@" in parsed.host:
        # A raw "@" in the password: SQLAlchemy cuts it at the first "@" and takes the rest
        # for the host, which the driver would then quote in its "cannot resolve" error.
        raise UnsupportedURLError(
            f"{source}: {shown!r} holds more than one '@' before its host; write an '@' of "
            "the user name or password as %40"
        )
    if parsed.drivername in POSTGRES_DRIVERS:
        if not parsed.database:
            raise UnsupportedURLError(f"{source}: {shown!r} names no database")
        return ServerLocation(parsed.set(drivername="postgresql+psycopg"), source)
    if parsed.drivername not in SQLITE_DRIVERS:
        raise UnsupportedURLError(
            f"{source}: {parsed.drivername!r} databases are not supported; use a SQLite URL "
            "such as sqlite:////home/me/.tmws/data/tmws.db or a PostgreSQL one such as "
            "postgresql+psycopg://user@host/tmws"
        )
    return _file_location(parsed.database, shown, source)


def _file_location(database: str | None, shown: str, source: str) -> Location:
    """The file a SQLite URL's ``database`` part names; none, or an in-memory one, is refused."""
    if not database or database == ":memory:":
        raise UnsupportedURLError(
            f"{source}: {shown!r} names no file; tmws_store keeps its data in a file"
        )
    return Location(absolute_path(Path(database)), source)


def absolute_path(path: Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded, made absolute (not resolved)."""
    try:
        expanded = path.expanduser()
    except RuntimeError:  # ~user of no such user, or a ~ with no home directory to find
        raise StoreError(
            f"cannot expand {str(path)!r}: its user or home directory is unknown; "
            "give the path in full",
            path=path,
        ) from None
    return Path(os.path.abspath(expanded))


def tmws_home(environ: Mapping[str, str] | None = None) -> Path:
    """TMWS's own folder: ``$TMWS_HOME``, or ``~/.tmws``; ``~`` expanded, made absolute.

    The one reading of ``TMWS_HOME``: the default database and the encryption key file are
    both found under it, so they can never end up in two places.
    """
    env = os.environ if environ is None else environ
    return absolute_path(Path(env["TMWS_HOME"]) if env.get("TMWS_HOME") else Path("~/.tmws"))


def resolve_location(
    path: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> "Location | ServerLocation":
    """Decide which database the store uses (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    if path is not None and url is not None:
        raise TypeError("give either a path or a url, not both")
    if path is not None:
        if not os.fspath(path):
            raise NotADatabaseError("the database path is empty; give a file name")
        return Location(absolute_path(Path(path)), "argument")
    if url is not None:
        return _location_from_url(url, "url argument")
    if env.get("TMWS_DATABASE_URL"):
        return _location_from_url(env["TMWS_DATABASE_URL"], "TMWS_DATABASE_URL")
    home = tmws_home(env)
    return Location(
        home / "data" / "tmws.db", "TMWS_HOME" if env.get("TMWS_HOME") else "default", home
    )


def ensure_private_dirs(location: Location) -> None:
    """Create the file's missing parent directories, private to the user (0700).

    Only the folders made here are given a mode. One that exists already, the TMWS home or
    its ``data`` folder included, is left exactly as it is (``wide_folders`` reports it).
    """
    missing = []
    probe = location.path.parent
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        _make_private_dir(directory)


def _make_private_dir(directory: Path) -> None:
    """Create ``directory`` with mode 0700; one that appeared meanwhile is not ours to change."""
    try:
        directory.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return  # made by another process meanwhile: an existing folder
    # mkdir's mode is masked by the umask, so set it again, on a descriptor opened without
    # following links: had the new folder been swapped for a link, its target stays untouched.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, PRIVATE_DIR_MODE)
    finally:
        os.close(fd)


def wide_folders(location: "Location | ServerLocation") -> list[str]:
    """One message per folder of the store that other users can reach (group or other bits).

    The folders are the database's (as named and, for a linked file, the real one) and the
    TMWS home. Reads only: the store never changes a folder it did not create, so this is
    how a too-open one comes to light. Missing folders, and PostgreSQL stores, give nothing.
    """
    if isinstance(location, ServerLocation):
        return []
    candidates = [location.path.parent, Path(os.path.realpath(location.path)).parent]
    if location.home is not None:
        candidates.append(location.home)
    messages: list[str] = []
    seen: set[str] = set()
    for folder in candidates:
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        message = _wide_folder_message(folder, real)
        if message is not None:
            messages.append(message)
    return messages


def _wide_folder_message(folder: Path, real: str) -> str | None:
    try:
        mode = stat.S_IMODE(folder.stat().st_mode)
    except OSError:  # missing or unreachable: nothing to say about its mode
        return None
    if not mode & 0o077:
        return None
    name = f"{folder} (a link to {real})" if folder.is_symlink() else str(folder)
    return (
        f"folder {name} is open to other users (mode {mode:#o}); tmws_store leaves folders "
        f"it did not create as they are: `chmod 700 {real}` if only you should reach it"
    )


def tighten(path: Path, mode: int) -> None:
    """Remove the permission bits of ``path`` outside ``mode`` when it is owned by us.

    Bits are only ever taken away: a file the user made read-only (0444) stays read-only,
    so the store refuses it instead of quietly making it writable. A symbolic link is not
    followed: the file behind it is someone's shared file, not ours to narrow. (Folders are
    never tightened: see ``ensure_private_dirs``.)
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        return
    current = stat.S_IMODE(st.st_mode)
    if st.st_uid == os.getuid() and current & ~mode:
        os.chmod(path, current & mode)


def create_private_file(path: Path) -> bool:
    """Create an empty file with mode 0600 unless it exists; True when we created it.

    SQLite gives the ``-wal`` and ``-shm`` files the main file's permissions, so creating the
    main file 0600 before SQLite opens it keeps all three private whatever the umask.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    os.chmod(path, PRIVATE_FILE_MODE)
    return True
