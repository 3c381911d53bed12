"""The swarm's copy of the forum: threads with their posts, kept current from its own posts and the event socket.

The join policy and the bots read threads from here; who is a bot is known
only for the swarm's own accounts (what any operator of bots would know).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from index.documents import MAX_REPLIES, ThreadText

if TYPE_CHECKING:
    from conversations.client import ForumClient


@dataclass(frozen=True)
class SeenPost:
    id: int
    author_id: int
    body: str
    created_at: str
    parent_id: int | None = None
    author_since: str | None = None  # when the author's account was made (what any visitor of the forum sees)
    author_handle: str | None = None


@dataclass
class ThreadState:
    id: int
    title: str
    posts: list[SeenPost] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)  # bots whose reply here is on its way

    def text(self) -> ThreadText:
        """What the index embeds of this thread."""
        opening = self.posts[0].body if self.posts else ""
        return ThreadText(self.id, self.title, opening, tuple(p.body for p in self.posts[1:MAX_REPLIES + 1]))

    def bot_authors(self, bot_accounts: dict[int, str]) -> set[str]:
        return {bot_accounts[p.author_id] for p in self.posts if p.author_id in bot_accounts}

    def bot_tail(self, bot_accounts: dict[int, str]) -> int:
        """Bot posts in a row at the thread's end."""
        count = 0
        for post in reversed(self.posts):
            if post.author_id not in bot_accounts:
                break
            count += 1
        return count

    def last_human_or_other(self, author_id: int) -> SeenPost | None:
        """The latest post not written by ``author_id``: what a bot replies to."""
        return next((p for p in reversed(self.posts) if p.author_id != author_id), None)


def thread_from_api(data: dict[str, Any]) -> ThreadState:
    thread = data["thread"]
    posts = [SeenPost(p["id"], p["author"]["id"], p["body"], p["created_at"], p.get("parent_id"), p["author"].get("created_at"),
                      p["author"].get("handle")) for p in data["posts"]]
    return ThreadState(thread["id"], thread["title"], posts)


async def load_threads(client: "ForumClient", *, concurrency: int = 16, page: int = 100,
                       progress: bool = False) -> tuple[dict[int, ThreadState], int]:
    """Every thread of the forum with its posts, and the event sequence number read first (follow from there)."""
    latest_seq = (await client.request("GET", "/api/health"))["latest_seq"]
    ids: list[int] = []
    offset: int | None = 0
    while offset is not None:
        data = await client.list_threads(limit=page, offset=offset)
        ids.extend(t["id"] for t in data["threads"])
        offset = data["next_offset"]
    limit = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(ids), unit="thread", desc="reading the forum", disable=not progress, leave=False)

    async def read(thread_id: int) -> ThreadState:
        async with limit:
            state = thread_from_api(await client.get_thread(thread_id))
        bar.update(1)
        return state

    try:
        threads = await asyncio.gather(*(read(i) for i in sorted(set(ids))))
    finally:
        bar.close()
    return {t.id: t for t in threads}, latest_seq


def library_threads(threads: dict[int, ThreadState], max_posts: int = 12) -> dict[int, tuple[str, list[str]]]:
    """The shape bots.words.library.Library takes: thread id -> (title, post bodies)."""
    return {t.id: (t.title, [p.body for p in t.posts[:max_posts]]) for t in threads.values() if t.posts}


def people_handles(threads: dict[int, ThreadState], bot_accounts: dict[int, str]) -> set[str]:
    """The handles of the forum's people: only their shapes are ever used, and none is ever taken."""
    return {p.author_handle for t in threads.values() for p in t.posts
            if p.author_id not in bot_accounts and p.author_handle}


def people_posts(threads: dict[int, ThreadState], bot_accounts: dict[int, str]):
    """(author, created_at, parent's created_at, account created_at) of every person's post: what fitted timing reads."""
    for thread in threads.values():
        times = {p.id: p.created_at for p in thread.posts}
        for post in thread.posts:
            if post.author_id not in bot_accounts:
                yield post.author_id, post.created_at, times.get(post.parent_id) if post.parent_id else None, post.author_since
