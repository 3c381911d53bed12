"""Per-post and per-account signals, in four families: timing, text, relevance, coordination.

Everything here reads only a ``Forum`` (what a platform sees: posts with
authors, threads, times, reply structure and text) and, for text and
relevance, the posts' and threads' embeddings. Ground truth, sites, handles
and external ids are not in a ``Forum``, so no feature can use them.

Times enter only as differences (gaps, latencies) and as the hour of the day,
never as absolute dates: human posts imported from a corpus are years older
than the posts of a swarm run on a simulated clock, and a date would
separate them without detecting anything.

Post features are computed once, over every post. Account features
aggregate an account's posts, optionally only its first ``limit`` posts (to
measure how detection grows with the posts seen); the co-activity graph is
then built from those posts only.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from detection.dataset import Forum
from index.answer_fit import MIN_PAIRS, Pair, content_words
from index.answer_fit import train as train_answer_fit
from index.errors import AnswerFitError

FAMILIES = ("timing", "text", "relevance", "coordination")
DEFAULT_WINDOW_S = 30 * 60.0  # co-activity: two accounts in the same thread within 30 minutes
NEAR_DUPLICATE = 0.9  # cosine at which two posts count as near-duplicates
SHINGLE = 8  # words in a copied run
TEMPLATE_WORDS = 3  # words that make an opener or a closer
NEIGHBOURS = 50  # nearest threads kept per thread for the relevance signal

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE = re.compile(r"[.!?\n]+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
NAN = float("nan")


@dataclass(frozen=True)
class FeatureTable:
    """A matrix of signals: one row per account (or post), one column per feature, NaN where undefined."""

    names: tuple[str, ...]
    families: tuple[str, ...]
    values: np.ndarray

    def columns(self, families: Sequence[str]) -> list[int]:
        return [i for i, f in enumerate(self.families) if f in families]

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def rows(self, index: np.ndarray) -> "FeatureTable":
        return FeatureTable(self.names, self.families, self.values[index])


class _Builder:
    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.names: list[str] = []
        self.families: list[str] = []
        self.columns: list[np.ndarray] = []

    def add(self, family: str, name: str, values: np.ndarray | Sequence[float]) -> None:
        array = np.asarray(values, dtype=np.float64)
        assert array.shape == (self.rows,), (name, array.shape)
        self.names.append(name)
        self.families.append(family)
        self.columns.append(array)

    def table(self) -> FeatureTable:
        values = np.column_stack(self.columns) if self.columns else np.empty((self.rows, 0))
        return FeatureTable(tuple(self.names), tuple(self.families), values)


def available_families(forum: Forum) -> dict[str, str | None]:
    """Each family, and why it cannot be measured on this forum (None when it can)."""
    return {
        "timing": None,
        "text": None if forum.has_text else "posts.csv has no body column",
        "relevance": None if forum.has_text and forum.has_threads else "needs thread_id and body in posts.csv",
        "coordination": None if forum.has_threads else "posts.csv has no thread_id column",
    }


# -- small numeric helpers (quiet on empty input: tests turn warnings into errors) ----------------


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _mean(values: np.ndarray) -> float:
    values = _finite(np.asarray(values, dtype=np.float64))
    return float(values.mean()) if values.size else NAN


def _median(values: np.ndarray) -> float:
    values = _finite(np.asarray(values, dtype=np.float64))
    return float(np.median(values)) if values.size else NAN


def _log(seconds: np.ndarray | float) -> np.ndarray | float:
    return np.log10(1.0 + np.maximum(seconds, 0.0))


def groups_by_account(forum: Forum, limit: int | None = None) -> list[np.ndarray]:
    """Each account's post indices in time order (ties by position), at most ``limit`` of them."""
    order = np.lexsort((np.arange(forum.n_posts), forum.post_time, forum.post_account))
    bounds = np.searchsorted(forum.post_account[order], np.arange(forum.n_accounts + 1))
    return [order[bounds[a]:bounds[a + 1]][:limit] for a in range(forum.n_accounts)]


# -- embeddings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vectors:
    """Normalised embeddings of every post body and every thread (title and opening post)."""

    posts: np.ndarray  # zero rows for empty bodies
    threads: np.ndarray
    post_valid: np.ndarray  # bool


