"""Coordination: accounts that act together, found as a network of shared traces, and scored against campaigns.

Traces are what coordination detectors in the field build networks from (Pacheco et al., ICWSM 2021; the
``coordination-network-toolkit``), each between two distinct accounts:

- **co-reply**: both answered the same post within ``window_s`` of each other (a reply with no parent answers
  its thread's opening post); one co-event per post answered, however many times the pair did it there;
- **co-link**: both posted the same link (normalised) within ``window_s``; one co-event per post that follows the
  other's, so a link shared together again days later counts again;
- **near-duplicate text**: two posts whose character 3-5-gram TF-IDF cosine is at least 0.8, any time apart
  (campaigns reuse text). murmur's own campaigns never do, since each bank reply is used once a run, but other
  operators' do;
- **co-stance**: both took the same side, in the same thread, within ``window_s`` of each other; one co-event per
  thread and side. The sides are read by the caller on a topic the analyst names (the contested one), one per post
  (``pro``, ``con``, or ``none`` for a post not about it): the stance reader lives with the bots, and detection
  imports nothing of theirs (``murmur campaign report --stance-topic`` wires it). A burst of people arguing in a
  hot thread takes both sides; a campaign takes one.

The traces are fused into one account network: a pair's weight is its co-events summed over the traces, divided by
the square root of the two accounts' post counts (so two prolific accounts do not meet by volume alone). An
account's score is its strength in that network. For clusters the network is pruned: a tie needs ``min_events``
co-events, and of those each account keeps its ``keep`` strongest. Louvain communities (networkx, seeded, at
resolution ``RESOLUTION``) of at least ``min_cluster`` accounts are the clusters. A burst of people answering one
hot post gives every pair of them one co-event, which the pruning drops; a campaign's accounts meet again and again.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from detection.dataset import Dataset, Forum
from detection.errors import DatasetError

WINDOW_S = 600.0
NEAR_DUPLICATE = 0.8
MIN_CHARS = 20
MIN_EVENTS = 2
KEEP = 10
MIN_CLUSTER = 3
# Louvain's resolution: below 1 it prefers fewer, larger communities. At 1 it split one campaign into two (a
# campaign is one operation, so AMI counts that against it). Chosen among 1, 0.5 and 0.25 on a held-out run (seed 1,
# personas' volumes, 2 min x 20 accounts), never on the bench's seed-0 cells it is judged on.
RESOLUTION = 0.25
FPR = 0.01
URL = re.compile(r"https?://[^\s)\]>\"'<]+", re.IGNORECASE)
TRACKING = re.compile(r"^(utm_|fbclid|gclid|ref$)")
BLOCK = 2000

Pair = tuple[int, int]


class NoCampaigns(DatasetError):
    """A dataset with no campaign in its ground truth: nothing to score a coordination detector against."""


@dataclass(frozen=True)
class Traces:
    co_reply: Counter[Pair]
    co_link: Counter[Pair]
    near_duplicate: Counter[Pair]
    co_stance: Counter[Pair] = field(default_factory=Counter)

    def events(self) -> Counter[Pair]:
        return self.co_reply + self.co_link + self.near_duplicate + self.co_stance

    def counts(self) -> dict[str, int]:
        """Co-events per trace, for a report."""
        return {name: sum(getattr(self, name).values()) for name in ("co_reply", "co_link", "near_duplicate", "co_stance")}


@dataclass(frozen=True)
class Coordination:
    """What the detector says: every account's score, and the clusters it found (account indexes)."""

    scores: np.ndarray  # per Forum account: strength in the fused network
    clusters: tuple[tuple[int, ...], ...]
    edges: dict[Pair, float]  # the pruned network

    def cluster_of(self) -> dict[int, int]:
        return {account: n for n, members in enumerate(self.clusters) for account in members}


def _pair(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)


def _windowed(events: Iterable[tuple[object, float, int]], window_s: float, *, once_per_key: bool = True) -> Counter[Pair]:
    """Co-events of pairs of accounts that acted on the same key within ``window_s`` of each other: one per key
    (``once_per_key``: a post answered), or one per post that follows another account's within the window (a link
    shared again days later is another co-event)."""
    by_key: dict[object, list[tuple[float, int]]] = defaultdict(list)
    for key, at, account in events:
        by_key[key].append((at, account))
    counts: Counter[Pair] = Counter()
    for acts in by_key.values():
        if len(acts) < 2:
            continue
        acts.sort()
        met: set[Pair] = set()
        start = 0
        for i, (at, account) in enumerate(acts):
            while acts[start][0] < at - window_s:
                start += 1
            now = {_pair(account, other) for _, other in acts[start:i] if other != account}
            if once_per_key:
                met |= now
            else:
                counts.update(now)
        counts.update(met)
    return counts


