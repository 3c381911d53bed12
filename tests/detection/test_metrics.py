"""The metric code against scikit-learn on known inputs (ties, tiny and lopsided sets included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk

from detection.metrics import (
    average_precision,
    bootstrap_samples,
    evaluate,
    interval,
    pr_curve,
    rates_at,
    roc_auc,
    roc_curve,
    threshold_at_fpr,
)

CASES = [
    ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),  # sklearn's documented example: AUC 0.75
    ([0, 1, 0, 1, 1, 0, 0], [0.5, 0.5, 0.5, 0.9, 0.2, 0.2, 0.1]),  # ties across classes
    ([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], list(range(10))),  # one positive, ranked last
    ([0, 1] * 50, np.random.default_rng(3).normal(size=100)),
    (list(np.random.default_rng(4).random(300) < 0.1), np.random.default_rng(5).integers(0, 5, 300)),  # heavy ties
]


@pytest.mark.parametrize("labels, scores", CASES)
def test_areas_match_scikit_learn(labels, scores):
    assert roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(sk.average_precision_score(labels, scores), abs=1e-12)
    out = evaluate(labels, scores, {0.01: 0.0, 0.05: 0.0})
    assert out["roc_auc"] == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)
    assert out["pr_auc"] == pytest.approx(sk.average_precision_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("labels, scores", CASES)
def test_curves_match_scikit_learn(labels, scores):
    fpr, tpr, thresholds = roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thresholds = sk.roc_curve(labels, scores, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)
    assert np.array_equal(thresholds[1:], sk_thresholds[1:])
    precision, recall, pr_thresholds = pr_curve(labels, scores)
    sk_precision, sk_recall, sk_pr_thresholds = sk.precision_recall_curve(labels, scores)
    # scikit-learn lists thresholds rising and appends (precision 1, recall 0); ours run highest first
    assert np.allclose(precision, sk_precision[:-1][::-1]) and np.allclose(recall, sk_recall[:-1][::-1])
    assert np.array_equal(pr_thresholds, sk_pr_thresholds[::-1])


def test_rates_and_f1_match_scikit_learn_at_a_threshold():
    rng = np.random.default_rng(8)
    labels = rng.random(200) < 0.3
    scores = labels * 0.8 + rng.normal(size=200)
    for threshold in (-0.5, 0.3, 1.1):
        flagged = scores > threshold
        rates = rates_at(labels, scores, threshold)
        assert rates["tpr"] == pytest.approx(sk.recall_score(labels, flagged))
        assert rates["precision"] == pytest.approx(sk.precision_score(labels, flagged))
        assert rates["f1"] == pytest.approx(sk.f1_score(labels, flagged))
        tn, fp, _, _ = sk.confusion_matrix(labels, flagged).ravel()
        assert rates["fpr"] == pytest.approx(fp / (fp + tn))


def test_threshold_is_set_on_human_scores_only_and_never_exceeds_its_rate():
    humans = np.arange(200, dtype=float)  # 0..199
    assert threshold_at_fpr(humans, 0.05) == 189.0  # ten humans (190..199) lie above it: 5%
    assert threshold_at_fpr(humans, 0.01) == 197.0
    assert threshold_at_fpr(humans[:20], 0.01) == 19.0  # too few humans for 1%: nobody may be flagged
    rng = np.random.default_rng(1)
    for n in (7, 50, 333):
        h = rng.normal(size=n)
        for level in (0.01, 0.05, 0.2):
            assert np.mean(h > threshold_at_fpr(h, level)) <= level
    with pytest.raises(ValueError):
        threshold_at_fpr([], 0.01)


def test_undefined_areas_are_nan_not_a_number_made_up():
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_bootstrap_keeps_both_classes_and_whole_accounts():
    rng = np.random.default_rng(0)
    labels = np.array([1, 1, 0, 0, 0, 0])
    for sample in bootstrap_samples(rng, labels, 50):
        assert labels[sample].sum() == 2 and len(sample) == 6
    # posts of accounts 0..3; account 0 and 1 synthetic
    accounts = np.array([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])
    post_labels = np.isin(accounts, [0, 1])
    for sample in bootstrap_samples(rng, post_labels, 50, clusters=accounts):
        drawn = accounts[sample]
        for account in np.unique(drawn):  # an account comes with all its posts, as often as it was drawn
            assert np.sum(drawn == account) % np.sum(accounts == account) == 0
        assert len(set(drawn[post_labels[sample]])) >= 1 and (~post_labels[sample]).any()
    assert interval([0.1, 0.2, float("nan"), 0.3], 0.5) == pytest.approx([0.15, 0.25])
