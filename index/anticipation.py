"""Anticipation: who will join this conversation? Ranked from what real accounts wrote before it, checked against who did.

The forum's history is walked in time order. When a thread opens inside the
window, every account active anywhere before that moment (the pool a
platform would see) is ranked for it, and the ranking is scored against the
accounts, other than the asker, that went on to reply or comment. Nothing
written after the thread's creation reaches its ranking: profiles are
updated post by post, in time order, and a query is answered before any post
at or after its time is read.

An account's profile is the recency-weighted sum of the vectors of the
threads it wrote in (title and opening post, embedded once through the
project's Embedder and its cache), kept in a FAISS index that is updated
incrementally (``index.threads.ThreadIndex``): thread -> accounts works the
way thread -> personas does. The hybrid ranking adds the account's recent
activity and its tags' overlap with the thread to the content similarity.

Baselines rank the same pool on the same threads: the most active accounts
so far, the accounts sharing the most tags with the thread, BM25 over the
accounts' earlier text (``bm25s``), and a seeded random order.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from conversations.models import ImportedThread, parse_time
from index.documents import ThreadText, thread_vectors
from index.threads import ThreadIndex

METHODS = ("murmur", "most_active", "tag_overlap", "bm25", "random")
CONTENT_POOL = 300  # accounts taken from the profile index per thread, beside the most active and the tag matches
HALF_LIFE_DAYS = 30.0
BM25_KEEP = 20  # an account's latest posts (600 characters each) that its BM25 document holds
BM25_REFRESH = 0.02  # the BM25 index is rebuilt once the posts since its last build pass this share (never ahead)


@dataclass(frozen=True)
class Weights:
    """The hybrid: content similarity, plus these times log recent activity and the tags' overlap.

    Chosen on the shipped corpus's odd-numbered threads (bench/anticipate.py --tune) and reported on the even ones:
    recent activity mattered most (weight 0 -> 0.2 lifted Hit@10 from 0.50 to 0.60), a 30-day half-life beat 90
    and 365 days (a plain mean), and tags added nothing once tag matches were among the candidates.
    """

    activity: float = 0.2
    tags: float = 0.0
    half_life_days: float = HALF_LIFE_DAYS


@dataclass
class Query:
    """A thread to rank for: when it opened, who asked, its site and tags, and who joined it (the truth)."""

    index: int
    external_id: str
    site: str
    created: float
    asker: int
    tags: tuple[str, ...]
    truth: frozenset[int]
    ranks: dict[str, int | None] = field(default_factory=dict)  # method -> rank of the first account who joined
    top: dict[str, list[int]] = field(default_factory=dict)  # method -> the ranking itself (with keep_rankings)


@dataclass
class History:
    """A forum as the walk reads it: accounts, threads and their posts, in time order."""

    accounts: list[str]
    thread_ids: list[str]
    thread_sites: list[str]
    thread_tags: list[tuple[str, ...]]
    thread_texts: list[ThreadText]
    thread_created: list[float]
    thread_asker: list[int]
    posts: list[tuple[float, int, int, str]]  # (time, account, thread, body), sorted by time
    joined: list[frozenset[int]]  # per thread: the accounts other than the asker who posted in it

    @classmethod
    def of(cls, threads: Iterable[ImportedThread]) -> History:
        account_of: dict[str, int] = {}
        accounts: list[str] = []
        h = cls(accounts, [], [], [], [], [], [], [], [])

        def account(external: str) -> int | None:
            if external.endswith(":anon"):
                return None  # anonymous posts are nobody a platform could suggest
            if external not in account_of:
                account_of[external] = len(accounts)
                accounts.append(external)
            return account_of[external]

        for thread in threads:
            t = len(h.thread_ids)
            opening = thread.posts[0]
            h.thread_ids.append(thread.external_id)
            h.thread_sites.append(thread.external_id.split(":", 1)[0])
            h.thread_tags.append(tuple(thread.tags))
            h.thread_texts.append(ThreadText(t, thread.title, opening.body))
            h.thread_created.append(parse_time(opening.created_at).timestamp())
            asker = account(opening.author_external_id)
            h.thread_asker.append(-1 if asker is None else asker)
            joined = set()
            for post in thread.posts:
                author = account(post.author_external_id)
                if author is None:
                    continue
                h.posts.append((parse_time(post.created_at).timestamp(), author, t, post.body))
                if post is not opening and author != asker:
                    joined.add(author)
            h.joined.append(frozenset(joined))
        h.posts.sort(key=lambda p: (p[0], p[2], p[1]))
        return h


class Profiles:
    """What each account wrote before now: a recency-weighted sum of thread vectors in FAISS, activity and tags."""

    def __init__(self, n_accounts: int, dims: int, model_id: str, weights: Weights) -> None:
        self.weights = weights
        self.sums = np.zeros((n_accounts, dims), dtype=np.float32)
        self.updated = np.zeros(n_accounts)
        self.posts = np.zeros(n_accounts, dtype=np.int64)
        self.recent = np.zeros(n_accounts)  # posts, decayed with the same half-life
        self.by_tag: dict[str, Counter[int]] = defaultdict(Counter)  # tag -> account -> posts in threads with it
        # exact search: profiles change with every post, and a flat index takes updates cheaply (HNSW would rebuild)
        self.index = ThreadIndex(dims, model_id, hnsw_threshold=2 ** 62)
        self._active: list[int] = []
        self._active_array = np.zeros(0, dtype=np.int64)
        self._dirty: set[int] = set()
        self._rate = math.log(2) / (weights.half_life_days * 86400)

    def add(self, account: int, when: float, vector: np.ndarray, tags: Sequence[str]) -> None:
        decay = math.exp(-self._rate * max(0.0, when - self.updated[account])) if self.posts[account] else 0.0
        self.sums[account] = self.sums[account] * decay + vector
        self.recent[account] = self.recent[account] * decay + 1.0
        self.updated[account] = when
        if not self.posts[account]:
            self._active.append(account)
        self.posts[account] += 1
        for tag in tags:
            self.by_tag[tag][account] += 1
        self._dirty.add(account)

    @property
    def active(self) -> np.ndarray:
        """Every account that has posted so far."""
        if len(self._active_array) != len(self._active):
            self._active_array = np.asarray(self._active, dtype=np.int64)
        return self._active_array

    def sync(self) -> None:
        """The changed profiles into FAISS, in one batch, before a query."""
        if not self._dirty:
            return
        ids = sorted(self._dirty)
        vectors = self.sums[ids]
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.index.upsert(ids, vectors)
        self._dirty.clear()

    def recent_at(self, accounts: np.ndarray, when: float) -> np.ndarray:
        return self.recent[accounts] * np.exp(-self._rate * np.maximum(0.0, when - self.updated[accounts]))

    def tag_scores(self, tags: Sequence[str]) -> dict[int, float]:
        """Accounts that wrote in threads with any of these tags: the sum over the tags of log(1 + such posts)."""
        scores: dict[int, float] = defaultdict(float)
        for tag in tags:
            for account, count in self.by_tag.get(tag, {}).items():
                scores[account] += math.log1p(count)
        return scores


class _BM25:
    """BM25 over each account's latest posts, rebuilt from what was written before the query (never after)."""

    def __init__(self) -> None:
        import logging

        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it reports every rebuild at debug level
        self._bm25s = bm25s
        self.documents: dict[int, deque[str]] = defaultdict(lambda: deque(maxlen=BM25_KEEP))
        self.index = None
        self.order: list[int] = []
        self.since = 0
        self.total = 0

    def add(self, account: int, text: str) -> None:
        self.documents[account].append(text[:600])
        self.since += 1
        self.total += 1

    def scores(self, query: str) -> tuple[list[int], np.ndarray]:
        if self.index is None or self.since > max(20, BM25_REFRESH * self.total):
            self.order = sorted(self.documents)
            corpus = [" ".join(self.documents[a]) for a in self.order]
            self.index = self._bm25s.BM25()
            self.index.index(self._bm25s.tokenize(corpus, show_progress=False), show_progress=False)
            self.since = 0
        tokens = self._bm25s.tokenize([query], show_progress=False, return_ids=False)[0]
        return self.order, self.index.get_scores(tokens) if tokens else np.zeros(len(self.order))


