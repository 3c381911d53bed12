"""Evaluation done by account: repeated splits, human-only thresholds, bootstrap intervals.

Each split divides the accounts (never the posts) at random, stratified by
class, into a test part, and a training part whose human accounts are split
again into "fit" and "calibration". A detector is fit on the fit accounts
(and their posts); its thresholds for 1% and 5% false positives are set on
the calibration accounts' human scores only; it is then scored on the test
accounts and their posts. Point estimates are means over splits; intervals
come from stratified bootstrap resamples of each split's test accounts
(drawn once per split and shared by every detector, so differences between
detectors are paired), pooled over splits. Post-level resamples draw whole
accounts with all their posts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from detection.dataset import Forum, Truth
from detection.detectors import Detector, TrainingSet
from detection.features import FeatureTable
from detection.metrics import FPR_LEVELS, bootstrap_samples, evaluate, interval, pr_curve, roc_auc, roc_curve, threshold_at_fpr

TEST_FRACTION = 0.3
CALIBRATION_FRACTION = 0.3
GRID = np.linspace(0.0, 1.0, 201)


@dataclass(frozen=True)
class Split:
    index: int
    fit: np.ndarray  # account indices (both classes)
    calibration: np.ndarray  # human account indices: thresholds are set here
    test: np.ndarray  # account indices (both classes)


def make_splits(labels: np.ndarray, count: int, seed: int) -> list[Split]:
    """``count`` stratified random splits of the accounts; the same seed gives the same splits."""
    labels = np.asarray(labels).astype(bool)
    out = []
    for k in range(count):
        rng = np.random.default_rng([seed, k])
        synthetic = rng.permutation(np.flatnonzero(labels))
        human = rng.permutation(np.flatnonzero(~labels))
        n_syn = int(np.clip(round(TEST_FRACTION * synthetic.size), 1, synthetic.size - 2))
        n_hum = int(np.clip(round(TEST_FRACTION * human.size), 1, human.size - 3))
        rest = human[n_hum:]
        n_cal = int(np.clip(round(CALIBRATION_FRACTION * rest.size), 1, rest.size - 2))
        out.append(Split(k, fit=np.sort(np.r_[synthetic[n_syn:], rest[n_cal:]]), calibration=np.sort(rest[:n_cal]),
                         test=np.sort(np.r_[synthetic[:n_syn], human[:n_hum]])))
    return out


@dataclass
class Outcome:
    """One detector at one level (accounts or posts) over every split."""

    per_split: list[dict[str, float]] = field(default_factory=list)
    replicates: dict[str, list[np.ndarray]] = field(default_factory=dict)
    scored: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (labels, scores) of each test part

    def add(self, labels: np.ndarray, scores: np.ndarray, thresholds: dict[float, float], samples: list[np.ndarray]) -> None:
        self.per_split.append(evaluate(labels, scores, thresholds))
        values: dict[str, list[float]] = {}
        for sample in samples:
            for name, value in evaluate(labels[sample], scores[sample], thresholds).items():
                values.setdefault(name, []).append(value)
        for name, series in values.items():
            self.replicates.setdefault(name, []).append(np.asarray(series))
        self.scored.append((labels, scores))

    def pooled(self, metric: str) -> np.ndarray:
        return np.concatenate(self.replicates[metric])

    def summary(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for name in self.per_split[0]:
            values = [m[name] for m in self.per_split]
            finite = [v for v in values if math.isfinite(v)]
            out[name] = {"mean": float(np.mean(finite)) if finite else math.nan,
                         "ci": interval(self.pooled(name)), "splits": values}
        return out

    def roc(self) -> tuple[np.ndarray, np.ndarray]:
        """The ROC curve averaged over splits (vertically, on a grid of false-positive rates)."""
        curves = []
        for labels, scores in self.scored:
            fpr, tpr, _ = roc_curve(labels, scores)
            curves.append(np.interp(GRID, fpr, tpr))
        mean = np.mean(curves, axis=0)
        mean[0] = 0.0
        return GRID, mean

    def pr(self) -> tuple[np.ndarray, np.ndarray]:
        """The PR curve averaged over splits: interpolated precision (best at this recall or more) on a recall grid."""
        curves = []
        for labels, scores in self.scored:
            precision, recall, _ = pr_curve(labels, scores)
            best = np.maximum.accumulate(precision[::-1])[::-1]
            at = np.searchsorted(recall, GRID, side="left")
            curves.append(np.where(at < len(best), best[np.minimum(at, len(best) - 1)], 0.0))
        return GRID, np.mean(curves, axis=0)


@dataclass
class Evaluation:
    accounts: dict[str, Outcome] = field(default_factory=dict)
    posts: dict[str, Outcome] = field(default_factory=dict)
    fitted: dict[str, list[Detector]] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitData:
    """A split's accounts and posts, with the bootstrap resamples its test part is scored on."""

    split: Split
    fit_posts: np.ndarray
    calibration_posts: np.ndarray
    test_posts: np.ndarray
    account_samples: list[np.ndarray]
    post_samples: list[np.ndarray]


