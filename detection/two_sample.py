"""How far the bots' accounts are from the people's, measured two ways that read the same in every cell.

- **A classifier two-sample test per family**: as many people's accounts as there are bots' (drawn, seeded),
  one classifier per family (standardised features, logistic regression) told them apart in stratified
  folds, and its held-out accuracy with a 95% binomial (Wilson) interval. With the classes balanced, 0.5
  means the family cannot tell the two populations apart; 1.0 means it always can.
- **Kolmogorov-Smirnov distances** between the bots' and the people's values of what a reader or a platform
  sees first: posts per account, the gaps between an account's posts, how long a reply takes to come, the
  hour of the day, the length of a post and how well a reply answers its post (answer fit). 0 is the same
  distribution, 1 disjoint.

Both read only what the detectors read (features and the forum); ground truth only labels the two samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detection.dataset import Forum
from detection.features import FeatureTable, _hours, _words, reply_latency
from detection.metrics import interval

FOLDS = 5
MIN_PER_CLASS = 5  # fewer accounts than this on either side and no test is run (it would say nothing)
Z95 = 1.959964
BOOTSTRAP = 1000  # resamples for the interval of a gap between two medians
MEASURES = ("posts_per_account", "inter_post_gap", "reply_latency", "hour_of_day", "post_length", "answer_fit")


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (better behaved than the normal one near 0 and 1)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def classifier_test(values: np.ndarray, synthetic: np.ndarray, seed: int = 0, folds: int = FOLDS) -> dict[str, Any] | None:
    """Held-out accuracy of telling bots' rows from an equal number of people's rows, with its interval."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    bots, people = np.flatnonzero(synthetic), np.flatnonzero(~synthetic)
    per_class = min(len(bots), len(people))
    usable = values.shape[1] > 0 and np.isfinite(values).any(axis=0).any()
    if per_class < MIN_PER_CLASS or not usable:
        return None
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(bots, per_class, replace=False), rng.choice(people, per_class, replace=False)])
    x = values[rows][:, np.isfinite(values[rows]).any(axis=0)]
    y = synthetic[rows].astype(int)
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000))
    split = StratifiedKFold(n_splits=min(folds, per_class), shuffle=True, random_state=seed)
    predicted = cross_val_predict(model, x, y, cv=split)
    correct = int((predicted == y).sum())
    low, high = wilson(correct, len(y))
    return {"accuracy": correct / len(y), "ci": [low, high], "n": int(len(y)), "per_class": int(per_class)}


def two_sample_tests(accounts: FeatureTable, synthetic: np.ndarray, families: Sequence[str],
                     seed: int = 0) -> dict[str, dict[str, Any] | None]:
    """One classifier two-sample test per family, on the accounts' features of that family."""
    return {family: classifier_test(accounts.values[:, accounts.columns([family])], synthetic, seed)
            for family in families}


def ks_distance(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    from scipy.stats import ks_2samp

    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return None
    test = ks_2samp(a, b)
    return {"ks": float(test.statistic), "p": float(test.pvalue), "bots": int(a.size), "people": int(b.size),
            "bots_median": float(np.median(a)), "people_median": float(np.median(b)),
            "median_gap_ci": median_gap_interval(a, b)}


def median_gap_interval(a: np.ndarray, b: np.ndarray, resamples: int = BOOTSTRAP, seed: int = 0) -> list[float]:
    """A 95% bootstrap interval of median(a) - median(b): with a few dozen bots' posts, how far apart the two
    medians can be by chance alone, which a goal on the gap has to be read against."""
    rng = np.random.default_rng(seed)
    gaps = (np.median(rng.choice(a, (resamples, a.size)), axis=1)
            - np.median(rng.choice(b, (resamples, b.size)), axis=1))
    return interval(gaps)


def distances(forum: Forum, account_synthetic: np.ndarray, post_synthetic: np.ndarray,
              posts: FeatureTable | None = None) -> dict[str, dict[str, Any] | None]:
    """Kolmogorov-Smirnov distance between bots and people on each of ``MEASURES`` that the data holds."""
    per_account = np.bincount(forum.post_account, minlength=forum.n_accounts).astype(np.float64)
    order = np.lexsort((forum.post_time, forum.post_account))
    same = forum.post_account[order][1:] == forum.post_account[order][:-1]
    gaps = np.diff(forum.post_time[order])[same]
    gap_bot = post_synthetic[order][1:][same]
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "posts_per_account": (per_account[account_synthetic], per_account[~account_synthetic]),
        "inter_post_gap": (gaps[gap_bot], gaps[~gap_bot]),
        "hour_of_day": (_hours(forum.post_time)[post_synthetic], _hours(forum.post_time)[~post_synthetic]),
    }
    if forum.has_threads:
        latency = reply_latency(forum)
        values["reply_latency"] = (latency[post_synthetic], latency[~post_synthetic])
    if forum.has_text:
        length = np.array([len(_words(body)) for body in forum.post_body], dtype=np.float64)
        values["post_length"] = (length[post_synthetic], length[~post_synthetic])
    if posts is not None and "answer_fit" in posts.names:
        fit = posts.column("answer_fit")
        values["answer_fit"] = (fit[post_synthetic], fit[~post_synthetic])
    return {measure: ks_distance(*values[measure]) if measure in values else None for measure in MEASURES}
