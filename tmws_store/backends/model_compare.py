"""Compare what a database holds with the models: the part of ``verify()`` every back end shares.

Each back end reads its own catalog (``sqlite_master`` and ``PRAGMA table_info``, or
PostgreSQL's inspector) and hands the names here, so "missing" and "extra" mean the same on
both.
"""

from collections.abc import Callable

from ..reports import VerifyReport
from ..schema import model_tables, table_names

__all__ = ["compare_with_models"]


def compare_with_models(
    report: VerifyReport,
    tables: set[str],
    indexes: set[str],
    columns_of: Callable[[str], set[str]],
) -> None:
    """Fill in the missing and extra tables, columns and indexes of ``report``."""
    expected_indexes: set[str] = set()
    for table in model_tables():
        expected_indexes |= {str(ix.name) for ix in table.indexes}
        if table.name not in tables:
            report.missing_tables.append(table.name)
            continue
        present = columns_of(table.name)
        wanted = {c.name for c in table.columns}
        report.missing_columns += [f"{table.name}.{c}" for c in sorted(wanted - present)]
        report.extra_columns += [f"{table.name}.{c}" for c in sorted(present - wanted)]
        report.missing_indexes += sorted(
            str(ix.name) for ix in table.indexes if ix.name not in indexes
        )
    report.extra_tables = sorted(tables - table_names())
    report.extra_indexes = sorted(indexes - expected_indexes)
