"""``murmur export``: a forum database as an offline dataset (see ``detection.dataset`` for the format).

The database is opened read-only and read in one transaction, so the dataset
is one consistent snapshot even while the forum or a swarm writes to it; the
server need not run. The manifest is written last: a folder without one is
an export that did not finish.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conversations.meta import read_meta
from conversations.models import utc_now
from conversations.schema import SCHEMA_VERSION as FORUM_SCHEMA_VERSION
from detection.dataset import (
    ACCOUNTS,
    FORMAT,
    LABELS,
    MANIFEST,
    POST_LABELS,
    POSTS,
    SCHEMA_VERSION,
    THREADS,
    sha256_of,
)
from detection.errors import ExportError

ROLES = {
    ACCOUNTS: "accounts (what a platform sees)",
    THREADS: "threads (what a platform sees)",
    POSTS: "posts with times and reply structure (what a platform sees)",
    LABELS: "ground truth: which accounts are synthetic, with persona, run and generator",
    POST_LABELS: "ground truth: which posts are synthetic, with persona, run, generator, action and score",
}

_SITE = "CASE WHEN instr(coalesce({col}, ''), ':') > 0 THEN substr({col}, 1, instr({col}, ':') - 1) ELSE '' END"
# file -> (header, query): the header names the query's columns, in its order
QUERIES: dict[str, tuple[tuple[str, ...], str]] = {
    ACCOUNTS: (("account_id", "handle", "created_at", "site"),
               f"SELECT id, handle, created_at, {_SITE.format(col='external_id')} FROM accounts ORDER BY id"),
    THREADS: (("thread_id", "account_id", "created_at", "title", "tags", "site"),
              f"SELECT id, author_id, created_at, title, tags, {_SITE.format(col='external_id')} FROM threads ORDER BY id"),
    POSTS: (("post_id", "thread_id", "account_id", "parent_id", "created_at", "body", "site"),
            f"SELECT id, thread_id, author_id, parent_id, created_at, body, {_SITE.format(col='external_id')} "
            "FROM posts ORDER BY id"),
    LABELS: (("account_id", "synthetic", "persona", "run_id", "generator"),
             "SELECT a.id, CASE WHEN g.account_id IS NULL THEN 0 ELSE 1 END, coalesce(g.persona, ''), "
             "coalesce(g.run_id, ''), coalesce(g.generator, '') "
             "FROM accounts a LEFT JOIN gt_accounts g ON g.account_id = a.id ORDER BY a.id"),
    # every post; a post is synthetic when it has provenance or its author is a synthetic account
    POST_LABELS: (("post_id", "account_id", "synthetic", "persona", "run_id", "generator", "action", "score"),
                  "SELECT p.id, p.author_id, CASE WHEN g.post_id IS NOT NULL OR ga.account_id IS NOT NULL THEN 1 ELSE 0 END, "
                  "coalesce(g.persona, ga.persona, ''), coalesce(g.run_id, ga.run_id, ''), "
                  "coalesce(g.generator, ga.generator, ''), coalesce(g.action, ''), g.score "
                  "FROM posts p LEFT JOIN gt_posts g ON g.post_id = p.id "
                  "LEFT JOIN gt_accounts ga ON ga.account_id = p.author_id ORDER BY p.id"),
}


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says: the schema version, counts, and each file's rows and checksum."""

    path: Path
    schema_version: int
    counts: dict[str, int]
    files: dict[str, dict[str, Any]]

    def summary(self) -> str:
        c = self.counts
        return (f"{c['accounts']} accounts ({c['synthetic_accounts']} synthetic), {c['threads']} threads, "
                f"{c['posts']} posts ({c['synthetic_posts']} synthetic)")


def open_snapshot(db: Path) -> sqlite3.Connection:
    """The forum database, read-only, inside one read transaction."""
    db = Path(db)
    if not db.is_file():
        raise ExportError(f"{db}: no forum database here; pass the forum's --db (default forum.db in config.yml)")
    try:
        conn = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True)
        conn.execute("BEGIN")  # deferred: the snapshot is fixed by the first read below
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ExportError(f"{db}: not a forum database ({exc}); pass the forum's --db") from None
    missing = {"accounts", "threads", "posts", "gt_accounts", "gt_posts"} - tables
    if missing:
        conn.close()
        raise ExportError(f"{db}: not a murmur forum database (no table {', '.join(sorted(missing))}); pass the forum's --db")
    if version != FORUM_SCHEMA_VERSION:
        conn.close()
        raise ExportError(f"{db}: forum schema version {version}, but this murmur exports version {FORUM_SCHEMA_VERSION}; "
                          "open it once with this murmur's `murmur forum` (which migrates it), or use the matching murmur")
    return conn


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    return count


def _rows(conn: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    cursor = conn.execute(sql)
    while batch := cursor.fetchmany(1000):
        yield from batch


def export_forum(db_path: Path, out_dir: Path) -> Manifest:
    """Write the forum at ``db_path`` as a dataset in ``out_dir``; returns the manifest (with counts)."""
    out_dir = Path(out_dir)
    conn = open_snapshot(db_path)
    try:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
        (out_dir / MANIFEST).unlink(missing_ok=True)  # an unfinished export must not look finished
        files: dict[str, dict[str, Any]] = {}
        for name, (header, sql) in QUERIES.items():
            rows = _write_csv(out_dir / name, header, _rows(conn, sql))
            files[name] = {"rows": rows, "sha256": sha256_of(out_dir / name), "role": ROLES[name], "columns": list(header)}
        forum_meta = read_meta(conn)
        synthetic_accounts = conn.execute("SELECT count(*) FROM gt_accounts").fetchone()[0]
        synthetic_posts = conn.execute(
            "SELECT count(*) FROM posts p WHERE p.id IN (SELECT post_id FROM gt_posts WHERE post_id IS NOT NULL) "
            "OR p.author_id IN (SELECT account_id FROM gt_accounts)").fetchone()[0]
        conn.execute("COMMIT")
    finally:
        conn.close()
    counts = {
        "accounts": files[ACCOUNTS]["rows"],
        "threads": files[THREADS]["rows"],
        "posts": files[POSTS]["rows"],
        "synthetic_accounts": synthetic_accounts,
        "synthetic_posts": synthetic_posts,
    }
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "created_by": "murmur export",
        "exported_at": utc_now(),
        "source": {"db": str(Path(db_path).resolve()), "forum_schema_version": FORUM_SCHEMA_VERSION},
        "counts": counts,
        "truth_files": [LABELS, POST_LABELS],
        "forum_meta": forum_meta,  # e.g. "replay": its window and how far each site's times were shifted
        "files": files,
    }
    path = out_dir / MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return Manifest(path=path, schema_version=SCHEMA_VERSION, counts=counts, files=files)
