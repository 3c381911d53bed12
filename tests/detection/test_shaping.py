"""The shaping effect on a scripted forum: a campaign that moved its threads says so, one that did not says that."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detection.dataset import Dataset, Forum, Truth
from detection.errors import DatasetError
from detection.shaping import shaping_effect

HOUR = 3600.0


def _forum(moved: bool, threads: int = 12) -> Dataset:
    """``threads`` threads of one site; the campaign posts in the first half at hour 10. After that, in its threads the
    others' posts take its side three times in four if ``moved``, once in four otherwise, as in the controls."""
    posts: list[tuple[int, int, float, str, str]] = []  # account, thread, time, body, campaign
    for thread in range(threads):
        posts.append((thread, thread, thread * 0.1 * HOUR, f"opening {thread}", ""))
        for n in range(8):  # before: one in four on the side, everywhere
            posts.append((20 + n, thread, (2 + n * 0.5) * HOUR + thread, "PRO before" if n % 4 == 0 else "con", ""))
        if thread < threads // 2:
            posts.append((50, thread, 10 * HOUR, "PRO campaign", "c1"))
        for n in range(8):
            on_side = (n % 4 != 0) if moved and thread < threads // 2 else n % 4 == 0
            posts.append((30 + n, thread, (11 + n * 0.5) * HOUR, "PRO after" if on_side else "con", ""))
    accounts = sorted({p[0] for p in posts})
    forum = Forum(account_ids=tuple(map(str, accounts)), thread_ids=tuple(map(str, range(threads))),
                  thread_titles=tuple(f"t{i}" for i in range(threads)), post_ids=tuple(str(i) for i in range(len(posts))),
                  post_account=np.array([accounts.index(p[0]) for p in posts]),
                  post_thread=np.array([p[1] for p in posts]),
                  post_parent=np.full(len(posts), -1),
                  post_time=np.array([p[2] for p in posts], dtype=np.float64), post_body=tuple(p[3] for p in posts))
    synthetic = np.array([a == 50 for a in accounts])
    truth = Truth(synthetic, np.array([p[0] == 50 for p in posts]),
                  tuple({"campaign_id": "c1", "role": "driver"} if a == 50 else {} for a in accounts),
                  tuple(p[4] for p in posts))
    return Dataset(Path("scripted"), forum, truth, None, tuple("" for _ in accounts), tuple("coffee" for _ in posts))


def _sides(texts):
    return ["pro" if "PRO" in text else "con" for text in texts]


def test_a_campaign_that_moved_its_threads_shows_an_effect_with_its_interval_above_zero():
    moved = shaping_effect(_forum(moved=True), "c1", "pro", _sides, seed=1)
    assert moved.pairs == 6 and moved.campaign_posts == 6
    assert moved.target_before == moved.control_before == pytest.approx(2 / 9)  # the opening post takes no side
    assert moved.target_after == pytest.approx(0.75)
    assert moved.control_after == pytest.approx(0.25)
    assert moved.effect == pytest.approx(0.5) and moved.interval[0] > 0
    assert "it shaped the conversation" in "\n".join(moved.lines())


def test_a_campaign_that_moved_nothing_says_so():
    still = shaping_effect(_forum(moved=False), "c1", "pro", _sides, seed=1)
    assert still.effect == pytest.approx(0.0) and still.interval[0] <= 0 <= still.interval[1]
    assert "no shaping detected" in "\n".join(still.lines())


def test_too_few_target_threads_give_no_verdict_however_narrow_the_interval():
    few = shaping_effect(_forum(moved=True, threads=6), "c1", "pro", _sides, seed=1)
    assert few.pairs == 3 and few.effect == pytest.approx(0.5)
    text = "\n".join(few.lines())
    assert "too few target threads to tell" in text and "it shaped" not in text


def test_a_campaign_with_no_posts_is_refused_with_the_fix():
    with pytest.raises(DatasetError, match="--campaign"):
        shaping_effect(_forum(moved=True), "c2", "pro", _sides)
