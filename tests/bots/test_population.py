"""Accounts shaped like the people's: budgets from the people's own posts per window, handles in their shapes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from bots.personas import CORPUS_PERSONAS, load_personas
from bots.settings import SwarmSettings
from bots.swarm.bots import make_bots
from bots.swarm.forum_view import SeenPost, ThreadState
from bots.swarm.policy import JoinPolicy
from bots.swarm.population import MIN_PEOPLE, Budget, Population, handle_shape

START = datetime(2020, 1, 1, tzinfo=timezone.utc)
PEOPLE = [f"user{n}" for n in range(100, 160)] + [f"Alice{n}" for n in range(20)] + ["cHao", "beer_5160", "Rory_Alsop"]


def people_posts(seed: int = 3) -> list[tuple[int, str, bool]]:
    """A heavy tail, as forums have: 80 people post once, 15 post a few times, 5 post every day of 30; one in four
    people opens a thread with their first post (an asker), the rest reply."""
    rng = random.Random(seed)
    posts = []
    for person in range(100):
        count = 1 if person < 80 else (rng.randint(2, 5) if person < 95 else 30)
        for k in range(count):
            moment = START + timedelta(days=k if count == 30 else rng.uniform(0, 30))
            posts.append((person, moment.isoformat(), k == 0 and person % 4 == 0))
    return posts


def test_budgets_follow_the_peoples_whole_distribution_with_its_tail():
    population = Population.of(people_posts(), PEOPLE, hours=24 * 30)  # one window: the whole month
    assert population.people == 100
    drawn = [population.budget(random.Random(f"b{i}")).posts for i in range(4000)]
    assert 0.75 <= np.mean(np.asarray(drawn) == 1) <= 0.85  # most post once
    assert max(drawn) == 30 and np.mean(np.asarray(drawn) >= 30) == pytest.approx(0.05, abs=0.015)  # a few, a lot


def test_openings_come_with_the_budget_from_the_same_persons_window():
    population = Population.of(people_posts(), PEOPLE, hours=24 * 30)
    drawn = [population.budget(random.Random(f"o{i}")) for i in range(4000)]
    assert all(0 <= b.openings <= b.posts for b in drawn)
    once = [b for b in drawn if b.posts == 1]  # the people who post once: one in four of them asked
    assert np.mean([b.openings for b in once]) == pytest.approx(0.25, abs=0.03)
    assert {b.openings for b in drawn if b.posts == 30} == {0, 1}  # one daily poster asked once; the rest reply
    assert Population.of(people_posts(), PEOPLE, hours=24 * 30).openings.tolist() == population.openings.tolist()


def test_a_bot_keeps_its_openings_for_threads_and_its_replies_for_replies():
    persona = load_personas(CORPUS_PERSONAS)[0]
    persona = persona.model_copy(update={"schedule": persona.schedule.model_copy(
        update={"active_hours": (0, 23), "timezone": "UTC"})})
    asker, answerer = make_bots([persona], 2, accounts=lambda i: (f"acct{i}", Budget(2, 1) if i == 0 else Budget(1, 0)))
    policy = JoinPolicy(SwarmSettings(population="people"), 0)
    noon = START.replace(hour=12)
    assert policy.can_post(answerer, noon, "open") == "open_budget"  # one who only replies opens nothing
    assert policy.can_post(answerer, noon) is None
    assert policy.can_post(asker, noon, "open") is None and policy.can_post(asker, noon) is None
    asker.count_post(noon, 1)  # a reply: the one it may make
    assert policy.can_post(asker, noon + timedelta(hours=2)) == "reply_budget"
    assert policy.can_post(asker, noon + timedelta(hours=2), "open") is None  # its thread is still to open
    asker.count_post(noon + timedelta(hours=2), 2)
    asker.opened += 1
    assert policy.can_post(asker, noon + timedelta(hours=4), "open") == "run_budget"
    unsplit = make_bots([persona], 1)[0]  # population: persona: no split, any post the schedule allows
    assert unsplit.may_open() and unsplit.may_reply()


def test_a_window_shorter_than_the_history_counts_posts_per_window():
    population = Population.of(people_posts(), PEOPLE, hours=24)
    assert population.budgets.max() <= 5  # the daily posters post about once a day, never 30 in one
    assert population.budgets.min() == 1


def test_the_same_seed_draws_the_same_accounts_and_no_handle_is_a_persons():
    population = Population.of(people_posts(), PEOPLE, hours=24 * 30)
    personas = load_personas(CORPUS_PERSONAS)

    def accounts(seed: int):
        used: set[str] = set()
        return make_bots(personas, 60, accounts=lambda i: (population.handle(random.Random(f"{seed}:{i}"), used),
                                                            population.budget(random.Random(f"{seed}:b{i}"))))

    first, again, other = accounts(0), accounts(0), accounts(1)
    assert [(b.name, b.budget, b.openings) for b in first] == [(b.name, b.budget, b.openings) for b in again]
    assert [b.name for b in first] != [b.name for b in other]
    names = [b.name for b in first]
    assert len(set(names)) == 60 and not {n.lower() for n in names} & {p.lower() for p in PEOPLE}
    assert not {n.lower() for n in names} & {p.name for p in personas}
    shapes = [handle_shape(n) for n in names]
    assert shapes.count("user_digits") > shapes.count("capital_digits") > 0  # as the people's: mostly userNNN


def test_too_few_people_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=f"at least {MIN_PEOPLE} people.*population: persona"):
        Population.of([(1, START.isoformat(), True)], ["someone"], hours=24)


def test_one_account_of_a_persona_per_thread_and_a_spent_budget_stops_a_bot():
    persona = load_personas(CORPUS_PERSONAS)[0]
    persona = persona.model_copy(update={"schedule": persona.schedule.model_copy(
        update={"active_hours": (0, 23), "timezone": "UTC"})})  # awake at noon
    settings = SwarmSettings(population="people", join_probability=1.0, max_bots_per_thread=5)
    bots = make_bots([persona], 2, accounts=lambda i: (f"acct{i}", Budget(1, 0)))
    policy = JoinPolicy(settings, 0, {b.name: b.persona.name for b in bots})
    first, second = bots
    first.account_id, second.account_id = 11, 12
    noon = START.replace(hour=12)
    thread = ThreadState(1, "a thread", [SeenPost(1, 99, "a question", START.isoformat())])
    assert policy.decide(first, thread, 1.0, noon, {11: "acct0", 12: "acct1"}).joined
    thread.posts.append(SeenPost(2, 11, "an answer", noon.isoformat()))
    first.count_post(noon, 1)
    assert policy.decide(second, thread, 1.0, noon, {11: "acct0", 12: "acct1"}).reason == "persona_in_thread"
    other = ThreadState(2, "another", [SeenPost(3, 99, "a question", START.isoformat())])
    assert policy.decide(first, other, 1.0, noon + timedelta(hours=1), {11: "acct0"}).reason == "run_budget"


def test_the_account_with_most_of_its_replies_left_answers_first():
    """A persona's accounts are asked in order of the share of their replies still to make, so the order the
    accounts were made in never decides whose budget is spent (a one-post account would otherwise lose each time)."""
    persona = load_personas(CORPUS_PERSONAS)[0]
    budgets = [Budget(40, 0), Budget(1, 0), Budget(4, 2), Budget(2, 0)]
    heavy, single, asker, pair = make_bots([persona], 4, accounts=lambda i: (f"acct{i}", budgets[i]))
    for thread in range(10):
        heavy.count_post(START, thread)  # 30 of its 40 replies left: 0.75
    pair.count_post(START, 99)  # one of two left: 0.5
    assert [b.replies_left_share() for b in (heavy, single, asker, pair)] == [0.75, 1.0, 1.0, 0.5]
    asked = sorted([heavy, single, asker, pair], key=lambda b: -b.replies_left_share())
    assert [b.name for b in asked] == ["acct1", "acct2", "acct0", "acct3"]
    single.count_post(START, 5)
    assert single.replies_left_share() == 0.0 and not single.may_reply()
    assert make_bots([persona], 1)[0].replies_left_share() == 1.0  # population: persona: no budget, no order
