"""The offline dataset: what ``murmur export`` writes and what ``murmur detect`` reads.

A dataset is a folder of CSV files (UTF-8, a header row, RFC 4180 quoting):

    manifest.json     format, schema_version, counts, and each file's rows and SHA-256
    accounts.csv      account_id, handle, created_at, site
    threads.csv       thread_id, account_id, created_at, title, tags (JSON list), site
    posts.csv         post_id, thread_id, account_id, parent_id, created_at, body, site
    labels.csv        account_id, synthetic (0/1), persona, run_id, generator   <- ground truth
    post_labels.csv   post_id, account_id, synthetic, persona, run_id, generator, action, score

Ground truth lives only in labels.csv and post_labels.csv. ``site`` (the part
of an imported record's external id before ':') is there for summaries;
detectors never see it, nor handles, nor anything in the label files.

Data not made by murmur needs only ``posts.csv`` (post_id, account_id,
created_at; thread_id, parent_id and body when there are any) and
``labels.csv`` (account_id, synthetic). ``manifest.json`` is optional then;
when present its schema_version must match and its checksums must hold.
Every problem is reported, with the file that has it, before any work starts.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conversations.models import parse_time
from core.files import sha256_of
from detection.errors import DatasetError

SCHEMA_VERSION = 1
FORMAT = "murmur-detection-dataset"
MANIFEST = "manifest.json"
ACCOUNTS = "accounts.csv"
THREADS = "threads.csv"
POSTS = "posts.csv"
LABELS = "labels.csv"
POST_LABELS = "post_labels.csv"

# file -> (required columns, optional columns), in the order murmur writes them
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ACCOUNTS: (("account_id",), ("handle", "created_at", "site")),
    THREADS: (("thread_id",), ("account_id", "created_at", "title", "tags", "site")),
    POSTS: (("post_id", "account_id", "created_at"), ("thread_id", "parent_id", "body", "site")),
    LABELS: (("account_id", "synthetic"), ("persona", "run_id", "generator", "campaign_id", "role")),
    POST_LABELS: (("post_id", "synthetic"), ("account_id", "persona", "run_id", "generator", "action", "score",
                                             "campaign_id", "role")),
}
REQUIRED_FILES = (POSTS, LABELS)
TRUTH_FILES = (LABELS, POST_LABELS)

# The smallest dataset a split by account can evaluate: synthetic accounts in the test and fit parts,
# human accounts in the test, fit and calibration parts (thresholds are set on calibration humans).
MIN_SYNTHETIC = 4
MIN_HUMAN = 8

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
csv.field_size_limit(16 * 1024 * 1024)


def columns_of(name: str) -> tuple[str, ...]:
    required, optional = COLUMNS[name]
    return required + optional


@dataclass(frozen=True)
class Forum:
    """What a platform sees, and all a detector may use: posts with authors, threads, times, replies, text.

    Accounts are those with at least one post (an account that never posted has nothing to score).
    No labels, no sites, no handles, no external ids.
    """

    account_ids: tuple[str, ...]
    thread_ids: tuple[str, ...]
    thread_titles: tuple[str, ...]
    post_ids: tuple[str, ...]
    post_account: np.ndarray  # index into account_ids
    post_thread: np.ndarray  # index into thread_ids
    post_parent: np.ndarray  # index into post_ids, -1 for none
    post_time: np.ndarray  # Unix seconds, float64
    post_body: tuple[str, ...]
    has_threads: bool = True  # posts.csv has thread_id (else every post is a thread of its own)
    has_text: bool = True  # posts.csv has body

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    @property
    def n_posts(self) -> int:
        return len(self.post_ids)


@dataclass(frozen=True)
class Truth:
    """Ground truth: used to fit and score detectors, never as a feature."""

    account_synthetic: np.ndarray  # bool, per Forum account
    post_synthetic: np.ndarray  # bool, per Forum post
    account_info: tuple[dict[str, str], ...]  # persona, run_id, generator, campaign_id, role (empty for people)
    post_campaign: tuple[str, ...] = ()  # per Forum post: the campaign an on-goal post served ('' for every other)


@dataclass(frozen=True)
class Dataset:
    path: Path
    forum: Forum
    truth: Truth
    manifest: dict[str, Any] | None
    account_site: tuple[str, ...]  # summaries only
    post_site: tuple[str, ...]
    silent_accounts: int = 0  # labelled accounts without posts (not scored)
    notes: tuple[str, ...] = field(default_factory=tuple)


# -- reading -----------------------------------------------------------------------------------


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); export the dataset again or remove the file") from None
    if not isinstance(manifest, dict) or "schema_version" not in manifest:
        raise DatasetError(f"{path}: no schema_version; a manifest is a JSON object with \"schema_version\": {SCHEMA_VERSION}")
    version = manifest["schema_version"]
    if version != SCHEMA_VERSION:
        raise DatasetError(f"{path}: schema_version {version!r}, but this murmur reads version {SCHEMA_VERSION}; "
                           "export the dataset again with this murmur (`murmur export`)")
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise DatasetError(f"{path}: \"files\" must be an object of file name -> {{rows, sha256}}")
    for name, entry in files.items():
        target = folder / name
        if not target.exists():
            raise DatasetError(f"{target}: listed in {MANIFEST} but missing; copy the whole dataset folder")
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if expected and sha256_of(target) != expected:
            raise DatasetError(f"{target}: its SHA-256 differs from {MANIFEST} (changed after export?); "
                               "export again, or remove its sha256 from the manifest if the change is intended")
    return manifest


def _read_csv(path: Path) -> list[dict[str, str]]:
    required, optional = COLUMNS[path.name]
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'no header'}; "
                                   f"{path.name} needs {', '.join(required)} (optional: {', '.join(optional)})")
            rows = []
            end = reader.line_num  # a quoted cell may span lines: a row is named by the line it starts on
            for row in reader:
                if None in row:  # more cells than header columns
                    raise DatasetError(f"{path} line {end + 1}: more cells than the header has columns; quote text that contains commas")
                row["_line"] = str(end + 1)
                end = reader.line_num
                rows.append(row)
            return rows
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: not readable as CSV ({exc})") from None


def _id(row: dict[str, str], column: str, path: Path, required: bool = True) -> str | None:
    value = (row.get(column) or "").strip()
    if not value:
        if required:
            raise DatasetError(f"{path} line {row['_line']}: {column} is empty; every row needs one")
        return None
    return value


def _time(row: dict[str, str], path: Path) -> float:
    text = (row.get("created_at") or "").strip()
    try:
        value = float(text)  # Unix seconds are accepted too
        if math.isfinite(value):
            return value
    except ValueError:
        pass
    try:
        return parse_time(text).timestamp()
    except ValueError:
        raise DatasetError(f"{path} line {row['_line']}: created_at {text!r} is not an ISO-8601 time or Unix seconds") from None


def _flag(row: dict[str, str], path: Path) -> bool:
    text = (row.get("synthetic") or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DatasetError(f"{path} line {row['_line']}: synthetic is {text!r}; write 1 (synthetic) or 0 (human)")


def _first(items: list[str], n: int = 3) -> str:
    return ", ".join(repr(i) for i in items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _unique(rows: list[dict[str, str]], column: str, path: Path) -> list[str]:
    ids = [_id(r, column, path) for r in rows]
    seen: dict[str, str] = {}
    for row, value in zip(rows, ids):
        if value in seen:
            raise DatasetError(f"{path} line {row['_line']}: {column} {value!r} repeats line {seen[value]}; ids must be unique")
        seen[value] = row["_line"]
    return ids  # type: ignore[return-value]


def load_dataset(folder: Path | str, *, splittable: bool = True) -> Dataset:
    """Read and check a dataset; every problem is a DatasetError naming the file, raised before any work.
    ``splittable``: refuse one too small to split by account (what the detectors' evaluation does; a coordination
    report or a toolkit export does not split)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no dataset folder here; make one with `murmur export --out {folder}`, "
                           f"or put {POSTS} and {LABELS} in a folder (see docs/detection.md)")
    manifest = _read_manifest(folder)
    for name in REQUIRED_FILES:
        if not (folder / name).exists():
            raise DatasetError(f"{folder / name}: missing; a dataset needs {POSTS} (posts with author and time) "
                               f"and {LABELS} (which accounts are synthetic)")
    tables = {name: _read_csv(folder / name) for name in COLUMNS if (folder / name).exists()}
    posts_path, labels_path = folder / POSTS, folder / LABELS
    posts = tables[POSTS]
    if not posts:
        raise DatasetError(f"{posts_path}: no posts; there is nothing to detect")
    post_ids = _unique(posts, "post_id", posts_path)
    header = set(posts[0])
    has_threads, has_text, has_parents = "thread_id" in header, "body" in header, "parent_id" in header

    # accounts: declared ones (accounts.csv) and authors
    declared = _unique(tables[ACCOUNTS], "account_id", folder / ACCOUNTS) if ACCOUNTS in tables else None
    authors = [_id(p, "account_id", posts_path) for p in posts]
    if declared is not None:
        unknown = sorted(set(authors) - set(declared))
        if unknown:
            raise DatasetError(f"{posts_path}: {len(unknown)} author(s) not in {ACCOUNTS} ({_first(unknown)}); "
                               f"add them to {ACCOUNTS} or drop that file")
    known_accounts = set(declared) if declared is not None else set(authors)

    # labels
    label_rows = tables[LABELS]
    label_ids = _unique(label_rows, "account_id", labels_path)
    labels = {a: _flag(r, labels_path) for a, r in zip(label_ids, label_rows)}
    strangers = [a for a in label_ids if a not in known_accounts]
    if strangers:
        where = ACCOUNTS if declared is not None else f"{POSTS} (as an author)"
        raise DatasetError(f"{labels_path}: labels for {len(strangers)} account(s) that are not in {where}: {_first(strangers)}; "
                           "remove those rows or add the accounts")
    unlabelled = sorted({a for a in authors if a not in labels})
    if unlabelled:
        raise DatasetError(f"{posts_path}: {len(unlabelled)} author(s) have no row in {LABELS} ({_first(unlabelled)}); "
                           "label every account that posted (synthetic 1 or 0)")

    # accounts with posts, in order of first appearance
    account_ids = tuple(dict.fromkeys(authors))
    account_index = {a: i for i, a in enumerate(account_ids)}
    synthetic = np.array([labels[a] for a in account_ids], dtype=bool)
    n_syn, n_hum = int(synthetic.sum()), int((~synthetic).sum())
    if n_syn == 0:
        raise DatasetError(f"{labels_path}: no synthetic account has a post; detection needs synthetic and human accounts")
    if n_hum == 0:
        raise DatasetError(f"{labels_path}: no human account has a post; detection needs synthetic and human accounts "
                           "(thresholds are set on human accounts)")
    if splittable and (n_syn < MIN_SYNTHETIC or n_hum < MIN_HUMAN):
        raise DatasetError(f"{labels_path}: {n_syn} synthetic and {n_hum} human accounts have posts; a split by account "
                           f"needs at least {MIN_SYNTHETIC} synthetic and {MIN_HUMAN} human accounts with posts")

    # threads
    notes: list[str] = []
    thread_rows = tables.get(THREADS, [])
    if THREADS in tables:
        declared_threads = _unique(thread_rows, "thread_id", folder / THREADS)
        titles = {t: (r.get("title") or "").strip() for t, r in zip(declared_threads, thread_rows)}
    else:
        declared_threads, titles = None, {}
    post_thread_ids: list[str] = []
    for post, post_id in zip(posts, post_ids):
        thread = _id(post, "thread_id", posts_path, required=False) if has_threads else None
        post_thread_ids.append(thread if thread is not None else f"post:{post_id}")
    if declared_threads is not None:
        unknown = sorted({t for t in post_thread_ids if t not in titles})
        if unknown:
            raise DatasetError(f"{posts_path}: thread_id(s) not in {THREADS}: {_first(unknown)}; add those threads or drop {THREADS}")
    if not has_threads:
        notes.append(f"{POSTS} has no thread_id: every post counts as its own thread, so coordination and relevance cannot be measured")
    thread_ids = tuple(dict.fromkeys(post_thread_ids))
    thread_index = {t: i for i, t in enumerate(thread_ids)}

    post_index = {p: i for i, p in enumerate(post_ids)}
    parents = np.full(len(posts), -1, dtype=np.int64)
    if has_parents:
        for i, post in enumerate(posts):
            parent = _id(post, "parent_id", posts_path, required=False)
            if parent is None:
                continue
            if parent not in post_index:
                raise DatasetError(f"{posts_path} line {post['_line']}: parent_id {parent!r} is not a post_id in {POSTS}")
            if post_thread_ids[post_index[parent]] != post_thread_ids[i]:
                raise DatasetError(f"{posts_path} line {post['_line']}: parent_id {parent!r} is in another thread")
            parents[i] = post_index[parent]

    forum = Forum(
        account_ids=account_ids,
        thread_ids=thread_ids,
        thread_titles=tuple(titles.get(t, "") for t in thread_ids),
        post_ids=tuple(post_ids),
        post_account=np.array([account_index[a] for a in authors], dtype=np.int64),
        post_thread=np.array([thread_index[t] for t in post_thread_ids], dtype=np.int64),
        post_parent=parents,
        post_time=np.array([_time(p, posts_path) for p in posts], dtype=np.float64),
        post_body=tuple((p.get("body") or "") for p in posts) if has_text else tuple("" for _ in posts),
        has_threads=has_threads,
        has_text=has_text,
    )
    if has_text and not any(b.strip() for b in forum.post_body):
        raise DatasetError(f"{posts_path}: the body column is empty in every row; fill it or drop the column")

    # post-level truth: post_labels.csv where it has a row, else the author's label
    post_synthetic = synthetic[forum.post_account].copy()
    post_campaign = [""] * forum.n_posts
    if POST_LABELS in tables:
        path = folder / POST_LABELS
        rows = tables[POST_LABELS]
        ids = _unique(rows, "post_id", path)
        strangers = [p for p in ids if p not in post_index]
        if strangers:
            raise DatasetError(f"{path}: labels for {len(strangers)} post(s) not in {POSTS}: {_first(strangers)}")
        for post_id, row in zip(ids, rows):
            post_synthetic[post_index[post_id]] = _flag(row, path)
            post_campaign[post_index[post_id]] = (row.get("campaign_id") or "").strip()

    info = {a: {k: (r.get(k) or "").strip() for k in ("persona", "run_id", "generator", "campaign_id", "role")}
            for a, r in zip(label_ids, label_rows)}
    sites = {a: (r.get("site") or "").strip() for a, r in zip(declared or [], tables.get(ACCOUNTS, []))}
    truth = Truth(account_synthetic=synthetic, post_synthetic=post_synthetic,
                  account_info=tuple(info[a] if labels[a] else {} for a in account_ids), post_campaign=tuple(post_campaign))
    return Dataset(
        path=folder,
        forum=forum,
        truth=truth,
        manifest=manifest,
        account_site=tuple(sites.get(a, "") for a in account_ids),
        post_site=tuple((p.get("site") or "").strip() for p in posts),
        silent_accounts=len(set(labels) - set(account_ids)),
        notes=tuple(notes),
    )