def embed_forum(forum: Forum, embedder, progress: Callable[[int], None] | None = None, chunk: int = 256) -> Vectors:
    """Embed posts and threads through the project's Embedder (cached, offline); ``progress`` gets texts done."""
    from index.documents import ThreadText, clip, thread_vectors

    valid = np.array([bool(b.strip()) for b in forum.post_body])
    posts = np.zeros((forum.n_posts, embedder.dims), dtype=np.float32)
    rows = np.flatnonzero(valid)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        posts[part] = embedder.embed([clip(forum.post_body[i]) for i in part])
        if progress:
            progress(len(part))
    # a thread is what it is about: its title and opening post (the earliest post), as the index embeds them
    opening = np.full(len(forum.thread_ids), -1)
    for i in np.lexsort((np.arange(forum.n_posts), forum.post_time))[::-1]:
        if valid[i]:
            opening[forum.post_thread[i]] = i
    docs = []
    for t, title in enumerate(forum.thread_titles):
        body = forum.post_body[opening[t]] if opening[t] >= 0 else ""
        docs.append(ThreadText(t, title.strip() or body.strip()[:200] or "(untitled)", body))
    threads = np.zeros((len(docs), embedder.dims), dtype=np.float32)
    for start in range(0, len(docs), chunk):
        threads[start:start + chunk] = thread_vectors(embedder, docs[start:start + chunk])
        if progress:
            progress(2 * len(docs[start:start + chunk]))
    return Vectors(posts=posts, threads=threads, post_valid=valid)


def embedding_work(forum: Forum) -> int:
    """Texts ``embed_forum`` reports through ``progress``: posts with text, and two parts per thread."""
    return sum(1 for b in forum.post_body if b.strip()) + 2 * len(forum.thread_ids)


# -- text helpers -----------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _sentences(text: str) -> list[str]:
    out = []
    for part in _SENTENCE.split(text.lower()):
        words = _WORD.findall(part)
        if len(words) >= 3:
            out.append(" ".join(words))
    return out


def _style(body: str) -> list[float]:
    chars = len(body)
    words = _WORD.findall(body)
    letters = sum(c.isalpha() for c in body)
    return [
        math.log10(1 + chars),
        float(np.mean([len(w) for w in words])) if words else NAN,
        len(_PUNCT.findall(body)) / chars if chars else NAN,
        sum(c.isupper() for c in body) / letters if letters else NAN,
        sum(c.isdigit() for c in body) / chars if chars else NAN,
        sum(ord(c) > 127 for c in body) / chars if chars else NAN,
        len({w.lower() for w in words}) / len(words) if words else NAN,
        float("?" in body),
        100 * body.count("!") / chars if chars else NAN,
        100 * body.count("\n") / chars if chars else NAN,
        float("http://" in body or "https://" in body or "www." in body),
    ]


STYLE = ("chars_log", "word_len", "punct_rate", "upper_ratio", "digit_ratio", "nonascii_ratio", "type_token",
         "question", "exclaim_rate", "newline_rate", "has_url")


def _copy_share(forum: Forum, words: list[list[str]]) -> np.ndarray:
    """Share of a post's 8-word runs that an earlier post by another account already had (copy and paste)."""
    seen: dict[int, int] = {}  # shingle -> the one account that used it, or -2 for several
    out = np.full(forum.n_posts, NAN)
    for i in np.lexsort((np.arange(forum.n_posts), forum.post_time)):
        tokens, account = words[i], int(forum.post_account[i])
        shingles = {hash(tuple(tokens[k:k + SHINGLE])) for k in range(len(tokens) - SHINGLE + 1)}
        if not shingles:
            continue
        out[i] = sum(1 for s in shingles if seen.get(s, account) != account) / len(shingles)
        for s in shingles:
            owner = seen.get(s)
            seen[s] = account if owner is None or owner == account else -2
    return out


