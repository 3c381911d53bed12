"""Replay: the people's own posts enter the forum at their original times, as the swarm's simulated clock passes them.

Before the window (``--from``) the forum holds everything; inside it
(``--from`` .. ``--until``) each person's post is replayed at its time, with
its thread, author and parent; after it, nothing. Bots and people then share
one timeline. Sites of a corpus that were active in different years can be
aligned (``--align-sites``): each site's times are shifted, every gap kept,
so that all sites start at the same moment; the shift is recorded.

Bad input is handled post by post and counted, never silently: a post earlier
than the post it answers or than its thread (out of order) and a post whose
parent is unknown are skipped, each named by file and line.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conversations.importers import located_threads
from conversations.models import ImportedPost, ImportedThread, format_time, parse_time
from core.errors import MurmurError

DEFAULT_LEAD = timedelta(days=7)  # without --from: the forum already holds a week of the people's conversations
EXAMPLES = 5  # skipped posts named in messages and the run log


class ReplayError(MurmurError):
    """A replay that cannot run: no files, nothing in the window, a window that ends before it starts."""

    exit_code = 2


@dataclass(frozen=True)
class ReplayPost:
    at: datetime
    thread: ImportedThread  # the thread's title, tags, opening post and this post (what the replay endpoint takes)
    where: str

    @property
    def post(self) -> ImportedPost:
        return self.thread.posts[-1]


@dataclass
class ReplayPlan:
    files: tuple[str, ...]
    start: datetime
    until: datetime
    shifts: dict[str, float]  # site -> seconds added to its times (all 0 without --align-sites)
    before: list[ImportedThread]  # everything earlier than the window: the forum holds it when the run starts
    posts: list[ReplayPost]  # inside the window, in time order
    after: int = 0  # posts later than the window: never replayed
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> posts
    examples: list[str] = field(default_factory=list)  # "file:line: reason" for the first few
    corpus: list[tuple[str, list[str]]] = field(default_factory=list)  # every thread of the files: title, bodies

    def texts(self) -> list[tuple[str, list[str]]]:
        """Every thread of the replayed files, those after the window too: the reply bank leaves them all out, so
        no bot ever says what these people wrote, before or after they wrote it."""
        return self.corpus

    def record(self) -> dict[str, Any]:
        """What the run log and the forum keep about this replay."""
        return {"files": list(self.files), "from": format_time(self.start), "until": format_time(self.until),
                "site_shift_s": self.shifts, "held_before": sum(len(t.posts) for t in self.before),
                "replayed": len(self.posts), "after_window": self.after, "skipped": dict(sorted(self.skipped.items())),
                "skipped_examples": self.examples}

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return (f"replay {', '.join(Path(f).name for f in self.files)}: {sum(len(t.posts) for t in self.before):,} posts "
                f"held before {format_time(self.start)[:16]}, {len(self.posts):,} replayed until "
                f"{format_time(self.until)[:16]}, {self.after:,} after; skipped: {skipped}"
                + (f" (e.g. {self.examples[0]})" if self.examples else ""))


def site_of(external_id: str) -> str:
    return external_id.split(":", 1)[0]


def read_replay(paths: Sequence[Path], *, start: datetime | None = None, until: datetime | None = None,
                hours: float = 24.0, align_sites: bool = False) -> ReplayPlan:
    """The replay of the people's posts in ``paths`` (murmur JSONL or Stack Exchange dumps) around the window."""
    if not paths:
        raise ReplayError("--replay: give at least one murmur JSONL file or Stack Exchange dump folder")
    located = [(where, thread) for path in paths for where, thread in located_threads(Path(path))]
    skipped: Counter[str] = Counter()
    examples: list[str] = []
    threads = []
    for where, thread in located:
        kept = _in_order(thread, where, skipped, examples)
        if kept is not None:
            threads.append(kept)
    if not threads:
        raise ReplayError(f"--replay: {', '.join(map(str, paths))} hold no threads to replay")
    shifts = _alignment(threads) if align_sites else {}
    threads = [_shifted(t, shifts.get(site_of(t.external_id), 0.0)) for t in threads]
    first = min(parse_time(t.posts[0].created_at) for t in threads)
    last = max(parse_time(p.created_at) for t in threads for p in t.posts)
    start = start or min(first + DEFAULT_LEAD, last)
    until = until or start + timedelta(hours=hours)
    if until <= start:
        raise ReplayError(f"--until: {format_time(until)} is not after --from {format_time(start)}; give a later --until")
    plan = ReplayPlan(tuple(str(p) for p in paths), start, until, {s: shifts.get(s, 0.0) for s in
                                                                  sorted({site_of(t.external_id) for t in threads})},
                      [], [], skipped=skipped, examples=examples,
                      corpus=[(t.title, [p.body for p in t.posts]) for t in threads])
    for thread in threads:
        held = [p for p in thread.posts if parse_time(p.created_at) < start]
        if held:
            plan.before.append(ImportedThread(thread.external_id, thread.title, tuple(held), thread.tags,
                                              thread.source_url))
        for post in thread.posts[len(held):]:
            at = parse_time(post.created_at)
            if at >= until:
                plan.after += 1
                continue
            carried = (post,) if post is thread.posts[0] else (thread.posts[0], post)  # the opening keeps its parent
            plan.posts.append(ReplayPost(at, ImportedThread(thread.external_id, thread.title, carried, thread.tags,
                                                            thread.source_url), thread.external_id))
    plan.posts.sort(key=lambda p: (p.at, p.where, p.post.external_id))
    if not plan.posts:
        raise ReplayError(f"--from/--until: no post of the replay falls between {format_time(start)} and "
                          f"{format_time(until)} (its posts run from {format_time(first)} to {format_time(last)}); "
                          "choose a window inside that span")
    return plan


