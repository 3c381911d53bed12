"""Signals: each family measures what it claims, on hand-made cases and on the groups of the test forum
that have one known property each; and nothing a platform would not see reaches a feature."""

from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest

from detection.dataset import Forum, load_dataset
from detection.features import (
    _gap_stats,
    account_features,
    co_activity,
    embed_forum,
    neighbour_hits,
    post_signals,
    reply_latency,
)


def forum(accounts, threads, times, parents=None, bodies=None) -> Forum:
    n = len(accounts)
    return Forum(
        account_ids=tuple(str(a) for a in sorted(set(accounts))),
        thread_ids=tuple(str(t) for t in sorted(set(threads))),
        thread_titles=tuple("" for _ in set(threads)),
        post_ids=tuple(str(i) for i in range(n)),
        post_account=np.array(accounts),
        post_thread=np.array(threads),
        post_parent=np.array(parents if parents is not None else [-1] * n),
        post_time=np.array(times, dtype=float),
        post_body=tuple(bodies or [""] * n),
        has_text=bodies is not None,
    )


def test_gap_statistics_on_known_sequences():
    median_log, burstiness, variation, regularity = _gap_stats(np.arange(6) * 600.0)
    assert (burstiness, variation, regularity) == (-1.0, 0.0, 1.0)
    assert median_log == pytest.approx(math.log10(601))
    bursty = _gap_stats(np.cumsum([0, 60, 3600, 5, 86_400, 600, 20, 40_000.0]))
    assert bursty[1] > 0.2 and bursty[2] > 1.0 and bursty[3] < 0.2  # Poisson: 0 and 1; these are burstier
    assert all(math.isnan(v) for v in _gap_stats(np.array([5.0])))
    assert math.isnan(_gap_stats(np.array([0.0, 60.0]))[1])  # one gap says nothing about regularity


def test_reply_latency_uses_the_parent_else_the_previous_post_in_the_thread():
    f = forum(accounts=[0, 1, 2, 0], threads=[0, 0, 0, 1], times=[0, 100, 1000, 50], parents=[-1, 0, 0, -1])
    latency = reply_latency(f)
    assert math.isnan(latency[0]) and latency[1] == 100 and latency[2] == 1000 and math.isnan(latency[3])
    no_parents = forum(accounts=[0, 1, 2], threads=[0, 0, 0], times=[0, 100, 1000])
    assert reply_latency(no_parents)[2] == 900


def test_co_activity_pairs_accounts_within_the_window_only():
    # thread 0: accounts 0 and 1 five minutes apart, account 2 an hour later; thread 1: 0 and 1 again
    f = forum(accounts=[0, 1, 2, 0, 1], threads=[0, 0, 0, 1, 1], times=[0, 300, 3900, 10_000, 10_100])
    edges, near = co_activity(f, np.arange(5), window_s=1800)
    assert dict(edges) == {(0, 1): {0, 1}}
    assert near[0] == {1} and 2 not in near
    table = account_features(post_signals(f, None, ["coordination"], window_s=1800))
    assert table.column("co_max_shared_log").tolist() == pytest.approx([math.log1p(2), math.log1p(2), 0.0])
    assert table.column("co_cluster_log").tolist() == pytest.approx([math.log1p(1), math.log1p(1), 0.0])
    wider = account_features(post_signals(f, None, ["coordination"], window_s=7200))
    assert wider.column("co_partners_log")[2] == pytest.approx(math.log1p(2))


def test_neighbour_hits_count_joined_threads_among_the_nearest():
    neighbours = np.array([[1, 2, 3], [0, 2, 3], [3, 1, 0], [2, 1, 0]])
    assert neighbour_hits([0, 1], neighbours).tolist() == [1.0, 1.0]
    assert neighbour_hits([0, 3], neighbours).tolist() == [0.0, 0.0]
    assert math.isnan(neighbour_hits([2], neighbours)[0])


def test_regular_timing_shows_in_the_timing_signals(computed):
    table, rows = computed.accounts, computed.rows
    assert np.all(table.column("gap_burstiness")[rows["regular"]] == -1.0)
    assert np.all(table.column("gap_local_variation")[rows["regular"]] == 0.0)
    assert np.all(table.column("gap_regularity")[rows["regular"]] == 1.0)
    assert np.all(table.column("gap_regularity")[rows["jittered"]] < 1.0)  # the control: same schedule, jittered
    humans = table.column("gap_regularity")[rows["human"]]
    assert np.mean(humans[np.isfinite(humans)] < 1.0) > 0.9


def test_near_duplicates_across_accounts_show_in_the_text_signals(computed):
    table, rows = computed.accounts, computed.rows
    assert np.all(table.column("near_duplicate_share")[rows["duplicate"]] >= 0.8)
    assert np.all(table.column("cross_sim_max_mean")[rows["duplicate"]] > 0.9)
    assert np.mean(table.column("near_duplicate_share")[rows["human"]] == 0) > 0.95
    for control in ("regular", "coordinated", "focused"):  # real human text, one use each: no duplicates
        assert np.all(table.column("near_duplicate_share")[rows[control]] == 0)
    posts = computed.signals.posts
    assert np.all(posts.column("cross_sim_max")[np.isin(computed.dataset.forum.post_account, rows["duplicate"])] > 0.85)


