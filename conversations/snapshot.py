"""The forum's read side: every query against the forum's tables outside the store lives here.

A ForumSnapshot opens the database read-only, inside one read transaction, so all it returns is one
consistent moment even while a forum or a swarm writes to it, and the server need not run. The index,
the swarm's evaluation, the export and the demo read the forum through it and know no table or column.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conversations.engines import PostgresConnection, PostgresEngine, is_postgres, postgres_sql
from conversations.errors import NotAForum, StoreError
from conversations.meta import read_meta
from conversations.models import utc_now
from conversations.schema import SCHEMA_VERSION

TABLES = {"accounts", "threads", "posts", "gt_accounts", "gt_posts"}
_CURSORS = itertools.count()

# what a dataset export holds, by name -> (header, query): the header names the query's columns, in its order; a
# query whose last column is ``external_id`` gives the site instead (the part before ':' of an imported id)
EXPORTS: dict[str, tuple[tuple[str, ...], str]] = {
    "accounts": (("account_id", "handle", "created_at", "site"),
                 "SELECT id, handle, created_at, external_id FROM accounts ORDER BY id"),
    "threads": (("thread_id", "account_id", "created_at", "title", "tags", "site"),
                "SELECT id, author_id, created_at, title, tags, external_id FROM threads ORDER BY id"),
    "posts": (("post_id", "thread_id", "account_id", "parent_id", "created_at", "body", "site"),
              "SELECT id, thread_id, author_id, parent_id, created_at, body, external_id FROM posts ORDER BY id"),
    "labels": (("account_id", "synthetic", "persona", "run_id", "generator", "campaign_id", "role"),
               "SELECT a.id, CASE WHEN g.account_id IS NULL THEN 0 ELSE 1 END, coalesce(g.persona, ''), "
               "coalesce(g.run_id, ''), coalesce(g.generator, ''), coalesce(g.campaign_id, ''), coalesce(g.role, '') "
               "FROM accounts a LEFT JOIN gt_accounts g ON g.account_id = a.id ORDER BY a.id"),
    # every post; a post is synthetic when it has provenance or its author is a synthetic account
    "post_labels": (("post_id", "account_id", "synthetic", "persona", "run_id", "generator", "action", "score",
                     "campaign_id", "role"),
                    "SELECT p.id, p.author_id, CASE WHEN g.post_id IS NOT NULL OR ga.account_id IS NOT NULL THEN 1 ELSE 0 END, "
                    "coalesce(g.persona, ga.persona, ''), coalesce(g.run_id, ga.run_id, ''), "
                    "coalesce(g.generator, ga.generator, ''), coalesce(g.action, ''), g.score, "
                    "coalesce(g.campaign_id, ''), coalesce(g.role, '') "
                    "FROM posts p LEFT JOIN gt_posts g ON g.post_id = p.id "
                    "LEFT JOIN gt_accounts ga ON ga.account_id = p.author_id ORDER BY p.id"),
}

# the admin export (GET /api/admin/export): every column, ground truth included, by record kind
RECORDS = {
    "account": "SELECT id, handle, display_name, created_at, external_id FROM accounts ORDER BY id",
    "thread": "SELECT id, title, author_id, created_at, last_activity_at, post_count, tags, source_url, external_id "
              "FROM threads ORDER BY id",
    "post": "SELECT id, thread_id, author_id, parent_id, body, created_at, external_id FROM posts ORDER BY id",
    "synthetic_account": "SELECT account_id, persona, run_id, generator, created_at, campaign_id, role FROM gt_accounts "
                         "ORDER BY account_id",
    "provenance": "SELECT post_id, account_id, idempotency_key, persona, run_id, generator, action, score, extra, "
                  "recorded_at, campaign_id, role FROM gt_posts ORDER BY id",
}


@dataclass(frozen=True)
class PostByAccount:
    """A post in thread order with whether its author is synthetic (and as which persona): for rule checks."""

    thread_id: int
    handle: str
    persona: str | None
    created_at: str
    synthetic: bool


def site_of(external_id: str | None) -> str:
    """The site of an imported record (``site:id``); '' for what the forum made itself."""
    return external_id.split(":", 1)[0] if external_id and ":" in external_id else ""


class ForumSnapshot:
    """One read-only, consistent view of a forum database."""

    def __init__(self, conn: Any, db: Path | str) -> None:
        self._conn = conn
        self.db = db

    @classmethod
    def open(cls, db: Path | str) -> ForumSnapshot:
        """The forum at ``db`` (a SQLite file or a ``postgresql://`` URL); a missing file, another kind of database
        or another schema version is NotAForum."""
        if is_postgres(db):
            return cls._open_postgres(str(db))
        db = Path(db)
        if not db.is_file():
            raise NotAForum(f"{db}: no forum database here; run `murmur forum` or `murmur import` first, "
                            "or pass the forum's --db (default forum.db in config.yml)")
        try:
            conn = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True)
            conn.execute("BEGIN")  # deferred: the snapshot is fixed by the first read below
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise NotAForum(f"{db}: not a murmur forum database ({exc}); pass the forum's --db") from None
        missing = TABLES - tables
        if missing:
            conn.close()
            raise NotAForum(f"{db}: not a murmur forum database (no table {', '.join(sorted(missing))}); "
                            "pass the forum's --db")
        if version != SCHEMA_VERSION:
            conn.close()
            raise NotAForum(f"{db}: forum schema version {version}, but this murmur reads version {SCHEMA_VERSION}; "
                            "open it once with this murmur's `murmur forum` (which migrates it), or use the matching murmur")
        return cls(conn, db)

    @classmethod
    def _open_postgres(cls, url: str) -> ForumSnapshot:
        engine = PostgresEngine(url)
        try:
            conn = engine.connect(read_only=True)
        except StoreError as exc:
            raise NotAForum(str(exc)) from None
        conn.execute("BEGIN")
        conn.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # one moment for every read
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        missing = (TABLES | {"schema_version"}) - tables
        if missing:
            conn.close()
            raise NotAForum(f"{engine.redacted()}: not a murmur forum database (no table {', '.join(sorted(missing))}); "
                            "serve it once with `murmur forum --db URL`, or give the forum's URL")
        version = conn.execute("SELECT version FROM schema_version").fetchone()
        if version is None or version[0] != SCHEMA_VERSION:
            conn.close()
            raise NotAForum(f"{engine.redacted()}: forum schema version {version[0] if version else 0}, but this murmur "
                            f"reads version {SCHEMA_VERSION}; serve it once with this murmur's `murmur forum` (which "
                            "migrates it), or use the matching murmur")
        return cls(conn, url)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ForumSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- threads -------------------------------------------------------------------------------------------

    def thread_count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM threads").fetchone()[0]

    def thread_ids(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT id FROM threads ORDER BY id")]

    def titles(self, ids: Sequence[int]) -> dict[int, str]:
        """Titles of the threads among ``ids`` that exist."""
        out: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            out.update(self._conn.execute(f"SELECT id, title FROM threads WHERE id IN ({marks})", chunk))
        return out

    def thread_text(self, thread_id: int, max_posts: int) -> tuple[str, list[str]] | None:
        """(title, the first ``max_posts`` post bodies in the order posted); None for an unknown thread."""
        row = self._conn.execute("SELECT title FROM threads WHERE id = ?", (thread_id,)).fetchone()
        if row is None:
            return None
        bodies = [b for (b,) in self._conn.execute(
            "SELECT body FROM posts WHERE thread_id = ? ORDER BY created_at, id LIMIT ?", (thread_id, max_posts))]
        return row[0], bodies

    def newest_threads(self, count: int) -> list[tuple[int, str]]:
        """(id, title) of the threads with the latest activity."""
        return self._conn.execute(
            "SELECT id, title FROM threads ORDER BY last_activity_at DESC, id DESC LIMIT ?", (count,)).fetchall()

    def thread_sites(self) -> dict[int, str | None]:
        """Each thread's site, from the id an imported thread keeps (``site:question``); None for the forum's own."""
        return {i: (e.split(":", 1)[0] if e else None)
                for i, e in self._conn.execute("SELECT id, external_id FROM threads")}

    def latest_seq(self) -> int:
        """The sequence number of the newest event (0 for none): where a follower of the events resumes."""
        return self._conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    # -- posts and ground truth ----------------------------------------------------------------------------

    def posts_in_thread_order(self) -> list[PostByAccount]:
        """Every post by thread and time, with its author's handle and ground truth."""
        return [PostByAccount(t, h, p, c, bool(s)) for t, h, p, c, s in self._conn.execute(
            "SELECT p.thread_id, a.handle, g.persona, p.created_at, g.account_id IS NOT NULL "
            "FROM posts p JOIN accounts a ON a.id = p.author_id LEFT JOIN gt_accounts g ON g.account_id = p.author_id "
            "ORDER BY p.thread_id, p.created_at, p.id")]

    def export_rows(self, name: str) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        """(header, rows) of one dataset table (see EXPORTS), streamed in batches."""
        header, sql = EXPORTS[name]
        cursor = self._streamed(sql)
        with_site = header[-1] == "site"

        def rows() -> Iterator[tuple[Any, ...]]:
            try:
                while batch := cursor.fetchmany(1000):
                    for row in batch:
                        yield (*row[:-1], site_of(row[-1])) if with_site else tuple(row)
            finally:
                cursor.close()

        return header, rows()

    def synthetic_counts(self) -> tuple[int, int]:
        """(synthetic accounts, synthetic posts): a post is synthetic with provenance or a synthetic author."""
        accounts = self._conn.execute("SELECT count(*) FROM gt_accounts").fetchone()[0]
        posts = self._conn.execute(
            "SELECT count(*) FROM posts p WHERE p.id IN (SELECT post_id FROM gt_posts WHERE post_id IS NOT NULL) "
            "OR p.author_id IN (SELECT account_id FROM gt_accounts)").fetchone()[0]
        return accounts, posts

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of the forum with its ground truth, one dict each, as the admin export streams them."""
        yield {"kind": "meta", "schema_version": SCHEMA_VERSION, "exported_at": utc_now()}  # open() checked it
        for kind, sql in RECORDS.items():
            cursor = self._streamed(sql)
            try:
                names = [d[0] for d in cursor.description]
                while batch := cursor.fetchmany(1000):
                    for row in batch:
                        record = dict(zip(names, row))
                        for key in ("tags", "extra"):
                            if key in record:
                                record[key] = json.loads(record[key])
                        yield {"kind": kind, **record}
            finally:
                cursor.close()

    def _streamed(self, sql: str) -> Any:
        """A cursor over a whole table that holds a batch at a time: on PostgreSQL a server-side cursor (a plain
        one would bring the whole result into this process first); SQLite steps through the file anyway."""
        if isinstance(self._conn, PostgresConnection):
            cursor = self._conn.raw.cursor(name=f"murmur_export_{next(_CURSORS)}")
            cursor.execute(postgres_sql(sql), ())
            return cursor
        return self._conn.execute(sql)

    def meta(self) -> dict[str, Any]:
        """The forum's notes (e.g. a replay's window and site shifts)."""
        return read_meta(self._conn)