def thread_openings(forum: Forum) -> dict[int, int]:
    """Each thread's first post."""
    first: dict[int, int] = {}
    for post in np.argsort(forum.post_time, kind="stable"):
        first.setdefault(int(forum.post_thread[post]), int(post))
    return first


def co_reply(forum: Forum, window_s: float = WINDOW_S) -> Counter[Pair]:
    openings = thread_openings(forum)
    opening_posts = set(openings.values())
    events = []
    for post in range(forum.n_posts):
        if post in opening_posts:
            continue
        parent = int(forum.post_parent[post])
        target = parent if parent >= 0 else openings[int(forum.post_thread[post])]
        events.append((target, float(forum.post_time[post]), int(forum.post_account[post])))
    return _windowed(events, window_s)


def normal_url(url: str) -> str:
    """A link as a co-link compares it: host lower-case without www., no trailing slash, no tracking parameters."""
    parts = urlsplit(url.rstrip(".,;:!?"))
    host = parts.netloc.lower().removeprefix("www.")
    query = "&".join(q for q in parts.query.split("&") if q and not TRACKING.match(q.split("=")[0]))
    return f"{host}{parts.path.rstrip('/')}" + (f"?{query}" if query else "")


def co_link(forum: Forum, window_s: float = WINDOW_S) -> Counter[Pair]:
    events = [(normal_url(url), float(forum.post_time[post]), int(forum.post_account[post]))
              for post, body in enumerate(forum.post_body) for url in set(URL.findall(body))]
    return _windowed(events, window_s, once_per_key=False)


def near_duplicates(forum: Forum, threshold: float = NEAR_DUPLICATE) -> Counter[Pair]:
    """Pairs of accounts with posts whose character n-gram TF-IDF cosine reaches ``threshold``, one per post pair."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    posts = [p for p, body in enumerate(forum.post_body) if len(body.strip()) >= MIN_CHARS]
    counts: Counter[Pair] = Counter()
    if len(posts) < 2:
        return counts
    matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1, sublinear_tf=True).fit_transform(
        [forum.post_body[p] for p in posts])
    authors = forum.post_account[posts]
    for start in range(0, len(posts), BLOCK):
        block = (matrix[start:start + BLOCK] @ matrix.T).tocoo()
        for row, col, value in zip(block.row, block.col, block.data):
            i = start + int(row)
            if col > i and value >= threshold and authors[i] != authors[col]:
                counts[_pair(int(authors[i]), int(authors[col]))] += 1
    return counts


SIDES = ("pro", "con")


def co_stance(forum: Forum, sides: Sequence[str], window_s: float = WINDOW_S) -> Counter[Pair]:
    """Pairs that took the same side (``sides``: one per post) in one thread within ``window_s``, once per thread
    and side."""
    if len(sides) != forum.n_posts:
        raise DatasetError(f"co-stance: {len(sides)} sides for {forum.n_posts} posts; read one side per post, in the "
                           "forum's post order")
    events = [((int(forum.post_thread[post]), side), float(forum.post_time[post]), int(forum.post_account[post]))
              for post, side in enumerate(sides) if side in SIDES]
    return _windowed(events, window_s)


def traces(forum: Forum, window_s: float = WINDOW_S, sides: Sequence[str] | None = None) -> Traces:
    return Traces(co_reply(forum, window_s), co_link(forum, window_s),
                  near_duplicates(forum) if forum.has_text else Counter(),
                  co_stance(forum, sides, window_s) if sides is not None else Counter())


def fuse(forum: Forum, events: Counter[Pair]) -> dict[Pair, float]:
    """Co-events per pair, divided by the square root of the two accounts' post counts."""
    posts = np.bincount(forum.post_account, minlength=forum.n_accounts).astype(np.float64)
    return {pair: count / math.sqrt(posts[pair[0]] * posts[pair[1]]) for pair, count in events.items()}


def prune(weights: dict[Pair, float], events: Counter[Pair], *, min_events: int = MIN_EVENTS,
          keep: int = KEEP) -> dict[Pair, float]:
    """The ties with at least ``min_events`` co-events that are among the ``keep`` strongest of either end."""
    strong = {pair: w for pair, w in weights.items() if events[pair] >= min_events}
    ranked: dict[int, list[tuple[float, Pair]]] = defaultdict(list)
    for pair, w in strong.items():
        ranked[pair[0]].append((w, pair))
        ranked[pair[1]].append((w, pair))
    kept: set[Pair] = set()
    for ties in ranked.values():
        kept.update(pair for _, pair in sorted(ties, key=lambda t: (-t[0], t[1]))[:keep])
    return {pair: strong[pair] for pair in sorted(kept)}


