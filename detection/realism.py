"""Realism measured: the bots' replies side by side with the people of the same threads, in the same run.

Reads an exported dataset (what a platform sees, plus ground truth to tell
the two apart) and what the run log says about each bot post (its act and
where its words came from). Offline: the act-fit reading takes a ``parse``
function from the caller (the bots' Rasa NLU), so nothing here opens a socket.

Measures, each for the bots and for the people of the threads the bots posted in:
- responsiveness: cosine between a reply and the post it answers;
- copying: replies sharing a run of 8 words with an earlier post (anyone's, and
  someone else's), and the detectors' own copy features per account;
- sources: replies whose words come from a thread of another site;
- act fit: the NLU reads an ``agree`` as agree, a ``disagree`` as disagree, a
  follow-up as a question;
- decorations: the share of replies with a sign-off, stock opener or closer, stance
  lead, trailing emoji, all-lowercase text or a quote (``detection/decorations.py``),
  and the median length, each beside the people's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detection.dataset import Dataset
from detection.decorations import DECORATIONS, rates
from detection.features import SHINGLE, Vectors, _words, account_features, post_signals

COPY_FEATURES = ("copy_share_mean", "shared_sentences_mean")
ACT_INTENTS = {"agree": "agree", "disagree": "disagree", "ask_follow_up": "ask_question"}


@dataclass(frozen=True)
class BotPost:
    """What the run log knows of one bot post: its act and where its words came from."""

    act: str
    source_site: str | None = None  # the bank thread's site (bank), or the site of the forum thread it quoted (splice)


@dataclass
class Realism:
    bot_replies: int
    people_replies: int
    responsiveness_bots: float
    responsiveness_people: float
    run_any_share: float  # bot replies sharing an 8-word run with any earlier post (disclosures aside)
    run_other_share: float  # ... with an earlier post by another account (what the copy detectors count)
    cross_site_share: float | None  # bot replies whose words come from another site's thread
    copy_people_range: dict[str, tuple[float, float]]  # 5th-95th percentile over the same threads' people
    copy_bots: dict[str, float]  # the bots' median
    copy_bots_outside: dict[str, float]  # share of bot accounts outside the people's range
    act_fit: dict[str, float] = field(default_factory=dict)  # per act, and "all"
    act_counts: dict[str, int] = field(default_factory=dict)
    people_intents: dict[str, float] = field(default_factory=dict)  # how the NLU reads the people's replies
    decorations_bots: dict[str, float] = field(default_factory=dict)  # share of replies, per decoration (and words)
    decorations_people: dict[str, float] = field(default_factory=dict)

    def decoration_lines(self) -> list[str]:
        """One line per decoration: the bots' rate beside the people's of the same threads."""
        if not self.decorations_bots:
            return []
        lines = [f"{'decoration':<14} {'bots':>7} {'people':>7} {'gap':>7}"]
        for name in (*DECORATIONS, "median_words"):
            b, p = self.decorations_bots[name], self.decorations_people[name]
            if name == "median_words":
                lines.append(f"{'median words':<14} {b:>7.0f} {p:>7.0f} {b - p:>+7.0f}")
            else:
                lines.append(f"{name:<14} {b:>7.1%} {p:>7.1%} {(b - p) * 100:>+6.1f}p")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


def bot_posts_from_log(records: Iterable[dict[str, Any]], dataset: Dataset) -> dict[str, BotPost]:
    """Each logged bot post's act and source site: the bank's record, or the site of the forum threads it quoted."""
    sites = dict(zip(dataset.forum.thread_ids, thread_sites(dataset)))
    out = {}
    for record in records:
        if record.get("kind") != "post":
            continue
        source = record.get("source") or {}
        site = source.get("site")
        if site is None and record.get("sources"):
            site = sites.get(str(record["sources"][0]))
        out[str(record["post_id"])] = BotPost(record["act"], site)
    return out


def thread_sites(dataset: Dataset) -> list[str]:
    """Each thread's site: the one most of its people's posts carry (bot posts carry none)."""
    votes: list[Counter[str]] = [Counter() for _ in dataset.forum.thread_ids]
    for i, site in enumerate(dataset.post_site):
        if site:
            votes[int(dataset.forum.post_thread[i])][site] += 1
    return [v.most_common(1)[0][0] if v else "" for v in votes]


def measure(dataset: Dataset, vectors: Vectors, bot_posts: dict[str, BotPost], *,
            parse: Callable[[Sequence[str]], list[str]] | None = None) -> Realism:
    forum, truth = dataset.forum, dataset.truth
    synthetic = truth.post_synthetic
    bot_threads = set(forum.post_thread[synthetic].tolist())
    in_threads = np.isin(forum.post_thread, list(bot_threads))
    replies = (forum.post_parent >= 0) & vectors.post_valid
    parents_valid = np.zeros(forum.n_posts, dtype=bool)
    parents_valid[replies] = vectors.post_valid[forum.post_parent[replies]]
    replies &= parents_valid
    bots = np.flatnonzero(replies & synthetic)
    people = np.flatnonzero(replies & ~synthetic & in_threads)

    def responsiveness(rows: np.ndarray) -> float:
        if not len(rows):
            return float("nan")
        sims = np.einsum("ij,ij->i", vectors.posts[rows], vectors.posts[forum.post_parent[rows]])
        return float(np.median(sims))

    # a disclosure ("Yes. I'm a bot: ...") is the same words each time it is asked, by design: not a copy
    worded = np.asarray([i for i in bots if getattr(bot_posts.get(forum.post_ids[i]), "act", None) != "disclose"],
                        dtype=np.int64)
    run_any, run_other = _shared_runs(dataset, worded)
    sites = thread_sites(dataset)
    crossed = [bot_posts[forum.post_ids[i]].source_site != sites[int(forum.post_thread[i])]
               for i in bots if bot_posts.get(forum.post_ids[i]) and bot_posts[forum.post_ids[i]].source_site
               and sites[int(forum.post_thread[i])]]  # a thread a bot opened has no people's site to compare with
    people_range, bots_median, outside = _copy_features(dataset, vectors, bot_threads)
    report = Realism(
        bot_replies=len(bots), people_replies=len(people),
        responsiveness_bots=responsiveness(bots), responsiveness_people=responsiveness(people),
        run_any_share=float(np.mean(run_any)) if len(worded) else float("nan"),
        run_other_share=float(np.mean(run_other)) if len(worded) else float("nan"),
        cross_site_share=float(np.mean(crossed)) if crossed else None,
        copy_people_range=people_range, copy_bots=bots_median, copy_bots_outside=outside)
    for side, rows in (("bots", worded), ("people", people)):  # "Yes. I'm a bot" is no stance lead of a persona's
        measured = rates(forum.post_body[int(i)] for i in rows)
        setattr(report, f"decorations_{side}", {**measured.rates, "median_words": measured.median_words})
    if parse is not None:
        _act_fit(report, dataset, bots, people, bot_posts, parse)
    return report


def _shared_runs(dataset: Dataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``: does it share an 8-word run with an earlier post of anyone / of another account?"""
    forum = dataset.forum
    owners: dict[int, set[int]] = {}
    wanted = set(rows.tolist())
    any_run, other_run = {}, {}
    for i in np.lexsort((np.arange(forum.n_posts), forum.post_time)):
        words = _words(forum.post_body[i])
        runs = {hash(tuple(words[k:k + SHINGLE])) for k in range(len(words) - SHINGLE + 1)}
        me = int(forum.post_account[i])
        if i in wanted:
            seen = [owners[r] for r in runs if r in owners]
            any_run[i] = bool(seen)
            other_run[i] = any(o - {me} for o in seen)
        for r in runs:
            owners.setdefault(r, set()).add(me)
    return (np.array([any_run[i] for i in rows], dtype=bool), np.array([other_run[i] for i in rows], dtype=bool))


