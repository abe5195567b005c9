"""Open an existing TMWS database and complete it, keeping every row.

    python examples/open_existing_tmws_file.py [PATH]

With no PATH, a stand-in for an old TMWS file (34 of the 42 tables, one agent) is made in a
temporary folder first. The original is backed up beside itself before anything changes.
"""

import sqlite3
import sys
import tempfile
from pathlib import Path

from tmws_store import Store


def make_old_tmws_file(folder: Path) -> Path:
    """A file like the ones TMWS's pre-fix installs left: 34 of the 42 tables, no stamp."""
    path = folder / "tmws.db"
    with Store(path) as store:  # tmws_store's tables are TMWS's, character for character
        store.init()
    con = sqlite3.connect(path)
    missing_before_the_fix = [
        "mcp_connections", "phase_templates", "skill_activations", "skill_mcp_tools",
        "skill_memory_filters", "skill_shared_agents", "skill_versions", "skills",
    ]  # fmt: skip
    for table in missing_before_the_fix:
        con.execute(f"DROP TABLE {table}")
    con.execute(
        "INSERT INTO agents (agent_id, display_name, namespace, capabilities, config, "
        "default_access_level, status, health_score, total_memories, total_tasks, "
        "successful_tasks, trust_score, total_verifications, accurate_verifications, tier, id) "
        "VALUES ('hestia', 'Hestia', 'default', '{}', '{}', 'private', 'active', 1.0, 0, 0, 0, "
        "0.5, 0, 0, 'FREE', '9b2f6f3e-8a52-4c1e-9f62-3c1d7e0f5a11')"
    )
    con.execute("PRAGMA application_id = 0")  # as TMWS leaves it
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    return path


path = Path(sys.argv[1]) if len(sys.argv) > 1 else make_old_tmws_file(Path(tempfile.mkdtemp()))
with Store(path) as store:
    report = store.init()
    print(report.summary())
    print("backup of the original:", report.backup)
    problems = store.verify().problems()
    print("verify:", problems or "ok")
