"""Every detector, fit on some accounts and scored on others: each family detector catches the group with
its property and not the groups without it; the baseline picks one feature on the training split only."""

from __future__ import annotations

import numpy as np
import pytest

from detection.detectors import (
    DETECTORS,
    BestFeatureDetector,
    Detector,
    TrainingSet,
    leave_one_out,
    make_detector,
)
from detection.errors import UnknownDetector
from detection.features import FAMILIES
from detection.metrics import roc_auc


def _fit(computed, name: str, groups: tuple[str, ...]):
    """Fit on half of the humans and half of each group's accounts; the other halves are held out."""
    rows, truth, forum = computed.rows, computed.dataset.truth, computed.dataset.forum
    fit = np.concatenate([rows["human"][0::2]] + [rows[g][0::2] for g in groups])
    test = np.concatenate([rows["human"][1::2]] + [rows[g][1::2] for g in groups])
    fit_posts = np.flatnonzero(np.isin(forum.post_account, fit))
    train = TrainingSet(computed.accounts.rows(fit), truth.account_synthetic[fit].astype(int),
                        computed.signals.posts.rows(fit_posts), truth.post_synthetic[fit_posts].astype(int))
    detector = make_detector(name, FAMILIES).fit(train) if isinstance(name, str) else name.fit(train)
    return detector, test


def _held_out(computed, detector, test):
    truth, forum = computed.dataset.truth, computed.dataset.forum
    scores = detector.score_accounts(computed.accounts)
    posts = np.flatnonzero(np.isin(forum.post_account, test))
    post_scores = detector.score_posts(computed.signals.posts)
    return (roc_auc(truth.account_synthetic[test], scores[test]),
            roc_auc(truth.post_synthetic[posts], post_scores[posts]), scores)


@pytest.mark.parametrize("name, group, controls", [
    ("timing", "regular", ("jittered", "duplicate", "coordinated")),  # jittered: same schedule and latency, not regular
    ("text", "duplicate", ("regular", "coordinated", "focused")),
    ("coordination", "coordinated", ("regular", "jittered", "duplicate")),
    ("relevance", "focused", ("regular", "jittered", "coordinated")),
])
def test_each_family_detector_catches_its_property_and_not_the_others(computed, name, group, controls):
    detector, test = _fit(computed, name, (group,))
    accounts_auc, posts_auc, scores = _held_out(computed, detector, test)
    assert accounts_auc >= 0.95, accounts_auc
    assert posts_auc >= 0.85, posts_auc
    held_out_group = computed.rows[group][1::2]
    for control in controls:  # never seen in training: they lack the property, so they score lower
        assert np.median(scores[held_out_group]) > np.percentile(scores[computed.rows[control]], 75), control


def test_combined_and_boosted_catch_every_group(computed):
    for name in ("combined", "boosted"):
        detector, test = _fit(computed, name, ("regular", "jittered", "duplicate", "coordinated", "focused"))
        accounts_auc, posts_auc, _ = _held_out(computed, detector, test)
        assert accounts_auc >= 0.95 and posts_auc >= 0.9, (name, accounts_auc, posts_auc)


def test_baseline_picks_one_feature_and_its_direction_on_the_training_split(computed):
    detector, test = _fit(computed, "baseline", ("regular",))
    assert isinstance(detector, BestFeatureDetector)
    choice = detector.account_choice
    assert choice.family == "timing" and choice.train_auc == 1.0
    column = computed.accounts.column(choice.name)
    expected = choice.sign * np.where(np.isfinite(column), column, choice.median)
    assert np.array_equal(detector.score_accounts(computed.accounts), expected)
    # the direction is learnt, not assumed (lower is synthetic for burstiness, higher for regularity)
    truth, fit = computed.dataset.truth, np.r_[computed.rows["human"][0::2], computed.rows["regular"][0::2]]
    oriented = expected[fit]
    assert oriented[truth.account_synthetic[fit]].min() > oriented[~truth.account_synthetic[fit]].max()
    assert detector.post_choice is not None and detector.post_choice.train_auc > 0.5


def test_leave_one_out_drops_exactly_one_family(computed):
    detector, test = _fit(computed, leave_one_out("coordination", FAMILIES), ("coordinated",))
    assert not any(computed.accounts.families[computed.accounts.names.index(n)] == "coordination"
                   for n in detector._accounts.names)
    with_it, _ = _fit(computed, "combined", ("coordinated",))
    assert any(n.startswith("co_") for n in with_it._accounts.names)


def test_every_registered_detector_follows_the_protocol(computed):
    for name in DETECTORS:
        detector = make_detector(name, FAMILIES)
        assert isinstance(detector, Detector)
        fitted, _ = _fit(computed, detector, ("regular", "duplicate"))
        assert fitted.score_accounts(computed.accounts).shape == (computed.dataset.forum.n_accounts,)
        assert fitted.score_posts(computed.signals.posts).shape == (computed.dataset.forum.n_posts,)
    with pytest.raises(UnknownDetector, match="no detector 'vibes'"):
        make_detector("vibes", FAMILIES)