def test_squads_in_the_same_threads_within_minutes_show_in_the_coordination_signals(computed):
    table, rows = computed.accounts, computed.rows
    assert table.column("co_max_shared_log")[rows["coordinated"]] == pytest.approx(math.log1p(6))  # all six threads
    assert table.column("co_cluster_log")[rows["coordinated"]] == pytest.approx(math.log1p(3))  # a squad of four
    assert np.all(table.column("co_thread_share")[rows["coordinated"]] == 1.0)
    assert np.all(table.column("co_cluster_log")[rows["regular"]] == 0)  # random threads: no partner twice
    assert np.mean(table.column("co_cluster_log")[rows["human"]] == 0) > 0.95


def test_joins_that_track_one_interest_show_in_the_relevance_signals(computed):
    table, rows = computed.accounts, computed.rows
    focused = table.column("neighbour_share")[rows["focused"]]
    humans = table.column("neighbour_share")[rows["human"]]
    humans = humans[np.isfinite(humans)]  # people with posts in two threads or more
    assert humans.size >= 20
    assert np.median(focused) > 0.25 and np.median(focused) > np.percentile(humans, 75) + 0.2
    scattered = table.column("neighbour_share")[np.r_[rows["regular"], rows["jittered"]]]  # random threads
    assert np.median(focused) > np.median(scattered) + 0.2


def test_first_k_posts_limit_what_an_account_feature_sees(computed):
    one = account_features(computed.signals, 1)
    assert np.all(one.column("posts_log") == 0) and np.all(np.isnan(one.column("gap_median_log")))
    two = account_features(computed.signals, 2)
    assert two.column("co_max_shared_log")[computed.rows["coordinated"]].max() <= math.log1p(2)
    assert one.names == computed.accounts.names


def test_nothing_but_the_platform_view_reaches_a_feature(computed, dataset_dir, tmp_path, embedder):
    """Flip every label, rename every handle and site: every feature stays the same to the bit."""
    folder = tmp_path / "disguised"
    shutil.copytree(dataset_dir, folder)
    (folder / "manifest.json").unlink()
    for name, change in (("labels.csv", {"synthetic": lambda v: "0" if v == "1" else "1", "persona": lambda v: "x"}),
                         ("accounts.csv", {"handle": lambda v: "h" + v[::-1], "site": lambda v: "elsewhere"}),
                         ("posts.csv", {"site": lambda v: "elsewhere"}), ("threads.csv", {"site": lambda v: "elsewhere"})):
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            for column, fn in change.items():
                row[column] = fn(row[column])
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (folder / "post_labels.csv").unlink()
    disguised = load_dataset(folder)
    assert disguised.truth.account_synthetic.sum() != computed.dataset.truth.account_synthetic.sum()
    signals = post_signals(disguised.forum, embed_forum(disguised.forum, embedder))
    assert np.array_equal(signals.posts.values, computed.signals.posts.values, equal_nan=True)
    assert np.array_equal(account_features(signals).values, computed.accounts.values, equal_nan=True)


def test_replies_that_answer_another_post_show_in_answer_fit(embedder):
    """People's threads of the shipped corpus, where every fifth thread's replies are moved to the next thread of
    the same site: the moved replies answer another post, and the answer-fit signal, learned from the forum's own
    pairs with no labels, scores them below the replies that stayed."""
    from detection.features import answer_fit, answered_posts
    from tests.conftest import corpus_split

    threads = [t for t in corpus_split()[0] if len(t["posts"]) >= 3][:240]
    by_site: dict[str, list[int]] = {}
    for n, thread in enumerate(threads):
        by_site.setdefault(thread["site"], []).append(n)
    moved_from = {}
    for rows in by_site.values():
        for k, n in enumerate(rows):
            if k % 5 == 0:
                moved_from[n] = rows[(k + 1) % len(rows)]
    accounts, thread_of, parents, times, bodies, moved = [], [], [], [], [], []
    for n, thread in enumerate(threads):
        opening = len(bodies)
        replies = threads[moved_from[n]]["posts"][1:] if n in moved_from else thread["posts"][1:]
        for k, body in enumerate([thread["posts"][0]["body"]] + [p["body"] for p in replies]):
            accounts.append(len(accounts) % 97)
            thread_of.append(n)
            parents.append(-1 if k == 0 else opening)
            times.append(n * 1000.0 + k)
            bodies.append(body)
            moved.append(k > 0 and n in moved_from)
    made = Forum(account_ids=tuple(str(a) for a in range(97)), thread_ids=tuple(str(n) for n in range(len(threads))),
                 thread_titles=tuple(t["title"] for t in threads), post_ids=tuple(str(i) for i in range(len(bodies))),
                 post_account=np.array(accounts), post_thread=np.array(thread_of), post_parent=np.array(parents),
                 post_time=np.array(times), post_body=tuple(bodies))
    fits = answer_fit(made, embed_forum(made, embedder))
    moved = np.array(moved)
    opening = answered_posts(made) < 0
    assert np.isnan(fits[opening]).all() and opening.sum() == len(threads)
    stayed = fits[~moved & ~opening]
    assert np.isfinite(stayed).mean() > 0.95
    print(f"\nanswer fit: replies in their own thread median {np.nanmedian(stayed):.3f}, moved {np.nanmedian(fits[moved]):.3f}")
    assert np.nanmedian(stayed) > np.nanmedian(fits[moved]) + 0.15
