"""The reply bank: human replies, each with the post it answered, held apart from the forum the bots post to.

Response selection (``bots/words/selection.py``) answers a post with one of these
replies, the way a person who had seen a similar conversation elsewhere
would. The bank is read with the forum's own importers (murmur JSONL, plain
or gzipped, and Stack Exchange dumps), and is made disjoint from the forum:
a bank thread any of whose posts the forum already holds is left out, and a
reply that shares a run of words with a post the forum holds (or comes to
hold) is never used. Every text is embedded once through the embedding cache
and indexed with FAISS three ways: by what each reply answered, by the reply
itself, and by its thread.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bots.words.adapt import is_question, words
from bots.errors import BankError
from conversations.errors import InvalidInput
from conversations.importers import open_source
from index.documents import ThreadText, clip, thread_vectors
from index.embedder import Embedder
from index.threads import ThreadIndex

RUN = 8  # words: a bank reply sharing a run this long with a forum post is never used (the copy detectors' unit)
EMBED_CHUNK = 256
_SPACE = re.compile(r"\s+")


def fingerprint(text: str) -> str:
    """What makes two posts the same post, whatever the whitespace or case."""
    return hashlib.sha1(_SPACE.sub(" ", text).strip().lower()[:2000].encode("utf-8")).hexdigest()


def runs(text: str, size: int = RUN) -> list[int]:
    """Hashes of every run of ``size`` words, as the copy detectors count words."""
    found = words(text)
    return [hash(" ".join(found[i:i + size])) for i in range(len(found) - size + 1)]


@dataclass(frozen=True)
class BankThread:
    id: int
    external_id: str
    site: str
    title: str
    tags: tuple[str, ...]
    question: str
    source_url: str | None


@dataclass(frozen=True)
class BankReply:
    """A human reply and the post it answered (the question, or the answer a comment was left on)."""

    id: int
    post_id: str
    thread: int
    context: str
    text: str
    asks: bool  # a reply that is itself a question (a follow-up people asked)


@dataclass
class BankSource:
    """The bank's texts, read and made disjoint from a forum, before anything is embedded."""

    threads: list[BankThread] = field(default_factory=list)
    replies: list[BankReply] = field(default_factory=list)
    skipped_threads: int = 0  # in the forum already
    files: tuple[str, ...] = ()


def read_bank(paths: Sequence[Path], *, forum_posts: Iterable[str] = (), forum_titles: Iterable[str] = (),
              progress: Callable[[int], None] | None = None) -> BankSource:
    """Threads and replies from the bank files, leaving out every thread the forum holds (by any post or its title)."""
    if not paths:
        raise BankError("replies.bank: no bank files; name murmur JSONL files or Stack Exchange dump folders")
    held = {fingerprint(text) for text in forum_posts}
    titles = {_SPACE.sub(" ", t).strip().lower() for t in forum_titles}
    source = BankSource(files=tuple(str(p) for p in paths))
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise BankError(f"replies.bank: {path} does not exist; name murmur JSONL (.jsonl or .jsonl.gz) files or "
                            "Stack Exchange dump folders, or leave replies.bank empty for the shipped corpus")
        try:
            threads, _ = open_source(path)
            for imported in threads:
                if progress is not None:
                    progress(1)
                if (_SPACE.sub(" ", imported.title).strip().lower() in titles
                        or any(fingerprint(p.body) in held for p in imported.posts)):
                    source.skipped_threads += 1
                    continue
                _add_thread(source, imported)
        except InvalidInput as exc:
            raise BankError(f"replies.bank: {path}: {exc}; fix the file or remove it from replies.bank") from None
    if not source.replies:
        raise BankError(f"replies.bank: {', '.join(source.files)} hold no replies the bots could use "
                        f"({source.skipped_threads} threads are in the forum already); name files with other threads")
    return source


def _add_thread(source: BankSource, imported) -> None:
    thread_id = len(source.threads)
    opening = imported.posts[0]
    source.threads.append(BankThread(thread_id, imported.external_id, imported.external_id.split(":", 1)[0],
                                     imported.title, tuple(imported.tags), opening.body, imported.source_url))
    bodies = {p.external_id: p.body for p in imported.posts}
    for post in imported.posts[1:]:
        context = bodies.get(post.parent_external_id or "", opening.body)
        if not post.body.strip() or not context.strip():
            continue
        source.replies.append(BankReply(len(source.replies), post.external_id, thread_id, context, post.body,
                                        is_question(post.body)))


