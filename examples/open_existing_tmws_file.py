"""Open an existing TMWS database and complete it, keeping every row.

    python examples/open_existing_tmws_file.py [PATH]

With PATH, that file is completed in place (after a backup beside it). With no PATH, the
example first makes a demo file like the ones older TMWS installs left behind (34 of the 42
tables, one agent), and completes a copy of it, in a scratch folder deleted at the end.
"""

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from sqlmodel import select

from tmws_store import Agent, Store, StoreError

# The tables that TMWS installs made before the fix were missing: their model classes were
# never imported, so SQLAlchemy never created them.
MISSING_BEFORE_THE_FIX = [
    "mcp_connections", "phase_templates", "skill_activations", "skill_mcp_tools",
    "skill_memory_filters", "skill_shared_agents", "skill_versions", "skills",
]  # fmt: skip


def make_demo_file(folder: Path) -> Path:
    """A file shaped like an old TMWS install: 34 tables, one agent, no tmws_store stamp."""
    path = folder / "old-tmws.db"
    with Store(path) as store:  # tmws_store's tables are TMWS's, column for column
        store.init()
        with store.session() as session:
            session.add(Agent(agent_id="hestia", display_name="Hestia"))
    con = sqlite3.connect(path)
    for table in MISSING_BEFORE_THE_FIX:
        con.execute(f"DROP TABLE {table}")
    # TMWS never set these two header fields; tmws_store uses them to recognise its files.
    con.execute("PRAGMA application_id = 0")
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    return path


def main() -> int:
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        if not path.is_file():
            # Store.init() would create a new, empty database here: not what was asked.
            print(f"{path}: no such file", file=sys.stderr)
            return 2
        return complete(path)
    with tempfile.TemporaryDirectory(prefix="tmws-existing-") as scratch:
        demo = make_demo_file(Path(scratch))
        path = Path(scratch) / "copy-of-old-tmws.db"
        shutil.copyfile(demo, path)
        print("completing a copy of a demo file:", path)
        return complete(path)


def complete(path: Path) -> int:
    """Complete the file at ``path`` and say what happened; 1 if it was refused."""
    try:
        with Store(path) as store:
            # For a TMWS file, init() backs it up beside itself, then adds what is missing in
            # one transaction, and stamps it: later starts see "current" and do nothing.
            report = store.init()
            print(report.summary())
            print("action:", report.action)
            print("backup of the original:", report.backup or "none needed")
            problems = store.verify().problems()  # read-only, compares with the models
            print("verify:", "ok" if not problems else "; ".join(problems))
            with store.session(readonly=True) as session:
                names = session.exec(select(Agent.display_name)).all()
            print("agents kept:", list(names))
    except StoreError as error:
        # Another program's database, a newer schema, not SQLite at all...: the message says
        # what was found and what to do, and the file was left untouched.
        print("refused:", error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
