"""The human text bots draw on: forum threads, their posts, and the thread index over them.

The splice generator (the baseline) writes in a persona's voice from what people actually
wrote in relevant threads; this is where it finds them. A library comes from
a forum database (the live test forum) or, on a fresh machine, from the
project's seed threads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conversations.importers import SEED_THREADS
from conversations.importers.jsonl import read_files
from index.build import connect_forum, forum_threads
from index.documents import ThreadText, thread_vectors
from index.embedder import Embedder
from index.threads import ThreadIndex

MAX_SENTENCES_PER_THREAD = 20  # a reply draws on the opening post and first answers; embedding them all cost most of a turn
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


@dataclass(frozen=True)
class Passage:
    """One sentence (or short run of them) from a human post, with where it came from."""

    text: str
    thread_id: int
    thread_title: str


def sentences(body: str) -> list[str]:
    """Whole sentences of a post, without quotes, code or links: the parts that read well on their own."""
    out = []
    for paragraph in body.split("\n"):
        paragraph = paragraph.strip()
        if not paragraph or paragraph.startswith((">", "    ", "`")) or "http" in paragraph:
            continue
        for sentence in _SENTENCE.split(paragraph):
            words = sentence.split()
            if 5 <= len(words) <= 40 and sentence[-1] in ".!?" and "{" not in sentence:
                out.append(sentence.strip())
    return out


class Library:
    def __init__(self, embedder: Embedder, threads: dict[int, tuple[str, list[str]]]) -> None:
        """``threads``: thread id -> (title, post bodies in order)."""
        self.embedder = embedder
        self.threads = threads
        texts = [ThreadText(i, title, posts[0], tuple(posts[1:])) for i, (title, posts) in threads.items() if posts]
        self.index = ThreadIndex(embedder.dims, embedder.model_id)
        if texts:
            self.index.upsert([t.thread_id for t in texts], thread_vectors(embedder, texts))

    @classmethod
    def from_seed(cls, embedder: Embedder, path: Path = SEED_THREADS) -> "Library":
        threads = {number: (t.title, [p.body for p in t.posts]) for number, t in enumerate(read_files([path]), 1)}
        return cls(embedder, threads)

    @classmethod
    def from_forum(cls, embedder: Embedder, db: Path, max_posts: int = 12) -> "Library":
        conn = connect_forum(db)
        try:
            threads = {t.thread_id: (t.title, [t.opening, *t.replies]) for t in forum_threads(conn, max_posts=max_posts)}
        finally:
            conn.close()
        return cls(embedder, threads)

    def _sentences(self, thread_id: int) -> list[str]:
        """A thread's first sentences: enough to draw on, and each new thread costs a bounded number of embeddings."""
        found = [s for body in self.threads[thread_id][1] for s in sentences(body)]
        return found[:MAX_SENTENCES_PER_THREAD]

    def passages_for(self, query: str, *, threads: int = 3, exclude_thread: int | None = None) -> list[Passage]:
        """Sentences from the threads nearest the query, the most relevant first."""
        query_vector = self.embedder.embed_one(query)
        hits = [h for h in self.index.search(query_vector, threads + 1) if h.thread_id != exclude_thread][:threads]
        candidates = [Passage(s, h.thread_id, self.threads[h.thread_id][0])
                      for h in hits for s in self._sentences(h.thread_id)]
        if not candidates:
            return []
        scores = self.embedder.embed([c.text for c in candidates]) @ query_vector
        return [candidates[i] for i in np.argsort(-scores, kind="stable")]
