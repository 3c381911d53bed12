"""The forum's SQLite schema and its migrations.

The schema version lives in ``PRAGMA user_version``; each migration runs in
its own transaction, so a database is always at exactly one version.
"""

from __future__ import annotations

import sqlite3

from conversations.errors import StoreError

_V1 = """
CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY,
    handle       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    token_hash   TEXT UNIQUE,
    external_id  TEXT UNIQUE
);
CREATE TABLE threads (
    id               INTEGER PRIMARY KEY,
    title            TEXT NOT NULL,
    author_id        INTEGER NOT NULL REFERENCES accounts(id),
    created_at       TEXT NOT NULL,
    last_activity_at TEXT NOT NULL,
    post_count       INTEGER NOT NULL DEFAULT 0,
    tags             TEXT NOT NULL DEFAULT '[]',
    source_url       TEXT,
    external_id      TEXT UNIQUE
);
CREATE INDEX threads_by_activity ON threads (last_activity_at DESC, id DESC);
CREATE TABLE posts (
    id              INTEGER PRIMARY KEY,
    thread_id       INTEGER NOT NULL REFERENCES threads(id),
    author_id       INTEGER NOT NULL REFERENCES accounts(id),
    parent_id       INTEGER REFERENCES posts(id),
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    idempotency_key TEXT,
    external_id     TEXT UNIQUE,
    UNIQUE (author_id, idempotency_key)
);
CREATE INDEX posts_by_thread ON posts (thread_id, id);
CREATE INDEX posts_by_author ON posts (author_id, created_at);
-- Every committed thread and post, in commit order: the event socket replays from here.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    thread_id  INTEGER NOT NULL REFERENCES threads(id),
    post_id    INTEGER NOT NULL REFERENCES posts(id),
    created_at TEXT NOT NULL
);
-- Full-text search: one row per post (rowid = post id); an opening post carries its thread's title.
CREATE VIRTUAL TABLE post_search USING fts5 (text, thread_id UNINDEXED, tokenize = 'porter unicode61');
-- Ground truth. Never read by the public API or the web pages.
CREATE TABLE gt_accounts (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    persona    TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    generator  TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- A provenance row may be recorded before its post exists (keyed by the post's idempotency key);
-- the post is linked in the same transaction that creates it, so no bot post is ever without one.
CREATE TABLE gt_posts (
    id              INTEGER PRIMARY KEY,
    post_id         INTEGER UNIQUE REFERENCES posts(id),
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    idempotency_key TEXT,
    persona         TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    generator       TEXT NOT NULL,
    action          TEXT,
    score           REAL,
    extra           TEXT NOT NULL DEFAULT '{}',
    recorded_at     TEXT NOT NULL,
    UNIQUE (account_id, idempotency_key)
);
"""

# v2: notes about the forum itself (e.g. how a replay shifted each site's times), for exports to carry along.
_V2 = """
CREATE TABLE forum_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION; refuse one written by a newer murmur."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"database schema version {current} is newer than this murmur understands ({SCHEMA_VERSION}); "
            "upgrade murmur or use another --db"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