def _shared_sentences(forum: Forum, sentences: list[list[str]]) -> np.ndarray:
    """Share of a post's sentences (3+ words) that another account also wrote, word for word."""
    owners: dict[str, set[int]] = defaultdict(set)
    for i, items in enumerate(sentences):
        for s in items:
            owners[s].add(int(forum.post_account[i]))
    out = np.full(forum.n_posts, NAN)
    for i, items in enumerate(sentences):
        if items:
            me = int(forum.post_account[i])
            out[i] = sum(1 for s in items if owners[s] - {me}) / len(items)
    return out


def _template_keys(words: list[list[str]]) -> tuple[list[str | None], list[str | None]]:
    openers = [" ".join(w[:TEMPLATE_WORDS]) if len(w) >= TEMPLATE_WORDS else None for w in words]
    closers = [" ".join(w[-TEMPLATE_WORDS:]) if len(w) >= TEMPLATE_WORDS else None for w in words]
    return openers, closers


def _repeat_counts(keys: list[str | None], groups: list[np.ndarray]) -> np.ndarray:
    """For each post: how many other posts of its author share its key (opener or closer)."""
    out = np.full(len(keys), NAN)
    for group in groups:
        counts = Counter(keys[i] for i in group if keys[i] is not None)
        for i in group:
            if keys[i] is not None:
                out[i] = counts[keys[i]] - 1
    return out