@dataclass
class Walk:
    """The result of a walk: each evaluated thread with the rank each method gave its first joiner."""

    queries: list[Query]
    methods: tuple[str, ...]
    candidates: list[int]  # pool size per query


def walk(history: History, embedder, *, start: float | None = None, until: float | None = None,
         weights: Weights = Weights(), methods: Sequence[str] = METHODS, seed: int = 0, k_max: int = 50,
         select: Callable[[int], bool] | None = None, vectors: np.ndarray | None = None,
         progress: Callable[[int], None] | None = None, keep_rankings: bool = False) -> Walk:
    """Rank the pool for every thread opened in [start, until) that someone joined; ``select`` filters threads.

    ``vectors`` (one per thread, as ``thread_vectors`` makes them) skips the embedding, for benchmarks.
    """
    thread_vectors_ = vectors if vectors is not None else _thread_vectors(history, embedder)
    dims, model_id = thread_vectors_.shape[1], getattr(embedder, "model_id", "synthetic")
    profiles = Profiles(len(history.accounts), dims, model_id, weights)
    bm25 = _BM25() if "bm25" in methods else None
    opened = sorted(range(len(history.thread_ids)), key=lambda t: (history.thread_created[t], t))
    queries = [t for t in opened if (start is None or history.thread_created[t] >= start)
               and (until is None or history.thread_created[t] < until) and history.joined[t]
               and (select is None or select(t))]
    rng = random.Random(seed)
    result = Walk([], tuple(methods), [])
    p = 0
    for t in queries:
        when = history.thread_created[t]
        while p < len(history.posts) and history.posts[p][0] < when:  # everything before the thread, nothing after
            at, account, thread, body = history.posts[p]
            profiles.add(account, at, thread_vectors_[thread], history.thread_tags[thread])
            if bm25 is not None:
                bm25.add(account, body)
            p += 1
        pool = profiles.active
        if len(pool) < 2:
            continue
        query = Query(t, history.thread_ids[t], history.thread_sites[t], when, history.thread_asker[t],
                      history.thread_tags[t], history.joined[t])
        for method in methods:
            ranking = [a for a in _rank(method, t, pool, history, profiles, thread_vectors_[t], bm25, rng, weights,
                                        k_max + 1) if a != query.asker][:k_max]  # the asker is not a candidate
            query.ranks[method] = next((i + 1 for i, a in enumerate(ranking) if a in query.truth), None)
            if keep_rankings:
                query.top[method] = ranking
        result.queries.append(query)
        result.candidates.append(len(pool) - int(query.asker >= 0 and profiles.posts[query.asker] > 0))
        if progress is not None:
            progress(1)
    return result


