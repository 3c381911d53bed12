"""The forum's records, and the one public JSON shape of each.

A synthetic account's post and a person's post are the same ``Post``: nothing
here knows about ground truth, so the public API cannot leak it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

THREAD_CREATED = "thread.created"
POST_CREATED = "post.created"


def format_time(moment: datetime) -> str:
    """One sortable text form for every stored time: UTC, microseconds, 'Z'."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.%fZ")  # strftime's %Y does not pad years before 1000


_LEAP_SECOND = re.compile(r"^(.*[T ]\d{2}:\d{2}:)60(.*)$")


def parse_time(text: str) -> datetime:
    """Read ISO-8601 as written by Stack Exchange dumps, JSONL files and murmur itself, and every RFC 3339 time
    (what OpenAPI's date-time means): lowercase t and z, and a leap second, read as the next second."""
    value = text.strip().upper().replace("Z", "+00:00")
    leap = _LEAP_SECOND.match(value)
    if leap:
        value = f"{leap.group(1)}59{leap.group(2)}"
    parsed = datetime.fromisoformat(value)
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return parsed + timedelta(seconds=1) if leap else parsed


def utc_now() -> str:
    return format_time(datetime.now(timezone.utc))


@dataclass(frozen=True)
class Account:
    id: int
    handle: str
    display_name: str
    created_at: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "handle": self.handle, "display_name": self.display_name, "created_at": self.created_at}


@dataclass(frozen=True)
class Post:
    id: int
    thread_id: int
    parent_id: int | None
    author: Account
    body: str
    created_at: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "parent_id": self.parent_id,
            "author": self.author.public(),
            "body": self.body,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Thread:
    id: int
    title: str
    author: Account
    created_at: str
    last_activity_at: str
    post_count: int
    tags: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "author": self.author.public(),
            "created_at": self.created_at,
            "last_activity_at": self.last_activity_at,
            "post_count": self.post_count,
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class Event:
    """A committed change, numbered so a subscriber that reconnects can ask for what it missed."""

    seq: int
    type: str
    created_at: str
    thread: Thread
    post: Post

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "created_at": self.created_at,
            "thread": self.thread.public(),
            "post": self.post.public(),
        }


@dataclass(frozen=True)
class Provenance:
    """Ground truth for one synthetic post: who wrote it, in which run, how and why."""

    persona: str
    run_id: str
    generator: str
    action: str | None = None
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    campaign_id: str | None = None  # the campaign the post serves (bots.campaigns), with its author's role there
    role: str | None = None


@dataclass(frozen=True)
class ImportedPost:
    external_id: str
    author_external_id: str
    author_name: str | None
    created_at: str
    body: str
    parent_external_id: str | None = None


@dataclass(frozen=True)
class ImportedThread:
    """A thread from outside murmur (a dump or a JSONL file); ``posts[0]`` opens it."""

    external_id: str
    title: str
    posts: tuple[ImportedPost, ...]
    tags: tuple[str, ...] = ()
    source_url: str | None = None


@dataclass
class ImportStats:
    threads_added: int = 0
    threads_skipped: int = 0
    posts_added: int = 0
    posts_skipped: int = 0
    accounts_added: int = 0

    def add(self, other: "ImportStats") -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