def _in_order(thread: ImportedThread, where: str, skipped: Counter[str], examples: list[str]) -> ImportedThread | None:
    """The thread without posts that come before what they answer or whose parent is unknown; each one counted."""
    opening = thread.posts[0]
    opened = parse_time(opening.created_at)
    kept: list[ImportedPost] = [opening]
    times = {opening.external_id: opened}
    for post in thread.posts[1:]:
        at = parse_time(post.created_at)
        parent = post.parent_external_id or opening.external_id
        reason = None
        if parent not in times:
            reason = "unknown_parent"
        elif at < times[parent] or at < opened:
            reason = "out_of_order"
        if reason:
            skipped[reason] += 1
            if len(examples) < EXAMPLES:
                examples.append(f"{where}: post {post.external_id} {reason.replace('_', ' ')} "
                                f"(parent {parent}, at {post.created_at})")
            continue
        kept.append(post)
        times[post.external_id] = at
    kept[1:] = sorted(kept[1:], key=lambda p: times[p.external_id])  # creation order; a parent before its replies
    return ImportedThread(thread.external_id, thread.title, tuple(kept), thread.tags, thread.source_url)


def _alignment(threads: list[ImportedThread]) -> dict[str, float]:
    """Seconds to add to each site's times so that every site's first post falls on the latest site's first post."""
    firsts: dict[str, datetime] = {}
    for thread in threads:
        site = site_of(thread.external_id)
        at = parse_time(thread.posts[0].created_at)
        firsts[site] = min(firsts.get(site, at), at)
    anchor = max(firsts.values())
    return {site: (anchor - first).total_seconds() for site, first in firsts.items()}


def _shifted(thread: ImportedThread, seconds: float) -> ImportedThread:
    if not seconds:
        return thread
    delta = timedelta(seconds=seconds)
    posts = tuple(ImportedPost(p.external_id, p.author_external_id, p.author_name,
                               format_time(parse_time(p.created_at) + delta), p.body, p.parent_external_id)
                  for p in thread.posts)
    return ImportedThread(thread.external_id, thread.title, posts, thread.tags, thread.source_url)


def as_record(thread: ImportedThread) -> dict[str, Any]:
    """A thread as a murmur JSONL record (what the forum's replay endpoint takes)."""
    return {"thread_id": thread.external_id, "title": thread.title, "tags": list(thread.tags),
            "source_url": thread.source_url,
            "posts": [{"post_id": p.external_id, "author": p.author_external_id, "author_name": p.author_name,
                       "created_at": p.created_at, "body": p.body, "parent_id": p.parent_external_id}
                      for p in thread.posts]}


CHUNK_BYTES = 48 * 1024  # under the forum's default request body limit (64 KiB)


def replay_chunks(posts: Sequence[ReplayPost]) -> list[list[dict[str, Any]]]:
    """The posts as the replay endpoint takes them, in order, in requests that stay under the body limit."""
    return replay_chunks_of_threads([post.thread for post in posts])


def replay_chunks_of_threads(threads: Sequence[ImportedThread]) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for thread in threads:
        for record in _records(thread):
            length = len(json.dumps(record))
            if chunks[-1] and size + length > CHUNK_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(record)
            size += length
    return chunks if chunks[0] else []


def _records(thread: ImportedThread) -> list[dict[str, Any]]:
    """A long thread as several records, each under the limit and each led by the opening post (so replies keep
    their parents: the forum skips the opening it already holds)."""
    record = as_record(thread)
    if len(json.dumps(record)) <= CHUNK_BYTES or len(thread.posts) < 3:
        return [record]
    opening, *rest = record["posts"]
    out: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    size = len(json.dumps(opening))
    for post in rest:
        length = len(json.dumps(post))
        if current and size + length > CHUNK_BYTES:
            out.append({**record, "posts": [opening, *current]})
            current, size = [], len(json.dumps(opening))
        current.append(post)
        size += length
    out.append({**record, "posts": [opening, *current]})
    return out
