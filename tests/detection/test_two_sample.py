"""Two-sample tests and distances: chance where the populations are alike, near certainty where they differ."""

from __future__ import annotations

import numpy as np
import pytest

from detection.dataset import Forum
from detection.features import FeatureTable
from detection.two_sample import (MEASURES, classifier_test, distances, ks_distance, median_gap_interval,
                                   two_sample_tests, wilson)


def test_wilson_interval_matches_known_values():
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson(10, 10)[1] == pytest.approx(1.0) and wilson(10, 10)[0] == pytest.approx(0.7225, abs=1e-3)


def test_classifier_test_is_chance_on_alike_populations_and_near_one_on_different_ones():
    rng = np.random.default_rng(3)
    synthetic = np.arange(200) < 40
    alike = rng.normal(size=(200, 3))
    result = classifier_test(alike, synthetic, seed=1)
    assert result["per_class"] == 40 and result["n"] == 80  # balanced: as many people as bots
    assert result["ci"][0] < 0.5 and 0.35 < result["accuracy"] < 0.65
    apart = alike.copy()
    apart[synthetic, 0] += 6.0
    separated = classifier_test(apart, synthetic, seed=1)
    assert separated["accuracy"] >= 0.95 and separated["ci"][0] > 0.85
    # with NaN columns (a feature undefined for some accounts) it still runs
    apart[::3, 1] = np.nan
    assert classifier_test(apart, synthetic, seed=1)["accuracy"] >= 0.95
    assert classifier_test(alike, np.arange(200) < 3) is None  # too few bots to test


def test_two_sample_tests_are_per_family():
    rng = np.random.default_rng(0)
    synthetic = np.arange(120) < 30
    values = rng.normal(size=(120, 2))
    values[synthetic, 1] += 5
    table = FeatureTable(("a", "b"), ("timing", "text"), values)
    tests = two_sample_tests(table, synthetic, ("timing", "text"))
    assert tests["text"]["accuracy"] > 0.9 > tests["timing"]["accuracy"]


def _forum(times, accounts, bodies):
    n = len(times)
    return Forum(account_ids=tuple(str(a) for a in sorted(set(accounts))), thread_ids=("t",), thread_titles=("T",),
                 post_ids=tuple(str(i) for i in range(n)), post_account=np.asarray(accounts),
                 post_thread=np.zeros(n, int), post_parent=np.full(n, -1), post_time=np.asarray(times, float),
                 post_body=tuple(bodies))


def test_distances_measure_each_quantity_bots_against_people():
    # account 0 (a bot) posts 6 times, each a minute apart, at night, in two words; people 1..6 post once each,
    # hours apart, at noon, at length
    times = [3600 * 2 + 60 * i for i in range(6)] + [43200 + 7200 * i for i in range(6)]
    accounts = [0] * 6 + [1, 2, 3, 4, 5, 6]
    bodies = ["two words"] * 6 + [" ".join(["word"] * 40)] * 6
    synthetic_accounts = np.array([True] + [False] * 6)
    synthetic_posts = np.array([True] * 6 + [False] * 6)
    found = distances(_forum(sorted(times), accounts, bodies), synthetic_accounts, synthetic_posts)
    assert set(found) == set(MEASURES)
    assert found["post_length"]["ks"] == 1.0 and found["hour_of_day"]["ks"] == 1.0
    assert found["posts_per_account"] is None  # one bot account: no distribution to compare
    assert found["answer_fit"] is None  # no post features given
    same = distances(_forum(sorted(times), accounts, ["same words here"] * 12), synthetic_accounts, synthetic_posts)
    assert same["post_length"]["ks"] == 0.0


def test_the_gap_between_two_medians_comes_with_an_interval_that_covers_the_true_gap():
    rng = np.random.default_rng(4)
    people = rng.normal(0.75, 0.15, 900)
    alike, above = rng.normal(0.75, 0.15, 40), rng.normal(0.95, 0.15, 40)
    low, high = median_gap_interval(alike, people)
    assert low < 0 < high and high - low < 0.2  # forty posts: a gap of a few hundredths is chance alone
    low, high = median_gap_interval(above, people)
    assert 0 < low < 0.2 < high
    assert median_gap_interval(above, people) == [low, high]  # seeded
    assert ks_distance(above, people)["median_gap_ci"] == [low, high]