def _max_similarity(vectors: Vectors, forum: Forum, groups: list[np.ndarray], chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Each post's highest cosine to another post of its author, and to a post of another account."""
    own = np.full(forum.n_posts, NAN)
    for group in groups:
        group = group[vectors.post_valid[group]]
        if len(group) >= 2:
            sims = vectors.posts[group] @ vectors.posts[group].T
            np.fill_diagonal(sims, -np.inf)
            own[group] = sims.max(axis=1)
    cross = np.full(forum.n_posts, NAN)
    valid = np.flatnonzero(vectors.post_valid)
    matrix, authors = vectors.posts[valid], forum.post_account[valid]
    for start in range(0, len(valid), chunk):
        rows = valid[start:start + chunk]
        sims = vectors.posts[rows] @ matrix.T
        sims[forum.post_account[rows][:, None] == authors[None, :]] = -np.inf
        best = sims.max(axis=1) if sims.shape[1] else np.full(len(rows), -np.inf)
        cross[rows] = np.where(np.isfinite(best), best, NAN)
    return own, cross


# -- timing helpers ------------------------------------------------------------------------------


def _previous_in_thread(forum: Forum) -> np.ndarray:
    order = np.lexsort((np.arange(forum.n_posts), forum.post_time, forum.post_thread))
    previous = np.full(forum.n_posts, -1)
    same = forum.post_thread[order][1:] == forum.post_thread[order][:-1]
    previous[order[1:][same]] = order[:-1][same]
    return previous


def reply_latency(forum: Forum) -> np.ndarray:
    """Seconds from the post replied to (its parent, else the thread's previous post); NaN for openers."""
    anchor = np.where(forum.post_parent >= 0, forum.post_parent, _previous_in_thread(forum))
    latency = np.full(forum.n_posts, NAN)
    has = anchor >= 0
    latency[has] = np.maximum(forum.post_time[has] - forum.post_time[anchor[has]], 0.0)
    return latency


def _hours(times: np.ndarray) -> np.ndarray:
    return (times % 86400.0) / 3600.0


def _gap_stats(times: np.ndarray) -> list[float]:
    """Median log gap, burstiness, local variation and regularity of an account's inter-post gaps."""
    gaps = np.diff(np.sort(times))
    if len(gaps) == 0:
        return [NAN] * 4
    median_log = float(np.median(_log(gaps)))
    if len(gaps) < 2:
        return [median_log, NAN, NAN, NAN]
    mu, sigma = gaps.mean(), gaps.std()
    burstiness = float((sigma - mu) / (sigma + mu)) if sigma + mu > 0 else -1.0  # Goh & Barabasi: -1 regular, 1 bursty
    pair = gaps[:-1] + gaps[1:]
    terms = np.divide(gaps[:-1] - gaps[1:], pair, out=np.zeros_like(pair), where=pair > 0)
    local_variation = float(3.0 * np.mean(terms ** 2))  # Shinomoto: 0 regular, 1 Poisson
    median = np.median(gaps)
    regularity = float(np.mean(np.abs(gaps - median) <= 0.1 * median)) if median > 0 else float(np.mean(gaps == 0))
    return [median_log, burstiness, local_variation, regularity]


def _hour_entropy(times: np.ndarray) -> float:
    if len(times) < 2:
        return NAN
    counts = np.bincount(_hours(times).astype(int) % 24, minlength=24)
    p = counts[counts > 0] / len(times)
    return float(-(p * np.log(p)).sum() / math.log(min(24, len(times))))


# -- coordination helpers ---------------------------------------------------------------------------


def co_activity(forum: Forum, posts: np.ndarray, window_s: float) -> tuple[dict[tuple[int, int], set[int]], dict[int, set[int]]]:
    """Pairs of accounts that posted in the same thread within ``window_s`` of each other.

    Returns the edges (account pair -> threads where it happened) and, per post, the other accounts
    near it. Only ``posts`` (indices) take part.
    """
    edges: dict[tuple[int, int], set[int]] = defaultdict(set)
    near: dict[int, set[int]] = defaultdict(set)
    order = posts[np.lexsort((posts, forum.post_time[posts], forum.post_thread[posts]))]
    threads, times, accounts = forum.post_thread[order], forum.post_time[order], forum.post_account[order]
    for x in range(len(order)):
        y = x + 1
        while y < len(order) and threads[y] == threads[x] and times[y] - times[x] <= window_s:
            a, b = int(accounts[x]), int(accounts[y])
            if a != b:
                edges[(min(a, b), max(a, b))].add(int(threads[x]))
                near[int(order[x])].add(b)
                near[int(order[y])].add(a)
            y += 1
    return edges, near


def _components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    roots = [find(x) for x in range(n)]
    sizes = Counter(roots)
    return np.array([sizes[r] for r in roots])


# -- relevance helpers ---------------------------------------------------------------------------------


def answered_posts(forum: Forum) -> np.ndarray:
    """For each post, the post it answers: its parent, else its thread's first post (-1: it opens its thread)."""
    first: dict[int, int] = {}
    for i in np.lexsort((np.arange(forum.n_posts), forum.post_time)):
        first.setdefault(int(forum.post_thread[i]), int(i))
    answered = np.asarray(forum.post_parent, dtype=np.int64).copy()
    for i in np.flatnonzero(answered < 0):
        opener = first[int(forum.post_thread[i])]
        answered[i] = opener if opener != i else -1
    return answered


def answer_fit(forum: Forum, vectors: Vectors, folds: int = 2) -> np.ndarray:
    """How well each reply answers the post it replies to (index/answer_fit.py), the way a platform would learn
    it from its own conversations: trained on the forum's (post, reply) pairs with no labels, cross-fitted by
    thread, so no reply is scored by a model that saw its own thread. NaN for an opening post, an empty body,
    or a forum with too few replies to learn from."""
    answered = answered_posts(forum)
    rows = np.flatnonzero((answered >= 0) & vectors.post_valid)
    rows = rows[vectors.post_valid[answered[rows]]]
    out = np.full(forum.n_posts, NAN)
    if len(rows) < 2 * MIN_PAIRS * folds:
        return out
    title = {int(forum.post_thread[i]): forum.thread_titles[int(forum.post_thread[i])] for i in rows}

    def pair(i: int) -> Pair:
        parent = int(answered[i])
        thread = int(forum.post_thread[i])
        opens = forum.post_parent[i] < 0
        post = f"{title[thread]}\n{forum.post_body[parent]}" if opens else forum.post_body[parent]
        return Pair(str(thread), "forum", post, forum.post_body[i])

    pairs = [pair(int(i)) for i in rows]
    fold = np.asarray([int(forum.post_thread[i]) % folds for i in rows])
    posts_v, replies_v = vectors.posts[answered[rows]], vectors.posts[rows]
    for k in range(folds):
        inside = fold != k
        try:
            model = train_answer_fit([p for p, keep in zip(pairs, inside) if keep], posts_v[inside], replies_v[inside])
        except AnswerFitError:
            return np.full(forum.n_posts, NAN)
        outside = np.flatnonzero(~inside)
        out[rows[outside]] = model.fits(posts_v[outside], replies_v[outside],
                                        [content_words(pairs[j].post) for j in outside],
                                        [content_words(pairs[j].reply) for j in outside])
    return out


def thread_neighbours(threads: np.ndarray, most: int = NEIGHBOURS, chunk: int = 1024) -> np.ndarray:
    """Each thread's nearest other threads by cosine, nearest first (at most ``most``)."""
    n = len(threads)
    k = min(most, n - 1)
    out = np.empty((n, max(k, 0)), dtype=np.int64)
    for start in range(0, n, chunk):
        sims = threads[start:start + chunk] @ threads.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        if k:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
            out[start:start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def neighbour_hits(threads: list[int], neighbours: np.ndarray) -> np.ndarray:
    """For each of an account's threads: the share of its nearest (n - 1) threads that the account also joined.

    An account that joins whatever sits closest to a few fixed interests (as the index makes bots do)
    joins threads that are each other's nearest neighbours; one that follows its own curiosity through
    a forum of one broad topic mostly does not.
    """
    if len(threads) < 2 or neighbours.shape[1] == 0:
        return np.full(len(threads), NAN)
    joined = set(threads)
    k = min(len(threads) - 1, neighbours.shape[1])
    return np.array([len(joined.intersection(neighbours[t, :k].tolist())) / k for t in threads])


# -- the tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signals:
    """What account features are aggregated from: the forum, its post features, its vectors."""

    forum: Forum
    posts: FeatureTable
    vectors: Vectors | None
    families: tuple[str, ...]
    window_s: float
    words: tuple[tuple[str, ...], ...] = ()
    openers: tuple[str | None, ...] = ()
    closers: tuple[str | None, ...] = ()
    neighbours: np.ndarray | None = None  # each thread's nearest threads (relevance)


def post_signals(forum: Forum, vectors: Vectors | None, families: Sequence[str] = FAMILIES,
                 window_s: float = DEFAULT_WINDOW_S) -> Signals:
    """Per-post features of the requested (and measurable) families."""
    blocked = available_families(forum)
    families = tuple(f for f in FAMILIES if f in families and blocked[f] is None)
    if vectors is None and {"text", "relevance"} & set(families):
        raise ValueError("text and relevance features need the forum's embeddings")
    groups = groups_by_account(forum)
    b = _Builder(forum.n_posts)
    words: list[list[str]] = []
    neighbours = None
    openers: list[str | None] = []
    closers: list[str | None] = []
    if "timing" in families:
        previous_gap = np.full(forum.n_posts, NAN)
        for group in groups:
            previous_gap[group[1:]] = _log(np.diff(forum.post_time[group]))
        hours = _hours(forum.post_time)
        b.add("timing", "gap_previous_log", previous_gap)
        b.add("timing", "reply_latency_log", _log(reply_latency(forum)))
        b.add("timing", "hour_sin", np.sin(2 * np.pi * hours / 24))
        b.add("timing", "hour_cos", np.cos(2 * np.pi * hours / 24))
    if "text" in families:
        words = [_words(body) for body in forum.post_body]
        style = np.array([_style(body) for body in forum.post_body], dtype=np.float64).reshape(forum.n_posts, len(STYLE))
        for k, name in enumerate(STYLE):
            b.add("text", name, style[:, k])
        b.add("text", "copy_share", _copy_share(forum, words))
        b.add("text", "shared_sentences", _shared_sentences(forum, [_sentences(body) for body in forum.post_body]))
        openers, closers = _template_keys(words)
        b.add("text", "opener_repeat_log", np.log1p(_repeat_counts(openers, groups)))
        b.add("text", "closer_repeat_log", np.log1p(_repeat_counts(closers, groups)))
        own, cross = _max_similarity(vectors, forum, groups)
        b.add("text", "self_sim_max", own)
        b.add("text", "cross_sim_max", cross)
    if "relevance" in families:
        fit = np.full(forum.n_posts, NAN)
        for group in groups:
            threads = list(dict.fromkeys(forum.post_thread[group].tolist()))
            if len(threads) < 2:
                continue
            vecs = vectors.threads[threads]
            total = vecs.sum(axis=0)
            for i in group:
                t = forum.post_thread[i]
                rest = total - vectors.threads[t]  # the author's other threads
                norm = np.linalg.norm(rest)
                fit[i] = float(vectors.threads[t] @ rest / norm) if norm > 0 else NAN
        neighbours = thread_neighbours(vectors.threads)
        hits = np.full(forum.n_posts, NAN)
        for group in groups:
            threads = list(dict.fromkeys(forum.post_thread[group].tolist()))
            share = dict(zip(threads, neighbour_hits(threads, neighbours)))
            hits[group] = [share[t] for t in forum.post_thread[group].tolist()]
        body_sim = np.einsum("ij,ij->i", vectors.posts, vectors.threads[forum.post_thread]).astype(np.float64)
        body_sim[~vectors.post_valid] = NAN
        b.add("relevance", "thread_fit", fit)
        b.add("relevance", "neighbour_hit", hits)
        b.add("relevance", "post_thread_sim", body_sim)
        b.add("relevance", "answer_fit", answer_fit(forum, vectors))
    if "coordination" in families:
        edges, near = co_activity(forum, np.arange(forum.n_posts), window_s)
        co = np.array([len(near.get(i, ())) for i in range(forum.n_posts)], dtype=np.float64)
        repeat = np.zeros(forum.n_posts)
        for i, others in near.items():
            a = int(forum.post_account[i])
            repeat[i] = sum(1 for o in others if len(edges[(min(a, o), max(a, o))]) >= 2)
        b.add("coordination", "co_accounts_log", np.log1p(co))
        b.add("coordination", "co_repeat_log", np.log1p(repeat))
    return Signals(forum=forum, posts=b.table(), vectors=vectors, families=families, window_s=window_s,
                   words=tuple(tuple(w) for w in words), openers=tuple(openers), closers=tuple(closers),
                   neighbours=neighbours if "relevance" in families else None)


def account_features(signals: Signals, limit: int | None = None) -> FeatureTable:
    """Per-account features from each account's first ``limit`` posts (all of them when None)."""
    forum, families = signals.forum, signals.families
    groups = groups_by_account(forum, limit)
    b = _Builder(forum.n_accounts)
    posts = signals.posts

    def per_account(fn: Callable[[np.ndarray], float | list[float]]) -> np.ndarray:
        return np.array([fn(g) for g in groups], dtype=np.float64)

    if "timing" in families:
        gaps = per_account(lambda g: _gap_stats(forum.post_time[g]))
        latency = posts.column("reply_latency_log")
        b.add("timing", "posts_log", per_account(lambda g: math.log10(len(g))))
        for k, name in enumerate(("gap_median_log", "gap_burstiness", "gap_local_variation", "gap_regularity")):
            b.add("timing", name, gaps[:, k])
        b.add("timing", "latency_median_log", per_account(lambda g: _median(latency[g])))
        b.add("timing", "latency_spread", per_account(
            lambda g: float(np.subtract(*np.percentile(_finite(latency[g]), [75, 25]))) if _finite(latency[g]).size >= 2 else NAN))
        b.add("timing", "hour_entropy", per_account(lambda g: _hour_entropy(forum.post_time[g])))
    if "text" in families:
        for name in STYLE:
            column = posts.column(name)
            b.add("text", f"mean_{name}", per_account(lambda g: _mean(column[g])))
        lengths = np.array([len(body) for body in forum.post_body], dtype=np.float64)
        b.add("text", "length_cv", per_account(
            lambda g: float(lengths[g].std() / lengths[g].mean()) if len(g) >= 2 and lengths[g].mean() > 0 else NAN))
        for name in ("copy_share", "shared_sentences", "cross_sim_max"):
            column = posts.column(name)
            b.add("text", f"{name}_mean", per_account(lambda g: _mean(column[g])))
        cross = posts.column("cross_sim_max")
        b.add("text", "near_duplicate_share", per_account(
            lambda g: float(np.mean(np.nan_to_num(cross[g], nan=0.0) >= NEAR_DUPLICATE))))
        for name, keys in (("opener_reuse", signals.openers), ("closer_reuse", signals.closers)):
            b.add("text", name, per_account(lambda g: _reuse([keys[i] for i in g])))
        b.add("text", "ngram_self_repeat", per_account(lambda g: _self_repeat([signals.words[i] for i in g])))
        b.add("text", "self_sim_mean", per_account(lambda g: _mean_pairwise(signals.vectors.posts[g[signals.vectors.post_valid[g]]])))
    if "relevance" in families:
        def thread_stats(g: np.ndarray) -> list[float]:
            threads = list(dict.fromkeys(forum.post_thread[g].tolist()))
            vecs = signals.vectors.threads[threads]
            if len(threads) < 2:
                return [NAN, NAN]
            sims = vecs @ vecs.T
            np.fill_diagonal(sims, -np.inf)
            return [_mean_pairwise(vecs), float(sims.max(axis=1).mean())]

        stats = per_account(thread_stats)
        opener_of = np.full(len(forum.thread_ids), -1)
        for i in np.lexsort((np.arange(forum.n_posts), forum.post_time))[::-1]:
            opener_of[forum.post_thread[i]] = forum.post_account[i]
        body_sim = posts.column("post_thread_sim")
        b.add("relevance", "thread_pair_sim", stats[:, 0])
        b.add("relevance", "thread_nn_sim", stats[:, 1])
        b.add("relevance", "neighbour_share", per_account(
            lambda g: _mean(neighbour_hits(list(dict.fromkeys(forum.post_thread[g].tolist())), signals.neighbours))))
        b.add("relevance", "thread_share", per_account(lambda g: len(set(forum.post_thread[g].tolist())) / len(g)))
        b.add("relevance", "post_thread_sim_mean", per_account(lambda g: _mean(body_sim[g])))
        fits = posts.column("answer_fit")
        b.add("relevance", "answer_fit_median", per_account(lambda g: _median(fits[g])))
        b.add("relevance", "starter_share", np.array([
            float(np.mean(opener_of[np.unique(forum.post_thread[g])] == a)) for a, g in enumerate(groups)]))
    if "coordination" in families:
        kept = np.concatenate(groups) if groups else np.empty(0, dtype=np.int64)
        edges, _ = co_activity(forum, kept, signals.window_s)
        partners: dict[int, dict[int, int]] = defaultdict(dict)
        co_threads: dict[int, set[int]] = defaultdict(set)
        for (a, c), threads in edges.items():
            partners[a][c] = partners[c][a] = len(threads)
            co_threads[a] |= threads
            co_threads[c] |= threads
        sizes = _components(forum.n_accounts, [e for e, threads in edges.items() if len(threads) >= 2])
        b.add("coordination", "co_partners_log", [math.log1p(len(partners[a])) for a in range(forum.n_accounts)])
        b.add("coordination", "co_max_shared_log", [math.log1p(max(partners[a].values(), default=0)) for a in range(forum.n_accounts)])
        b.add("coordination", "co_thread_share", [
            len(co_threads[a]) / len(set(forum.post_thread[g].tolist())) for a, g in enumerate(groups)])
        b.add("coordination", "co_repeat_share", [
            float(np.mean([w >= 2 for w in partners[a].values()])) if partners[a] else 0.0 for a in range(forum.n_accounts)])
        b.add("coordination", "co_cluster_log", np.log1p(sizes - 1))
    return b.table()


def _reuse(keys: list[str | None]) -> float:
    """Share of an account's posts that start (or end) with its most used three words."""
    present = [k for k in keys if k is not None]
    if len(keys) < 2 or not present:
        return NAN
    return Counter(present).most_common(1)[0][1] / len(keys)


def _self_repeat(texts: list[tuple[str, ...]], n: int = 4) -> float:
    """Share of an account's distinct 4-word runs that it used in two or more posts."""
    if len(texts) < 2:
        return NAN
    counts: Counter[tuple[str, ...]] = Counter()
    for words in texts:
        counts.update({tuple(words[k:k + n]) for k in range(len(words) - n + 1)})
    return sum(1 for c in counts.values() if c >= 2) / len(counts) if counts else NAN


def _mean_pairwise(vecs: np.ndarray) -> float:
    n = len(vecs)
    if n < 2:
        return NAN
    total = vecs.sum(axis=0)
    return float((total @ total - np.einsum("ij,ij->", vecs, vecs)) / (n * (n - 1)))