class ReplyBank:
    """The bank's texts with their vectors and FAISS indexes, and which replies may no longer be used."""

    def __init__(self, source: BankSource, embedder: Embedder, *, progress: Callable[[int], None] | None = None) -> None:
        self.source = source
        self.threads = source.threads
        self.replies = source.replies
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.thread_vectors = _embed_threads(embedder, self.threads, self.replies, progress)
        self.question_vectors = embedder.embed([_opening_text(t) for t in self.threads])
        self.reply_vectors = _embed_chunks(embedder, [clip(r.text) for r in self.replies], progress)
        self.context_vectors = embedder.embed([self._context_text(r) for r in self.replies])
        self.by_thread = _index(embedder, self.thread_vectors)
        self.by_question = _index(embedder, self.question_vectors)
        self.by_reply = _index(embedder, self.reply_vectors)
        self.by_context = _index(embedder, self.context_vectors)
        self._of_thread: dict[int, list[int]] = {}
        for reply in self.replies:
            self._of_thread.setdefault(reply.thread, []).append(reply.id)
        self.used: set[int] = set()  # replies used in this run, or found in the forum
        self.used_questions: set[int] = set()
        self.cited: set[int] = set()  # bank threads a bot cited on the forum in this run: never twice
        self._runs = _RunTable(self.replies, self.threads)
        self.answer_fit = None  # (model, floors) once a generator has trained it (bots/words/selection.py): one per bank

    def _context_text(self, reply: BankReply) -> str:
        thread = self.threads[reply.thread]
        if reply.context == thread.question:
            return _opening_text(thread)  # the same text the thread's vector embeds: cached once for both
        return clip(reply.context)

    def __len__(self) -> int:
        return len(self.replies)

    def observe(self, texts: Iterable[str]) -> int:
        """Posts now in the forum: every bank reply or question sharing a run of words with them is used up."""
        replies, questions = self._runs.matching(texts)
        fresh = len(replies - self.used) + len(questions - self.used_questions)
        self.used |= replies
        self.used_questions |= questions
        return fresh

    def replies_of(self, thread_ids: Iterable[int]) -> list[int]:
        return [r for t in thread_ids for r in self._of_thread.get(t, ())]

    def site_of(self, reply: BankReply) -> str:
        return self.threads[reply.thread].site

    def nbytes(self) -> int:
        """Memory held by vectors, FAISS and the run table (texts not counted)."""
        vectors = sum(a.nbytes for a in (self.thread_vectors, self.question_vectors, self.reply_vectors, self.context_vectors))
        return 2 * vectors + self._runs.nbytes()


def _opening_text(thread: BankThread) -> str:
    return clip(f"{thread.title}\n{thread.question}")


def _embed_chunks(embedder: Embedder, texts: list[str], progress: Callable[[int], None] | None) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), EMBED_CHUNK):
        chunk = texts[start:start + EMBED_CHUNK]
        parts.append(embedder.embed(chunk))
        if progress is not None:
            progress(len(chunk))
    return np.vstack(parts) if parts else np.empty((0, embedder.dims), dtype=np.float32)


def _embed_threads(embedder: Embedder, threads: list[BankThread], replies: list[BankReply],
                   progress: Callable[[int], None] | None) -> np.ndarray:
    """Each bank thread's vector, made exactly as the forum's thread index makes one, so the two compare."""
    first: dict[int, list[str]] = {}
    for reply in replies:
        first.setdefault(reply.thread, []).append(reply.text)
    texts = [ThreadText(t.id, t.title, t.question, tuple(first.get(t.id, ())[:4])) for t in threads]
    parts = []
    for start in range(0, len(texts), EMBED_CHUNK // 4):
        chunk = texts[start:start + EMBED_CHUNK // 4]
        parts.append(thread_vectors(embedder, chunk))
        if progress is not None:
            progress(len(chunk))
    return np.vstack(parts) if parts else np.empty((0, embedder.dims), dtype=np.float32)


def _index(embedder: Embedder, vectors: np.ndarray) -> ThreadIndex:
    index = ThreadIndex(embedder.dims, embedder.model_id)
    if len(vectors):
        index.upsert(list(range(len(vectors))), vectors)
    return index


class _RunTable:
    """Every 8-word run of every bank reply and question, sorted by hash: which of them a forum post repeats."""

    def __init__(self, replies: list[BankReply], threads: list[BankThread]) -> None:
        hashes: list[int] = []
        owners: list[int] = []
        for reply in replies:
            found = runs(reply.text)
            hashes += found
            owners += [reply.id] * len(found)
        for thread in threads:  # questions are owned as -1 - id
            found = runs(thread.question)
            hashes += found
            owners += [-1 - thread.id] * len(found)
        order = np.argsort(np.asarray(hashes, dtype=np.int64), kind="stable")
        self.hashes = np.asarray(hashes, dtype=np.int64)[order]
        self.owners = np.asarray(owners, dtype=np.int64)[order]

    def matching(self, texts: Iterable[str]) -> tuple[set[int], set[int]]:
        probe = np.asarray([h for text in texts for h in runs(text)], dtype=np.int64)
        if not len(probe) or not len(self.hashes):
            return set(), set()
        left = np.searchsorted(self.hashes, probe, side="left")
        right = np.searchsorted(self.hashes, probe, side="right")
        owners = {int(o) for lo, hi in zip(left, right) if hi > lo for o in self.owners[lo:hi]}
        return {o for o in owners if o >= 0}, {-1 - o for o in owners if o < 0}

    def nbytes(self) -> int:
        return self.hashes.nbytes + self.owners.nbytes

