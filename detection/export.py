"""``murmur export``: a forum database as an offline dataset (see ``detection.dataset`` for the format).

The database is opened read-only and read in one transaction, so the dataset
is one consistent snapshot even while the forum or a swarm writes to it; the
server need not run. The manifest is written last: a folder without one is
an export that did not finish.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conversations.engines import is_postgres, shown
from conversations.errors import NotAForum
from conversations.models import utc_now
from conversations.schema import SCHEMA_VERSION as FORUM_SCHEMA_VERSION
from conversations.snapshot import ForumSnapshot
from core.files import sha256_of
from detection.dataset import (
    ACCOUNTS,
    FORMAT,
    LABELS,
    MANIFEST,
    POST_LABELS,
    POSTS,
    SCHEMA_VERSION,
    THREADS,
)
from detection.errors import ExportError

ROLES = {
    ACCOUNTS: "accounts (what a platform sees)",
    THREADS: "threads (what a platform sees)",
    POSTS: "posts with times and reply structure (what a platform sees)",
    LABELS: "ground truth: which accounts are synthetic, with persona, run and generator",
    POST_LABELS: "ground truth: which posts are synthetic, with persona, run, generator, action and score",
}

# dataset file -> the snapshot's export of it
TABLES = {ACCOUNTS: "accounts", THREADS: "threads", POSTS: "posts", LABELS: "labels", POST_LABELS: "post_labels"}


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


def open_snapshot(db: Path) -> ForumSnapshot:
    """The forum database, read-only, inside one read transaction."""
    try:
        return ForumSnapshot.open(db)
    except NotAForum as exc:
        raise ExportError(str(exc)) from None


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    return count


def export_forum(db_path: Path, out_dir: Path) -> Manifest:
    """Write the forum at ``db_path`` as a dataset in ``out_dir``; returns the manifest (with counts)."""
    out_dir = Path(out_dir)
    snapshot = open_snapshot(db_path)
    try:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
        (out_dir / MANIFEST).unlink(missing_ok=True)  # an unfinished export must not look finished
        files: dict[str, dict[str, Any]] = {}
        for name, table in TABLES.items():
            header, rows = snapshot.export_rows(table)
            count = _write_csv(out_dir / name, header, rows)
            files[name] = {"rows": count, "sha256": sha256_of(out_dir / name), "role": ROLES[name], "columns": list(header)}
        forum_meta = snapshot.meta()
        synthetic_accounts, synthetic_posts = snapshot.synthetic_counts()
    finally:
        snapshot.close()
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
        "source": {"db": shown(db_path) if is_postgres(db_path) else str(Path(db_path).resolve()), "forum_schema_version": FORUM_SCHEMA_VERSION},
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
