"""IndexFollower: keeps the thread index current by following the forum's event socket.

Events are taken in small batches: each changed thread is fetched once,
embedded in one call (off the event loop) and upserted. A reply beyond the
first replies that make a thread's vector changes nothing and is skipped.
The index remembers the last event it applied, so after a disconnect (or a
restart, once saved) the follower resumes with ``?since=`` and misses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from conversations.client import ForumClient, ForumClientError, ForumUnavailable
from index.documents import MAX_REPLIES, ThreadText, thread_vectors
from index.embedder import Embedder
from index.threads import ThreadIndex

log = logging.getLogger("murmur.index")
BATCH = 64


def changes_vector(event: dict[str, Any]) -> bool:
    """Only the title, the opening post and the first replies make a thread's vector."""
    return event["type"] == "thread.created" or event["thread"]["post_count"] <= MAX_REPLIES + 1


class IndexFollower:
    def __init__(self, client: ForumClient, embedder: Embedder, index: ThreadIndex, *,
                 save_path: Path | None = None, save_every_s: float = 30.0) -> None:
        self.client = client
        self.embedder = embedder
        self.index = index
        self.save_path = save_path
        self.save_every_s = save_every_s
        self.applied = 0  # events applied, skipped ones included
        self.upserted = 0  # thread vectors written
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """Follow until cancelled; saves on the way out when a save path is set."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10 * BATCH)
        reader = asyncio.create_task(self._read(queue))
        loop = asyncio.get_running_loop()
        last_save = loop.time()
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < BATCH and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._apply_until_done(batch)
                if queue.empty():
                    self.caught_up.set()
                if self.save_path and loop.time() - last_save > self.save_every_s:
                    await asyncio.to_thread(self.index.save, self.save_path)
                    last_save = loop.time()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if self.save_path:
                await asyncio.to_thread(self.index.save, self.save_path)

    async def _apply_until_done(self, batch: list[dict[str, Any]], retry_s: float = 0.5) -> None:
        """A forum that goes away mid-batch is waited for; the batch is applied once it is back."""
        while True:
            try:
                return await self.apply(batch)
            except ForumUnavailable as exc:
                log.info("%s; retrying the batch in %.1f s", exc, retry_s)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, 10.0)

    async def _read(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        async for event in self.client.follow(since=self.index.last_seq):
            self.caught_up.clear()
            await queue.put(event)

    async def apply(self, events: list[dict[str, Any]]) -> None:
        """Upsert the threads these events changed, then record the last event as applied."""
        thread_ids = list(dict.fromkeys(e["thread"]["id"] for e in events if changes_vector(e)))
        texts = [t for t in await asyncio.gather(*(self._fetch(i) for i in thread_ids)) if t is not None]
        if texts:
            vectors = await asyncio.to_thread(thread_vectors, self.embedder, texts)
            self.index.upsert([t.thread_id for t in texts], vectors)
            self.upserted += len(texts)
        self.index.last_seq = max(self.index.last_seq, max(e["seq"] for e in events))
        self.applied += len(events)

    async def _fetch(self, thread_id: int) -> ThreadText | None:
        try:
            data = await self.client.get_thread(thread_id)
        except ForumClientError as exc:
            log.warning("thread %s could not be read (%s); left out of the index", thread_id, exc)
            return None
        posts = data["posts"]
        return ThreadText(thread_id, data["thread"]["title"], posts[0]["body"],
                          tuple(p["body"] for p in posts[1:MAX_REPLIES + 1]))
