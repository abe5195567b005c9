"""The schema as data: its identity stamp, its tables and its DDL snapshot, for every back end.

A store is ours when it carries ``APPLICATION_ID``; its schema version is then the stamp's
second number (a SQLite file keeps both in its header, ``PRAGMA application_id`` and
``PRAGMA user_version``; a PostgreSQL schema in a comment). The DDL of the current version
is a committed snapshot, ``ddl/v<N>.sql``, which ``tests/test_schema_drift.py`` proves equal
to what the models compile to. Nothing here imports SQLAlchemy or a model until asked for
the models' tables, so start-up on a current or a fresh file needs neither.
"""

import os
import re
from functools import cache
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from sqlalchemy import Table

__all__ = [
    "APPLICATION_ID",
    "BASELINE_VERSION",
    "SCHEMA_VERSION",
    "create_statements",
    "model_tables",
    "snapshot_indexes",
    "snapshot_statements",
    "snapshot_tables",
    "table_names",
]

APPLICATION_ID = 0x544D5753  # "TMWS" in ASCII
SCHEMA_VERSION = 2
# The version a TMWS 2.4.18 file is completed to before the migrations run: its own schema.
BASELINE_VERSION = 1


def model_tables() -> "list[Table]":
    """The models' tables, parents before children. Imports the 42 model classes."""
    # Imported here, not at the top: building the classes is most of the cost of importing
    # the package, and start-up on a current or a fresh file needs none of them.
    from . import models

    return list(models.TMWSModel.metadata.sorted_tables)


_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \(")


@cache
def snapshot_tables() -> tuple[str, ...]:
    """The schema's tables in creation order (parents first), read from the DDL snapshot.

    No model is imported for this. ``tests/test_schema_drift.py`` proves the snapshot is
    exactly what the models compile to, so these are the models' tables.
    """
    return tuple(
        match[1] for statement in create_statements() if (match := _CREATE_TABLE.match(statement))
    )


def table_names() -> frozenset[str]:
    """Names of every table of the schema (see ``snapshot_tables``)."""
    return frozenset(snapshot_tables())


def create_statements() -> tuple[str, ...]:
    """The schema's SQLite DDL, read from the snapshot shipped for ``SCHEMA_VERSION``.

    Compiling the statements from the models takes longer than executing them, so a fresh
    file is created from ``ddl/v<N>.sql``; ``tests/test_schema_drift.py`` proves that file is
    exactly what the models compile to.
    """
    return snapshot_statements(SCHEMA_VERSION)


class _DataLoader(Protocol):
    def get_data(self, path: str) -> bytes: ...


def _package_text(*parts: str) -> str:
    """A text file shipped inside the package, read by the loader that imported it.

    The loader reads the file wherever the package lives (a folder or a zip archive), as
    ``pkgutil.get_data`` does; ``importlib.resources`` would do the same but costs a start-up
    that reads the snapshot (``tmws-store status``) several milliseconds of imports
    (tempfile, shutil, zipfile).
    """
    loader = cast("_DataLoader", __spec__.loader)  # the loader that imported this module
    data = loader.get_data(os.path.join(os.path.dirname(__file__), *parts)).decode("utf-8")
    return data.replace("\r\n", "\n")  # read as text mode would (a checkout with CRLF ends)


@cache
def snapshot_statements(version: int) -> tuple[str, ...]:
    """The SQLite DDL of schema ``version``, from its snapshot ``ddl/v<version>.sql``."""
    text = _package_text("ddl", f"v{version}.sql")
    return tuple(block.removesuffix(";") for block in text.split(";\n\n") if block.strip())


_CREATE_INDEX = re.compile(r"CREATE (?:UNIQUE )?INDEX (\w+) ON")


@cache
def snapshot_indexes(version: int) -> frozenset[str]:
    """The names of the indexes schema ``version`` creates."""
    statements = snapshot_statements(version)
    return frozenset(m[1] for s in statements if (m := _CREATE_INDEX.match(s)))
