"""Coordination detection on a scripted forum: people posting on their own, one hot post that draws a burst of
them at once, and a campaign whose amplifiers answer its drivers within two minutes and share its link."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from detection.coordination import NoCampaigns, co_reply, evaluate, normal_url
from detection.dataset import Dataset, Forum, Truth

HOUR = 3600.0
WORDS = ("grind", "roast", "water", "kettle", "filter", "crema", "bean", "ratio", "brew", "milk", "steam", "scale",
         "timer", "burr", "tamp", "dose", "press", "pour", "bloom", "drip", "cup", "mug", "aroma", "acid", "body")
DRIVERS, AMPLIFIERS = ("d1", "d2"), ("a1", "a2", "a3", "a4")
BURST = tuple(f"p{n}" for n in range(8))


def _text(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" {rng.randrange(10**6)}"


def _forum(seed: int = 3, campaign: bool = True) -> Dataset:
    rng = random.Random(seed)
    people = [f"p{n}" for n in range(30)]
    posts: list[dict] = []

    def post(account: str, thread: int, at: float, body: str, parent: int = -1, campaign_id: str = "") -> int:
        posts.append({"account": account, "thread": thread, "at": at, "body": body, "parent": parent,
                      "campaign": campaign_id})
        return len(posts) - 1

    openings = []
    for thread in range(20):  # people on their own: a thread a few hours apart, replies hours after
        opened = thread * 6 * HOUR
        openings.append(post(rng.choice(people), thread, opened, _text(rng)))
        at = opened
        for _ in range(rng.randint(2, 6)):
            at += rng.expovariate(1 / (3 * HOUR))
            post(rng.choice(people), thread, at, _text(rng), rng.choice([-1, openings[-1]]))
    hot = openings[7]  # one hot post: eight people answer it within ten minutes, once
    for n, person in enumerate(BURST):
        post(person, 7, posts[hot]["at"] + 60 + n * 70, _text(rng), hot)
    if campaign:
        for wave in range(6):  # six driver posts, each answered by every amplifier 120 s +- 30 s later
            thread = 2 + 3 * wave
            at = posts[openings[thread]]["at"] + 2 * HOUR
            link = "https://www.example.org/pods/?utm_source=c1"
            driver = post(DRIVERS[wave % 2], thread, at, f"{_text(rng)} see {link}", -1, "c1")
            for amplifier in AMPLIFIERS:
                post(amplifier, thread, at + 120 + rng.uniform(-30, 30), f"{_text(rng)} {link}", driver, "c1")
    accounts = sorted({p["account"] for p in posts})
    members = set(DRIVERS + AMPLIFIERS)
    forum = Forum(account_ids=tuple(accounts), thread_ids=tuple(str(t) for t in range(20)),
                  thread_titles=tuple(f"thread {t}" for t in range(20)), post_ids=tuple(str(i) for i in range(len(posts))),
                  post_account=np.array([accounts.index(p["account"]) for p in posts]),
                  post_thread=np.array([p["thread"] for p in posts]), post_parent=np.array([p["parent"] for p in posts]),
                  post_time=np.array([p["at"] for p in posts]), post_body=tuple(p["body"] for p in posts))
    info = tuple({"campaign_id": "c1", "role": "driver" if a in DRIVERS else "amplifier"} if a in members else {}
                 for a in accounts)
    truth = Truth(np.array([a in members for a in accounts]), np.array([p["account"] in members for p in posts]),
                  info, tuple(p["campaign"] for p in posts))
    return Dataset(Path("scripted"), forum, truth, None, tuple("" for _ in accounts), tuple("" for _ in posts))


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
