"""Did a campaign shape the conversation? A difference-in-differences on its target threads and matched controls.

A campaign's target threads are those its on-goal posts went to; the campaign's time in a thread starts at its
first on-goal post there. Each target is matched, without replacement, to the thread of the same site that is
closest in age and in activity before that moment (posts before it, on a log scale) and that the campaign never
touched; the control's "before" and "after" are cut at its target's moment. The outcome is the share of the other
posts (everyone's but the campaign's own) that take the campaign's side, read by the caller's stance reader
(``side_of``: detection never imports the bots' reader). The effect is

    (target after - target before) - (control after - control before)

with a bootstrap interval over the matched pairs. Beside it: how many replies the campaign's posts drew from
others. On a replayed forum the people's posts were written before the campaign existed, so what they say cannot
move; any effect there comes from the bots that answer, and a campaign that shapes nothing says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from detection.dataset import Dataset
from detection.errors import DatasetError

RESAMPLES = 1000
MIN_PAIRS = 5  # matched pairs below which no verdict is given


@dataclass(frozen=True)
class Shaping:
    campaign_id: str
    side: str
    pairs: int
    target_before: float  # share of the other posts on the campaign's side, in the targets before the campaign came
    target_after: float
    control_before: float
    control_after: float
    effect: float
    interval: tuple[float, float]  # 95% bootstrap interval of the effect, over matched pairs
    replies_to_campaign: int  # others' posts that answer a campaign post
    campaign_posts: int

    def lines(self) -> list[str]:
        low, high = self.interval
        verdict = (f"too few target threads to tell (fewer than {MIN_PAIRS}: a bootstrap over so few pairs "
                   "understates its own spread)" if self.pairs < MIN_PAIRS else
                   "it shaped the conversation" if low > 0 else "no shaping detected: the interval holds 0"
                   if low <= 0 <= high else "the conversation moved away from its side")
        return [f"campaign {self.campaign_id}: {self.campaign_posts} on-goal posts in {self.pairs} target threads, "
                f"each matched to a control of the same site, age and activity",
                f"  share of the others' posts taking its side ({self.side}): targets {self.target_before:.3f} -> "
                f"{self.target_after:.3f}, controls {self.control_before:.3f} -> {self.control_after:.3f}",
                f"  difference-in-differences {self.effect:+.3f} (95% interval {low:+.3f} .. {high:+.3f}): {verdict}",
                f"  replies to the campaign's posts from others: {self.replies_to_campaign}"]


def _thread_sites(dataset: Dataset) -> list[str]:
    """A thread's site is its opening post's (what a replayed or imported thread keeps; '' for the forum's own)."""
    forum = dataset.forum
    sites = [""] * len(forum.thread_ids)
    first = np.full(len(forum.thread_ids), np.inf)
    for post, thread in enumerate(forum.post_thread):
        if forum.post_time[post] < first[thread]:
            first[thread] = forum.post_time[post]
            sites[thread] = dataset.post_site[post] if post < len(dataset.post_site) else ""
    return sites


def _times_by_thread(forum) -> dict[int, np.ndarray]:
    """Each thread's post times, sorted: what "posts before a moment" is read from, once."""
    order = np.argsort(forum.post_time, kind="stable")
    grouped: dict[int, list[float]] = {}
    for post in order:
        grouped.setdefault(int(forum.post_thread[post]), []).append(float(forum.post_time[post]))
    return {thread: np.array(grouped.get(thread, [])) for thread in range(len(forum.thread_ids))}


def _match(dataset: Dataset, campaign: np.ndarray, targets: dict[int, float]) -> list[tuple[int, int, float]]:
    """(target, control, moment) pairs: the closest untouched thread of the same site in age and earlier activity."""
    forum = dataset.forum
    sites = _thread_sites(dataset)
    touched = set(forum.post_thread[campaign].tolist())
    opened = np.full(len(forum.thread_ids), np.inf)
    np.minimum.at(opened, forum.post_thread, forum.post_time)
    free = {t for t in range(len(forum.thread_ids)) if t not in touched}
    times = _times_by_thread(forum)
    pairs = []
    for target, moment in sorted(targets.items(), key=lambda item: (item[1], item[0])):
        before = int(np.searchsorted(times[target], moment))  # its posts before the campaign came
        age = moment - opened[target]
        best, best_distance = None, math.inf
        for control in sorted(free):
            if sites[control] != sites[target] or opened[control] >= moment:
                continue
            earlier = int(np.searchsorted(times[control], moment))
            distance = abs(math.log1p(earlier) - math.log1p(before)) + abs((moment - opened[control]) - age) / (age + 86400)
            if distance < best_distance:
                best, best_distance = control, distance
        if best is not None:
            free.discard(best)
            pairs.append((target, best, moment))
    return pairs


def shaping_effect(dataset: Dataset, campaign_id: str, side: str, side_of: Callable[[Sequence[str]], list[str]], *,
                   seed: int = 0, resamples: int = RESAMPLES) -> Shaping:
    """The campaign's effect on the share of others' posts taking ``side``; ``side_of`` reads texts' sides."""
    forum, truth = dataset.forum, dataset.truth
    campaign = np.array([c == campaign_id for c in truth.post_campaign], dtype=bool) if truth.post_campaign else \
        np.zeros(forum.n_posts, dtype=bool)
    if not campaign.any():
        raise DatasetError(f"{dataset.path}: no post of campaign {campaign_id!r} in post_labels.csv; run a swarm with "
                           "--campaign and export the forum again")
    targets: dict[int, float] = {}
    for post in np.flatnonzero(campaign).tolist():
        thread = int(forum.post_thread[post])
        targets[thread] = min(targets.get(thread, math.inf), float(forum.post_time[post]))
    pairs = _match(dataset, campaign, targets)
    others = ~campaign
    in_pairs = {t for pair in pairs for t in pair[:2]}
    read = [int(p) for p in np.flatnonzero(others) if int(forum.post_thread[p]) in in_pairs]
    sides = dict(zip(read, side_of([forum.post_body[p] for p in read])))
    # per pair and group: (on-side, all) before and after the moment
    posts_of: dict[int, list[int]] = {}
    for post in read:
        posts_of.setdefault(int(forum.post_thread[post]), []).append(post)
    counts = np.zeros((len(pairs), 2, 2, 2))  # pair, target/control, before/after, on-side/all
    for i, (target, control, moment) in enumerate(pairs):
        for group, thread in enumerate((target, control)):
            for post in posts_of.get(thread, ()):
                after = int(forum.post_time[post] >= moment)
                counts[i, group, after, 0] += sides[post] == side
                counts[i, group, after, 1] += 1
    campaign_ids = set(np.flatnonzero(campaign).tolist())
    replies = int(sum(1 for p in np.flatnonzero(others) if int(forum.post_parent[p]) in campaign_ids))
    shares = _shares(counts.sum(axis=0))
    rng = np.random.default_rng(seed)
    draws = [_did(_shares(counts[rng.integers(0, len(pairs), len(pairs))].sum(axis=0))) for _ in range(resamples)] \
        if pairs else [0.0]
    return Shaping(campaign_id, side, len(pairs), shares[0, 0], shares[0, 1], shares[1, 0], shares[1, 1],
                   _did(shares), (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))),
                   replies, int(campaign.sum()))


def _shares(totals: np.ndarray) -> np.ndarray:
    """(target/control, before/after) share on-side; 0 where a cell has no posts."""
    return np.divide(totals[..., 0], totals[..., 1], out=np.zeros(totals.shape[:2]), where=totals[..., 1] > 0)


def _did(shares: np.ndarray) -> float:
    return float((shares[0, 1] - shares[0, 0]) - (shares[1, 1] - shares[1, 0]))