def detect(forum: Forum, *, window_s: float = WINDOW_S, min_events: int = MIN_EVENTS, keep: int = KEEP,
           min_cluster: int = MIN_CLUSTER, seed: int = 0, found: Traces | None = None,
           sides: Sequence[str] | None = None) -> Coordination:
    found = found or traces(forum, window_s, sides)
    return from_events(forum, found.events(), min_events=min_events, keep=keep, min_cluster=min_cluster, seed=seed)


def from_events(forum: Forum, events: Counter[Pair], *, min_events: int = MIN_EVENTS, keep: int = KEEP,
                min_cluster: int = MIN_CLUSTER, seed: int = 0) -> Coordination:
    """Scores and clusters from co-events per pair, whoever counted them (murmur's traces, or the toolkit's)."""
    weights = fuse(forum, events)
    scores = np.zeros(forum.n_accounts)
    for (a, b), w in weights.items():
        scores[a] += w
        scores[b] += w
    edges = prune(weights, events, min_events=min_events, keep=keep)
    return Coordination(scores, communities(edges, min_cluster, seed), edges)


def communities(edges: dict[Pair, float], min_cluster: int = MIN_CLUSTER, seed: int = 0) -> tuple[tuple[int, ...], ...]:
    """Louvain communities of the weighted network with at least ``min_cluster`` members, largest first."""
    import networkx as nx
    from networkx.algorithms.community import louvain_communities

    graph = nx.Graph()
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in edges.items())
    if not graph.number_of_edges():
        return ()
    found = louvain_communities(graph, weight="weight", seed=seed, resolution=RESOLUTION)
    kept = [tuple(sorted(c)) for c in found if len(c) >= min_cluster]
    return tuple(sorted(kept, key=lambda c: (-len(c), c)))


# -- scoring against ground truth -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoordinationScore:
    """Figures over the accounts that posted; NaN where nothing is measurable (no cluster kept: no precision)."""

    accounts: int  # that posted
    campaign_accounts: int  # of them, in a campaign
    roc_auc: float
    recall_at_fpr: float  # campaign accounts above the score the people's top 1% reach
    precision: float  # of the accounts in a kept cluster, the share in a campaign
    recall: float  # of the campaign accounts, the share in a kept cluster
    ami: float  # clusters against campaign_id over every account: outside a campaign / outside a cluster is one class
    weighted_precision: float
    clusters: int
    burst_people: int  # people who co-replied with another person at least once
    burst_fpr: float  # the share of them inside a kept cluster

    def table(self) -> list[tuple[str, str]]:
        return [("accounts that posted (in campaigns)", f"{self.accounts} ({self.campaign_accounts})"),
                ("account ROC-AUC", f"{self.roc_auc:.3f}"),
                ("recall at 1% FPR", f"{self.recall_at_fpr:.3f}"),
                ("precision / recall of clusters", f"{self.precision:.3f} / {self.recall:.3f}"),
                ("cluster AMI", f"{self.ami:.3f}"),
                ("weighted precision", f"{self.weighted_precision:.3f}"),
                ("clusters", str(self.clusters)),
                ("people co-replying in bursts: FPR", f"{self.burst_fpr:.3f} of {self.burst_people}")]

    def lines(self) -> list[str]:
        return [f"{name:<36}{value}" for name, value in self.table()]

    def figures(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, (int, float))}


def campaign_labels(dataset: Dataset) -> list[str]:
    """Per Forum account: its campaign_id, '' for everyone outside a campaign; refused when there is none."""
    labels = [info.get("campaign_id", "") for info in dataset.truth.account_info]
    if not any(labels):
        raise NoCampaigns(f"{dataset.path}: no account in labels.csv has a campaign_id; run a swarm with --campaign "
                          "FILE, then murmur export")
    return labels


