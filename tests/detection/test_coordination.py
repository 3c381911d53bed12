"""Coordination detection on a scripted forum (tests/detection/campaign_forum.py): people posting on their own, one
hot post that draws a burst of them at once, and a campaign whose amplifiers answer its drivers within two minutes
and share its link."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from detection.coordination import NoCampaigns, co_reply, co_stance, evaluate, normal_url
from detection.errors import DatasetError
from tests.detection.campaign_forum import AMPLIFIERS, BURST, DRIVERS
from tests.detection.campaign_forum import scripted_forum as _forum
from tests.detection.campaign_forum import scripted_sides as _sides


def test_the_campaign_is_one_cluster_and_the_peoples_burst_is_not_flagged():
    dataset = _forum()
    result, figures = evaluate(dataset, window_s=600, seed=1)
    names = dataset.forum.account_ids
    clusters = [{names[a] for a in c} for c in result.clusters]
    assert set(DRIVERS + AMPLIFIERS) in clusters or any(set(AMPLIFIERS) <= c <= set(DRIVERS + AMPLIFIERS)
                                                        for c in clusters)
    assert figures.roc_auc >= 0.9 and figures.ami >= 0.7 and figures.weighted_precision == 1.0
    assert figures.recall_at_fpr >= 0.5
    assert figures.burst_people >= len(BURST) and figures.burst_fpr == 0.0, "one burst is no campaign"
    assert not any(set(BURST) & c for c in clusters)


def test_co_replies_count_once_per_post_answered_and_links_are_compared_normalised():
    dataset = _forum()
    names = dataset.forum.account_ids
    pairs = co_reply(dataset.forum, 600)
    a1, a2 = names.index("a1"), names.index("a2")
    assert pairs[(min(a1, a2), max(a1, a2))] == 6  # six driver posts answered together
    p0, p1 = names.index("p0"), names.index("p1")
    assert pairs[(min(p0, p1), max(p0, p1))] >= 1
    assert normal_url("https://WWW.Example.org/pods/?utm_source=c1&id=3") == "example.org/pods?id=3"


def test_scoring_a_forum_without_campaigns_is_refused_with_the_fix():
    with pytest.raises(NoCampaigns, match="--campaign"):
        evaluate(_forum(campaign=False))


def test_the_toolkit_reads_the_export_and_finds_the_same_campaign(tmp_path):
    pytest.importorskip("coordination_network_toolkit")
    from detection.toolkit import toolkit_network

    dataset = _forum()
    events = toolkit_network(dataset, tmp_path, window_s=600)
    with sqlite3.connect(tmp_path / "toolkit.db") as db:
        assert db.execute("SELECT count(*) FROM edge").fetchone()[0] == dataset.forum.n_posts
    names = dataset.forum.account_ids
    a1, a3 = names.index("a1"), names.index("a3")
    assert events[(min(a1, a3), max(a1, a3))] >= 6  # co-reply and co-link, by its own counting
    with sqlite3.connect(tmp_path / "toolkit.db") as db:
        links = db.execute("SELECT user_1, user_2 FROM co_link_network WHERE user_1 != user_2").fetchall()
    campaign = set(DRIVERS + AMPLIFIERS)
    assert links and all({a, b} <= campaign for a, b in links), "only the campaign shares a link; no link is no tie"


def test_the_campaign_is_flagged_before_its_last_post_and_the_forum_is_cut_at_each_moment():
    from detection.coordination import prefix, time_to_detection

    dataset = _forum()
    cut = prefix(dataset, float(np.median(dataset.forum.post_time)))
    assert cut.n_posts < dataset.forum.n_posts and (cut.post_parent < cut.n_posts).all()
    assert all(cut.post_ids[p] == dataset.forum.post_ids[int(cut.post_ids[p])] for p in range(cut.n_posts))
    found = time_to_detection(dataset, "c1", window_s=600, seed=1)
    assert found.of_posts == 30 and found.posts is not None and found.posts <= 10, "within its first two waves"
    assert found.hours is not None and 0 < found.hours < 7  # the second wave comes 6 h after the first


def test_co_stance_finds_a_one_shot_campaign_that_co_replies_alone_cannot():
    dataset = _forum(waves=1, link=False)  # one driver post, four amplifiers once each: one co-event per pair
    sides = _sides(dataset)
    names = dataset.forum.account_ids
    ties = co_stance(dataset.forum, sides, 600)
    members = {names.index(a) for a in ("d1", *AMPLIFIERS)}
    assert ties and all(set(pair) <= members for pair in ties), "only the campaign took one side together"
    assert len(ties) == 10, "five accounts on one side in one thread: every pair once"
    _, alone = evaluate(dataset, window_s=600, seed=1)
    _, with_stance = evaluate(dataset, window_s=600, seed=1, sides=sides)
    assert alone.clusters == 0, "one co-reply per pair is what a people's burst looks like too"
    assert with_stance.ami >= 0.7 and with_stance.weighted_precision == 1.0 and with_stance.burst_fpr == 0.0
    with pytest.raises(DatasetError, match="one side per post"):
        co_stance(dataset.forum, sides[:-1], 600)