def _copy_features(dataset: Dataset, vectors: Vectors, bot_threads: set[int]):
    forum, truth = dataset.forum, dataset.truth
    table = account_features(post_signals(forum, vectors, ("text",)))
    active = np.zeros(forum.n_accounts, dtype=bool)
    active[forum.post_account[np.isin(forum.post_thread, list(bot_threads))]] = True
    people = active & ~truth.account_synthetic
    bots = truth.account_synthetic
    ranges, medians, outside = {}, {}, {}
    for name in COPY_FEATURES:
        column = table.column(name)
        human = column[people & np.isfinite(column)]
        synthetic = column[bots & np.isfinite(column)]
        low, high = (float(np.percentile(human, 5)), float(np.percentile(human, 95))) if len(human) else (0.0, 0.0)
        ranges[name] = (low, high)
        medians[name] = float(np.median(synthetic)) if len(synthetic) else float("nan")
        outside[name] = float(np.mean((synthetic < low) | (synthetic > high))) if len(synthetic) else float("nan")
    return ranges, medians, outside


def _act_fit(report: Realism, dataset: Dataset, bots: np.ndarray, people: np.ndarray, bot_posts: dict[str, BotPost],
             parse: Callable[[Sequence[str]], list[str]]) -> None:
    forum = dataset.forum
    judged = [(i, bot_posts[forum.post_ids[i]].act) for i in bots
              if bot_posts.get(forum.post_ids[i]) and bot_posts[forum.post_ids[i]].act in ACT_INTENTS]
    intents = parse([forum.post_body[i] for i, _ in judged]) if judged else []
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for (_, act), intent in zip(judged, intents):
        totals[act] += 1
        hits[act] += intent == ACT_INTENTS[act]
    report.act_counts = dict(totals)
    report.act_fit = {act: hits[act] / totals[act] for act in totals}
    if totals:
        report.act_fit["all"] = sum(hits.values()) / sum(totals.values())
    read = Counter(parse([forum.post_body[i] for i in people])) if len(people) else Counter()
    total = sum(read.values()) or 1
    report.people_intents = {intent: read[intent] / total for intent in ("agree", "disagree", "ask_question")}