def score(dataset: Dataset, result: Coordination, found: Traces | None = None) -> CoordinationScore:
    """Scored over the forum's accounts, which are those that posted: a campaign account that never did left
    nothing for any detector to read (the dataset counts it among its silent accounts)."""
    from sklearn.metrics import adjusted_mutual_info_score, roc_auc_score, roc_curve

    labels = campaign_labels(dataset)
    truth = np.array([bool(label) for label in labels])
    scores = result.scores
    cluster_of = result.cluster_of()
    in_cluster = np.array([a in cluster_of for a in range(len(labels))])
    auc = float(roc_auc_score(truth, scores)) if truth.any() and not truth.all() else float("nan")
    fpr, tpr, _ = roc_curve(truth, scores) if truth.any() and not truth.all() else (np.array([]), np.array([]), None)
    at_fpr = float(tpr[fpr <= FPR].max()) if (fpr <= FPR).any() else float("nan")
    ami = float(adjusted_mutual_info_score(labels, [str(cluster_of.get(a, "")) for a in range(len(labels))]))
    sizes = [len(c) for c in result.clusters]
    pure = [Counter(labels[a] or None for a in c).most_common(1)[0] for c in result.clusters]
    weighted = sum(n for (label, n) in pure if label) / sum(sizes) if sizes else float("nan")
    people_bursts = _burst_people(dataset, found)
    return CoordinationScore(
        accounts=len(labels), campaign_accounts=int(truth.sum()), roc_auc=auc,
        recall_at_fpr=at_fpr, precision=float(truth[in_cluster].mean()) if in_cluster.any() else float("nan"),
        recall=float(in_cluster[truth].mean()) if truth.any() else float("nan"), ami=ami,
        weighted_precision=float(weighted), clusters=len(result.clusters), burst_people=len(people_bursts),
        burst_fpr=float(np.mean([a in cluster_of for a in people_bursts])) if people_bursts else float("nan"))


def _burst_people(dataset: Dataset, found: Traces | None) -> list[int]:
    synthetic = dataset.truth.account_synthetic
    replies = found.co_reply if found is not None else co_reply(dataset.forum)
    return sorted({a for pair in replies for a in pair if not synthetic[pair[0]] and not synthetic[pair[1]]})


def evaluate(dataset: Dataset, *, window_s: float = WINDOW_S, seed: int = 0,
             sides: Sequence[str] | None = None) -> tuple[Coordination, CoordinationScore]:
    """murmur's coordination detector on a dataset (with co-stance when ``sides`` are given), scored against its
    campaigns."""
    campaign_labels(dataset)  # refused before any work when there is nothing to score against
    found = traces(dataset.forum, window_s, sides)
    result = detect(dataset.forum, window_s=window_s, seed=seed, found=found)
    return result, score(dataset, result, found)


# -- time to detection ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detected:
    """When the detector first flags a campaign: after how many of its on-goal posts, and how long after its first."""

    campaign_id: str
    posts: int | None  # None: never, over the whole forum
    hours: float | None
    of_posts: int  # its on-goal posts in all


def prefix(dataset: Dataset, until: float) -> Forum:
    """The forum as it stood at ``until``: the posts made by then (every account kept, so indexes stay the same)."""
    forum = dataset.forum
    keep = _made_by(forum, until)
    renumber = np.full(forum.n_posts, -1)
    renumber[keep] = np.arange(len(keep))
    parents = forum.post_parent[keep]
    return Forum(forum.account_ids, forum.thread_ids, forum.thread_titles, tuple(forum.post_ids[p] for p in keep),
                 forum.post_account[keep], forum.post_thread[keep],
                 np.where(parents >= 0, renumber[np.maximum(parents, 0)], -1), forum.post_time[keep],
                 tuple(forum.post_body[p] for p in keep), forum.has_threads, forum.has_text)


def _made_by(forum: Forum, until: float) -> np.ndarray:
    return np.flatnonzero(forum.post_time <= until)


def time_to_detection(dataset: Dataset, campaign_id: str, *, window_s: float = WINDOW_S, checkpoints: int = 20,
                      seed: int = 0, sides: Sequence[str] | None = None) -> Detected:
    """The first of up to ``checkpoints`` moments (after the campaign's k-th on-goal post) at which at least
    ``MIN_CLUSTER`` of its accounts score above what the top 1% of the people scored by then."""
    truth = dataset.truth
    times = np.sort(dataset.forum.post_time[[c == campaign_id for c in truth.post_campaign]]) \
        if truth.post_campaign else np.array([])
    if not len(times):
        raise NoCampaigns(f"{dataset.path}: no post of campaign {campaign_id!r} in post_labels.csv; run a swarm with "
                          "--campaign FILE, then murmur export")
    members = np.array([info.get("campaign_id") == campaign_id for info in truth.account_info])
    people = ~truth.account_synthetic
    steps = sorted({int(k) for k in np.linspace(1, len(times), min(checkpoints, len(times)))})
    for k in steps:
        until = float(times[k - 1])
        forum = prefix(dataset, until)
        then = [sides[p] for p in _made_by(dataset.forum, until)] if sides is not None else None
        scores = detect(forum, window_s=window_s, seed=seed, sides=then).scores
        bar = float(np.quantile(scores[people], 1 - FPR)) if people.any() else 0.0
        if np.count_nonzero(scores[members] > bar) >= MIN_CLUSTER:
            return Detected(campaign_id, k, float(times[k - 1] - times[0]) / 3600, len(times))
    return Detected(campaign_id, None, None, len(times))
