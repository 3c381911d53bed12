"""Decorations are counted on the text alone, the same way for bots and people: on posts with known rates."""

from __future__ import annotations

import pytest

from detection.decorations import DECORATIONS, decorations_of, rates, rates_by_site

BODY = "The grind is what moves the shot the most, so change it before the dose or the ratio"


def known_forum() -> tuple[list[str], dict[str, float]]:
    """100 posts: 20 signed, 10 ending in an emoji, 5 all lowercase, 30 with an opener, 15 with a closer,
    8 opening with a stance, 12 quoting; the rest plain, each decoration on its own posts."""
    posts = ([f"{BODY}.\n— Sofie"] * 20 + [f"{BODY}. ☕"] * 10 + [f"{BODY.lower()}."] * 5
             + [f"Short version: {BODY}."] * 30 + [f"{BODY}. Change one thing at a time."] * 15
             + [f"I disagree: {BODY}."] * 8 + [f"> what grind?\n\n{BODY}."] * 12)
    posts += [f"{BODY}."] * (100 - len(posts))
    return posts, {"sign_off": 0.20, "emoji": 0.10, "lowercase": 0.05, "opener": 0.30, "closer": 0.15,
                   "stance_lead": 0.08, "quote": 0.12}


def test_rates_on_a_forum_with_known_rates():
    posts, expected = known_forum()
    measured = rates(posts)
    assert measured.posts == 100
    assert measured.rates == pytest.approx(expected)
    assert set(measured.rates) == set(DECORATIONS)


@pytest.mark.parametrize(("text", "found"), [
    ("Try this: grind finer and keep the dose the same for a week.\n— Sofie", {"opener", "sign_off"}),
    ("In my experience, the grind matters more than the beans do here.", {"opener"}),
    ("Grind finer and keep the dose the same for a while. Change one thing at a time. ☕", {"closer", "emoji"}),
    ("Yes, exactly this: the hops are added for bitterness and aroma.", {"stance_lead"}),
    ("it depends on the roast and on how fresh the beans are", {"lowercase"}),
    ("The hops are added for bitterness, and the malt gives the sweetness.", set()),
    ("Regards, Jonathan Haack", set()),  # a one-line post is no sign-off under anything
])
def test_each_decoration_is_what_a_reader_sees(text, found):
    assert decorations_of(text) == found


def test_rates_per_site_and_the_gap_between_two_sides():
    posts, _ = known_forum()
    plain = [f"{BODY}."] * 100
    by_site = rates_by_site(posts + plain, ["coffee"] * 100 + ["beer"] * 100)
    assert by_site["beer"].rates["sign_off"] == 0 and by_site["coffee"].rates["sign_off"] == pytest.approx(0.2)
    assert by_site["all"].rates["sign_off"] == pytest.approx(0.1)
    assert by_site["coffee"].gap(by_site["beer"])["opener"] == pytest.approx(0.3)
