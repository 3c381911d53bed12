"""Metrics from scores, never from hard labels: ROC and PR curves, their areas, detection at a fixed
false-positive rate whose threshold is set on human accounts only, F1 at that threshold, and
bootstrap resampling (stratified, and by account for post-level results).

``tests/detection/test_metrics.py`` checks every function here against scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FPR_LEVELS = (0.01, 0.05)


def _prepare(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-d and of the same length")
    return y, s


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, tied values sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve: the chance a synthetic item outscores a human one (ties count half)."""
    y, s = _prepare(labels, scores)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = midranks(s)
    return float((ranks[y].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def _counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives when flagging score >= each distinct threshold, highest threshold first."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last item of each run of equal scores
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64), s[last]


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates, thresholds), starting at (0, 0) with threshold +inf."""
    y, s = _prepare(labels, scores)
    tps, fps, thresholds = _counts(y, s)
    return (np.r_[0.0, fps / max(fps[-1], 1)], np.r_[0.0, tps / max(tps[-1], 1)], np.r_[np.inf, thresholds])


def pr_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds), highest threshold first (recall rising)."""
    y, s = _prepare(labels, scores)
    tps, fps, thresholds = _counts(y, s)
    return tps / (tps + fps), tps / max(tps[-1], 1), thresholds


def average_precision(labels, scores) -> float:
    """Area under the PR curve as a step sum: precision at each threshold times the recall it adds."""
    y, _ = _prepare(labels, scores)
    if not y.any():
        return math.nan
    precision, recall, _ = pr_curve(labels, scores)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_at_fpr(human_scores, fpr: float) -> float:
    """The threshold that flags (score > threshold) at most ``fpr`` of these human scores."""
    h = np.sort(np.asarray(human_scores, dtype=np.float64))
    if h.size == 0:
        raise ValueError("no human scores to set a threshold on")
    allowed = int(math.floor(fpr * h.size + 1e-9))
    return float(h[h.size - 1 - allowed]) if allowed < h.size else -math.inf


def rates_at(labels, scores, threshold: float) -> dict[str, float]:
    """Detection rate (TPR), false-positive rate, precision and F1 when flagging score > threshold."""
    y, s = _prepare(labels, scores)
    return _rates(y, s, threshold)


def _rates(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = s > threshold
    tp, fp = int((flagged & y).sum()), int((flagged & ~y).sum())
    fn = int((~flagged & y).sum())
    positives, negatives = int(y.sum()), int((~y).sum())
    return {
        "tpr": tp / positives if positives else math.nan,
        "fpr": fp / negatives if negatives else math.nan,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
    }


def metric_names() -> list[str]:
    names = ["roc_auc", "pr_auc"]
    for level in FPR_LEVELS:
        tag = _tag(level)
        names += [f"dr_at_{tag}_fpr", f"fpr_achieved_{tag}", f"f1_at_{tag}_fpr"]
    return names


def _tag(level: float) -> str:
    return f"{level * 100:g}pct"


def evaluate(labels, scores, thresholds: dict[float, float]) -> dict[str, float]:
    """Every reported metric for one set of scores; ``thresholds`` maps each FPR level to its threshold.

    ROC-AUC here is the trapezoid under the ROC points, which equals ``roc_auc`` (ties counting half);
    both areas come from one sort, since this runs for every bootstrap resample.
    """
    y, s = _prepare(labels, scores)
    tps, fps, _ = _counts(y, s)
    positives, negatives = tps[-1], fps[-1]
    if positives and negatives:
        tpr, fpr = np.r_[0.0, tps / positives], np.r_[0.0, fps / negatives]
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    else:
        auc = math.nan
    ap = float(np.sum(np.diff(np.r_[0.0, tps / positives]) * tps / (tps + fps))) if positives else math.nan
    out = {"roc_auc": auc, "pr_auc": ap}
    for level in FPR_LEVELS:
        rates = _rates(y, s, thresholds[level])
        tag = _tag(level)
        out[f"dr_at_{tag}_fpr"] = rates["tpr"]
        out[f"fpr_achieved_{tag}"] = rates["fpr"]
        out[f"f1_at_{tag}_fpr"] = rates["f1"]
    return out


def bootstrap_samples(rng: np.random.Generator, labels: np.ndarray, rounds: int,
                      clusters: np.ndarray | None = None) -> list[np.ndarray]:
    """Index arrays of stratified bootstrap resamples.

    Without ``clusters``, items are drawn with replacement within each class. With ``clusters``
    (an account index per post, and ``labels`` per post), whole accounts are drawn within each
    class and bring all their posts: posts of one account are not independent.
    """
    labels = np.asarray(labels).astype(bool)
    if clusters is None:
        classes = [np.flatnonzero(labels), np.flatnonzero(~labels)]
        return [np.concatenate([rng.choice(c, size=c.size) for c in classes]) for _ in range(rounds)]
    ids, first = np.unique(clusters, return_index=True)
    members = {c: np.flatnonzero(clusters == c) for c in ids}
    groups = [ids[labels[first]], ids[~labels[first]]]
    return [np.concatenate([members[c] for g in groups for c in rng.choice(g, size=g.size)]) for _ in range(rounds)]


def interval(values: Sequence[float], level: float = 0.95) -> list[float]:
    """A percentile interval of bootstrap values, NaNs left out."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return [math.nan, math.nan]
    lo, hi = np.percentile(finite, [50 * (1 - level), 100 - 50 * (1 - level)])
    return [float(lo), float(hi)]