def _thread_vectors(history: History, embedder) -> np.ndarray:
    out = np.empty((len(history.thread_texts), embedder.dims), dtype=np.float32)
    for start in range(0, len(history.thread_texts), 256):
        chunk = history.thread_texts[start:start + 256]
        out[start:start + len(chunk)] = thread_vectors(embedder, chunk)
    return out


def _rank(method: str, thread: int, pool: np.ndarray, history: History, profiles: Profiles, vector: np.ndarray,
          bm25: _BM25 | None, rng: random.Random, weights: Weights, k: int) -> list[int]:
    """The pool's first ``k`` accounts, best first, by one method (ties broken by account order)."""
    tags = history.thread_tags[thread]
    if method == "random":
        return [int(pool[i]) for i in rng.sample(range(len(pool)), min(k, len(pool)))]
    if method == "most_active":
        return _top(pool, profiles.posts[pool].astype(float), k)
    if method == "tag_overlap":  # accounts without any of the tags follow, the most active first
        tagged = profiles.tag_scores(tags)
        ranked = _top(np.fromiter(tagged, dtype=np.int64), np.fromiter(tagged.values(), dtype=float)
                      + 1e-6 * np.log1p(profiles.posts[list(tagged)]), k) if tagged else []
        return ranked + [a for a in _top(pool, profiles.posts[pool].astype(float), k) if a not in tagged][:k - len(ranked)]
    if method == "bm25":
        assert bm25 is not None
        text = history.thread_texts[thread]
        order, scores = bm25.scores(f"{text.title} {text.opening}"[:4000])
        return _top(np.asarray(order, dtype=np.int64), scores, k)
    # murmur: the nearest profiles in FAISS, the most active and the tag matches, ranked by the hybrid score
    profiles.sync()
    hits = profiles.index.search(vector, min(CONTENT_POOL, len(profiles.index)))
    candidates = {h.thread_id for h in hits}
    candidates |= set(_top(pool, profiles.posts[pool].astype(float), CONTENT_POOL // 3))
    tagged = profiles.tag_scores(tags) if tags else {}
    if tagged:
        candidates |= set(_top(np.fromiter(tagged, dtype=np.int64), np.fromiter(tagged.values(), dtype=float),
                               CONTENT_POOL // 3))
    chosen = np.asarray(sorted(candidates), dtype=np.int64)
    direction = profiles.sums[chosen]
    direction = direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    score = direction @ vector + weights.activity * np.log1p(profiles.recent_at(chosen, history.thread_created[thread]))
    if tagged:
        score = score + weights.tags * np.array([tagged.get(int(a), 0.0) for a in chosen])
    return _top(chosen, score, k)


def _top(accounts: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    """The ``k`` best-scored accounts (ties: the lower account number), without sorting the whole pool."""
    if len(accounts) > 4 * k:
        keep = np.argpartition(-scores, k)[:k + 1]
        cut = scores[keep].min()
        keep = np.flatnonzero(scores >= cut)  # ties at the cut stay in
        accounts, scores = accounts[keep], scores[keep]
    order = np.lexsort((accounts, -scores))[:k]
    return [int(a) for a in accounts[order]]


# -- metrics ----------------------------------------------------------------------------------------------


def hit_at(ranks: Sequence[int | None], k: int) -> float:
    return float(np.mean([r is not None and r <= k for r in ranks])) if ranks else float("nan")


def mrr(ranks: Sequence[int | None]) -> float:
    """Mean reciprocal rank of the first account who joined (0 where none is in the ranked list)."""
    return float(np.mean([1.0 / r if r else 0.0 for r in ranks])) if ranks else float("nan")


def bootstrap(ranks: Sequence[int | None], metric: Callable[[Sequence[int | None]], float], *, resamples: int = 1000,
              seed: int = 0) -> tuple[float, float]:
    """95% percentile interval over threads resampled with replacement."""
    if not ranks:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.asarray([0 if r is None else r for r in ranks])
    stats = []
    for _ in range(resamples):
        sample = values[rng.integers(0, len(values), len(values))]
        stats.append(metric([int(v) or None for v in sample]))
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))
