"""Detectors behind one small protocol: fit on a training split, then score accounts and posts.

Higher scores mean "more likely synthetic". Each detector has an account
model (over account features) and a post model (over post features); both
are fit on the training accounts only, and on their posts.

- ``timing``, ``text``, ``relevance``, ``coordination``: logistic regression
  over one family's features (each family alone);
- ``combined``: logistic regression over every family's features;
- ``boosted``: gradient-boosted trees over every family's features;
- ``baseline``: the single feature (and its direction) that best separates
  the training split: what any detector has to beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from detection.errors import UnknownDetector
from detection.features import FAMILIES, FeatureTable
from detection.metrics import roc_auc

FAMILY_DETECTORS = FAMILIES
COMBINED_DETECTORS = ("combined", "boosted", "baseline")
DETECTORS = (*FAMILY_DETECTORS, *COMBINED_DETECTORS)
CLIP = 5.0  # standardised features are clipped here, so one extreme account cannot dominate a linear model


@dataclass(frozen=True)
class TrainingSet:
    """The training split: its accounts and their posts, with labels (1 synthetic, 0 human)."""

    accounts: FeatureTable
    account_labels: np.ndarray
    posts: FeatureTable
    post_labels: np.ndarray


@runtime_checkable
class Detector(Protocol):
    name: str
    families: tuple[str, ...]

    def fit(self, train: TrainingSet) -> "Detector": ...

    def score_accounts(self, accounts: FeatureTable) -> np.ndarray: ...

    def score_posts(self, posts: FeatureTable) -> np.ndarray: ...


def _usable(values: np.ndarray) -> np.ndarray:
    """Columns with at least two distinct finite values in the training rows."""
    keep = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        keep.append(finite.size > 0 and finite.min() < finite.max())
    return np.array(keep, dtype=bool)


class _Level:
    """One model over the given families' columns of a feature table (accounts or posts)."""

    def __init__(self, families: Sequence[str], kind: str, seed: int) -> None:
        self.families, self.kind, self.seed = tuple(families), kind, seed
        self.columns: list[int] = []
        self.model = None
        self.names: tuple[str, ...] = ()

    def _matrix(self, table: FeatureTable) -> np.ndarray:
        return table.values[:, self.columns]

    def _prepare(self, values: np.ndarray) -> np.ndarray:
        filled = np.where(np.isfinite(values), values, self.median)
        return np.clip((filled - self.mean) / self.scale, -CLIP, CLIP)

    def fit(self, table: FeatureTable, labels: np.ndarray) -> "_Level":
        candidates = table.columns(self.families)
        usable = _usable(table.values[:, candidates]) if candidates else np.zeros(0, dtype=bool)
        self.columns = [c for c, ok in zip(candidates, usable) if ok]
        self.names = tuple(table.names[c] for c in self.columns)
        if not self.columns or len(np.unique(labels)) < 2:
            self.model = None  # nothing to learn from: every row scores the same
            return self
        values = self._matrix(table)
        if self.kind == "boosted":
            from sklearn.ensemble import HistGradientBoostingClassifier

            from threadpoolctl import threadpool_limits

            positives = int(labels.sum())
            model = HistGradientBoostingClassifier(
                max_iter=60, learning_rate=0.15, max_leaf_nodes=8, max_bins=32, l2_regularization=1.0,
                min_samples_leaf=max(2, min(20, positives // 3)), class_weight="balanced",
                early_stopping=False, random_state=self.seed,
            )
            with threadpool_limits(1):  # small data: OpenMP threads cost more than they bring (measured ~1.4x)
                self.model = model.fit(values, labels)
            return self
        from sklearn.linear_model import LogisticRegression

        self.median = np.array([np.median(c[np.isfinite(c)]) for c in values.T])
        filled = np.where(np.isfinite(values), values, self.median)
        self.mean = filled.mean(axis=0)
        self.scale = np.where(filled.std(axis=0) > 0, filled.std(axis=0), 1.0)
        self.model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000).fit(self._prepare(values), labels)
        return self

    def score(self, table: FeatureTable) -> np.ndarray:
        if self.model is None:
            return np.zeros(len(table.values))
        values = self._matrix(table)
        if self.kind == "boosted":
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1):
                return self.model.predict_proba(values)[:, 1]
        return self.model.decision_function(self._prepare(values))


