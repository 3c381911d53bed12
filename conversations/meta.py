"""Notes about the forum itself, read from a forum database (e.g. by an export, to carry a replay's site shifts)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def read_meta(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every note, by key (an empty dict for a forum without any)."""
    return {key: json.loads(value) for key, value in conn.execute("SELECT key, value FROM forum_meta ORDER BY key")}