def prepare_splits(forum: Forum, truth: Truth, splits: Sequence[Split], rounds: int, seed: int) -> list[SplitData]:
    owner_in = lambda accounts: np.flatnonzero(np.isin(forum.post_account, accounts))  # noqa: E731
    out = []
    for split in splits:
        rng = np.random.default_rng([seed, split.index, 1])
        test_posts = owner_in(split.test)
        calibration_posts = owner_in(split.calibration)
        out.append(SplitData(
            split=split,
            fit_posts=owner_in(split.fit),
            calibration_posts=calibration_posts[~truth.post_synthetic[calibration_posts]],
            test_posts=test_posts,
            account_samples=bootstrap_samples(rng, truth.account_synthetic[split.test], rounds),
            post_samples=bootstrap_samples(rng, truth.account_synthetic[forum.post_account[test_posts]], rounds,
                                           clusters=forum.post_account[test_posts]),
        ))
    return out


def _thresholds(scores: np.ndarray) -> dict[float, float]:
    return {level: threshold_at_fpr(scores, level) for level in FPR_LEVELS}


def run_evaluation(accounts: FeatureTable, posts: FeatureTable, truth: Truth, data: Sequence[SplitData],
                   factories: dict[str, Callable[[], Detector]], *, with_posts: bool = True,
                   step: Callable[[int], None] | None = None) -> Evaluation:
    """Fit, calibrate and score every detector on every split."""
    result = Evaluation()
    for part in data:
        split = part.split
        train = TrainingSet(accounts.rows(split.fit), truth.account_synthetic[split.fit].astype(int),
                            posts.rows(part.fit_posts), truth.post_synthetic[part.fit_posts].astype(int))
        for name, factory in factories.items():
            detector = factory().fit(train)
            result.fitted.setdefault(name, []).append(detector)
            labels = truth.account_synthetic[split.test]
            thresholds = _thresholds(detector.score_accounts(accounts.rows(split.calibration)))
            result.accounts.setdefault(name, Outcome()).add(
                labels, detector.score_accounts(accounts.rows(split.test)), thresholds, part.account_samples)
            if with_posts:
                thresholds = _thresholds(detector.score_posts(posts.rows(part.calibration_posts)))
                result.posts.setdefault(name, Outcome()).add(
                    truth.post_synthetic[part.test_posts], detector.score_posts(posts.rows(part.test_posts)),
                    thresholds, part.post_samples)
            if step:
                step(1)
    return result


def paired_difference(a: Outcome, b: Outcome, metric: str = "roc_auc") -> dict[str, object]:
    """Mean and bootstrap interval of a - b (the same resamples were used for both)."""
    mean = float(np.mean([x[metric] - y[metric] for x, y in zip(a.per_split, b.per_split)]))
    return {"mean": mean, "ci": interval(a.pooled(metric) - b.pooled(metric))}


def feature_separation(table: FeatureTable, labels: np.ndarray) -> list[dict[str, object]]:
    """ROC-AUC of every single feature over all labelled accounts (oriented: 0.5 is none, 1 is perfect)."""
    rows = []
    for c, name in enumerate(table.names):
        column = table.values[:, c]
        finite = np.isfinite(column)
        if finite.sum() == 0 or labels[finite].all() or not labels[finite].any():
            auc = math.nan
        else:
            auc = roc_auc(labels, np.where(finite, column, np.median(column[finite])))
        rows.append({"name": name, "family": table.families[c],
                     "auc": auc, "separation": max(auc, 1 - auc) if math.isfinite(auc) else math.nan,
                     "direction": "higher is synthetic" if auc >= 0.5 else "lower is synthetic",
                     "defined_for": float(finite.mean())})
    return sorted(rows, key=lambda r: -(r["separation"] if math.isfinite(r["separation"]) else 0))