@dataclass
class ModelDetector:
    """A learned detector: logistic regression ("linear") or boosted trees ("boosted") over some families."""

    name: str
    families: tuple[str, ...]
    kind: str = "linear"
    seed: int = 0
    _accounts: _Level | None = field(default=None, repr=False)
    _posts: _Level | None = field(default=None, repr=False)

    def fit(self, train: TrainingSet) -> "ModelDetector":
        self._accounts = _Level(self.families, self.kind, self.seed).fit(train.accounts, train.account_labels)
        self._posts = _Level(self.families, self.kind, self.seed).fit(train.posts, train.post_labels)
        return self

    def score_accounts(self, accounts: FeatureTable) -> np.ndarray:
        return self._accounts.score(accounts)

    def score_posts(self, posts: FeatureTable) -> np.ndarray:
        return self._posts.score(posts)


@dataclass(frozen=True)
class Choice:
    """The single feature a baseline picked, its direction, and how well it separated the training split."""

    name: str
    family: str
    sign: float
    median: float
    train_auc: float


def best_feature(table: FeatureTable, labels: np.ndarray, families: Sequence[str]) -> Choice | None:
    """The feature (either direction) with the highest training ROC-AUC; ties go to the earlier column."""
    best: Choice | None = None
    for c in table.columns(families):
        column = table.values[:, c]
        finite = column[np.isfinite(column)]
        if finite.size == 0:
            continue
        median = float(np.median(finite))
        auc = roc_auc(labels, np.where(np.isfinite(column), column, median))
        sign = 1.0 if auc >= 0.5 else -1.0
        oriented = max(auc, 1.0 - auc)
        if best is None or oriented > best.train_auc:
            best = Choice(table.names[c], table.families[c], sign, median, oriented)
    return best


def _apply(choice: Choice | None, table: FeatureTable) -> np.ndarray:
    if choice is None:
        return np.zeros(len(table.values))
    column = table.column(choice.name)
    return choice.sign * np.where(np.isfinite(column), column, choice.median)


@dataclass
class BestFeatureDetector:
    """The trivial baseline: the best single feature, chosen on the training split (accounts and posts apart)."""

    name: str = "baseline"
    families: tuple[str, ...] = FAMILIES
    account_choice: Choice | None = None
    post_choice: Choice | None = None

    def fit(self, train: TrainingSet) -> "BestFeatureDetector":
        self.account_choice = best_feature(train.accounts, train.account_labels, self.families)
        self.post_choice = best_feature(train.posts, train.post_labels, self.families)
        return self

    def score_accounts(self, accounts: FeatureTable) -> np.ndarray:
        return _apply(self.account_choice, accounts)

    def score_posts(self, posts: FeatureTable) -> np.ndarray:
        return _apply(self.post_choice, posts)


def make_detector(name: str, families: Sequence[str], seed: int = 0) -> Detector:
    """A fresh detector by name; ``families`` are those measurable on the dataset."""
    families = tuple(families)
    if name in FAMILY_DETECTORS:
        return ModelDetector(name, (name,), "linear", seed)
    if name == "combined":
        return ModelDetector(name, families, "linear", seed)
    if name == "boosted":
        return ModelDetector(name, families, "boosted", seed)
    if name == "baseline":
        return BestFeatureDetector(name, families)
    raise UnknownDetector(f"--detectors: no detector {name!r}; choose from {', '.join(DETECTORS)}")


def leave_one_out(family: str, families: Sequence[str], seed: int = 0) -> ModelDetector:
    """The combined detector without one family: what that family adds."""
    return ModelDetector(f"combined without {family}", tuple(f for f in families if f != family), "linear", seed)