def summarize(dataset: Dataset) -> dict[str, Any]:
    """Counts and ranges for the report: by class, by site, by generator, persona and run."""
    forum, truth = dataset.forum, dataset.truth
    syn_posts = truth.post_synthetic
    per_account = np.bincount(forum.post_account, minlength=forum.n_accounts)

    def time_range(mask: np.ndarray) -> list[str] | None:
        if not mask.any():
            return None
        from datetime import datetime, timezone

        lo, hi = forum.post_time[mask].min(), forum.post_time[mask].max()
        return [datetime.fromtimestamp(v, timezone.utc).strftime("%Y-%m-%d %H:%M") for v in (lo, hi)]

    def counter(values) -> dict[str, int]:
        return dict(Counter(v for v in values if v).most_common())

    syn = truth.account_synthetic
    return {
        "path": str(dataset.path),
        "made_by": (dataset.manifest or {}).get("created_by", "another tool (no manifest)"),
        "accounts": {"synthetic": int(syn.sum()), "human": int((~syn).sum()), "without_posts": dataset.silent_accounts},
        "posts": {"synthetic": int(syn_posts.sum()), "human": int((~syn_posts).sum())},
        "threads": len(forum.thread_ids),
        "replies_with_parent": int((forum.post_parent >= 0).sum()),
        "posts_per_account_median": {"synthetic": float(np.median(per_account[syn])), "human": float(np.median(per_account[~syn]))},
        "time_range": {"synthetic": time_range(syn_posts), "human": time_range(~syn_posts)},
        "sites": {"accounts": counter(dataset.account_site), "posts": counter(dataset.post_site)},
        "generators": counter(i.get("generator") for i in truth.account_info),
        "personas": counter(i.get("persona") for i in truth.account_info),
        "runs": counter(i.get("run_id") for i in truth.account_info),
        "columns": {"threads": forum.has_threads, "text": forum.has_text},
        "notes": list(dataset.notes),
    }
