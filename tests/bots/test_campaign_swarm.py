"""A campaign in a swarm on a real forum, index, reply bank, stance reader and embedding model (the dialogue of the
organic turns faked): where its drivers go, when its amplifiers follow, which words it uses, and what it records."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bots.campaigns import parse_campaign
from bots.dialogue.stance import StanceReader
from bots.personas import load_personas
from bots.swarm import SwarmError
from bots.swarm.campaign import ABOUT_THE_TOPIC, CampaignWords
from bots.swarm.runlog import read_log
from bots.testing import FakeGenerator
from conversations.client import ForumClient
from conversations.models import parse_time
from murmur.config import Settings, parse_settings
from tests.bots.fake_swarm import fake_swarm_run
from tests.bots.test_swarm import _seed_forum
from tests.conftest import ROOT, query, stop_forum

PERSONAS = load_personas(ROOT / "bots" / "personas")
TOPIC = "coffee pods are as good as fresh beans"
CAMPAIGN = {"id": "pods-push", "goal": {"topic": TOPIC, "side": "pro"},
            "audience": {"personas": ["espresso-nerd", "espresso-pragmatist"], "top_k": 3},
            "accounts": 5, "roles": {"driver": 0.2, "amplifier": 0.8},
            "synchrony": {"delay_s": 120, "jitter_s": 30, "followers": 3}, "organic_share": 0.2, "active_hours": 100_000}
ESPRESSO_THREADS = "SELECT id FROM threads WHERE tags LIKE '%espresso%'"


@pytest.fixture(scope="module")
def reader(embedder) -> StanceReader:
    return StanceReader(embedder)


@pytest.fixture
def bank(corpus_bank):
    bank, _ = corpus_bank
    bank.used.clear()
    yield bank
    bank.used.clear()


def _settings(tmp_path: Path) -> Settings:
    return parse_settings({"seed": 5, "swarm": {"log_dir": str(tmp_path / "runs")},
                           "forum": {"limits": {"posts_per_minute": 60, "post_burst": 20}}})


def test_the_campaigns_words_are_the_banks_replies_on_its_side_and_about_its_topic(bank, reader, embedder):
    words = CampaignWords(bank, reader, parse_campaign(CAMPAIGN, "test").goal)
    assert 5 <= len(words) < words.read  # some replies about the topic take the other side, or none
    texts = [bank.replies[int(r)].text for r in words.rows]
    topic = embedder.embed_one(TOPIC)
    assert all(float(embedder.embed_one(t) @ topic) >= ABOUT_THE_TOPIC - 1e-3 for t in texts[:5])
    assert all(reader.side(TOPIC, t) == "pro" for t in texts[:5])
    offered = words.options("Are capsule machines really worse than grinding fresh beans?")
    assert offered and [o.text for o in offered] == list(dict.fromkeys(o.text for o in offered))
    chosen = words.claim(offered)
    assert chosen is offered[0] and words.claim(offered[:1]) is None  # a reply is used once
    assert chosen.text not in [o.text for o in words.options("Are capsule machines really worse?")]


async def test_drivers_go_where_the_audience_is_expected_and_amplifiers_follow_within_the_delay(tmp_path, embedder,
                                                                                               bank, reader):
    settings = _settings(tmp_path)
    campaign = parse_campaign(CAMPAIGN, "test")
    words = CampaignWords(bank, reader, campaign.goal)
    forum = await _seed_forum(tmp_path, settings)
    try:
        result = await fake_swarm_run(settings, forum.url, embedder, "campaign-run", PERSONAS, bots=6, hours=12,
                                      campaign=campaign, campaign_words=words)
        async with ForumClient(forum.url) as public:
            pages = [json.dumps(await public.get_thread(t)) for t in sorted(result.tally.threads_joined)]
    finally:
        await stop_forum(forum)
    records = list(read_log(result.log_path))
    posts = {r["post_id"]: r for r in records if r["kind"] == "post"}
    on_goal = [r for r in posts.values() if r.get("campaign") == "pods-push"]
    drivers = [r for r in on_goal if r["role"] == "driver"]
    amplifiers = [r for r in on_goal if r["role"] == "amplifier"]
    assert drivers and len(amplifiers) >= 2 * len(drivers) - 1, "each driver post is followed"

    espresso = {row[0] for row in query(forum.db, ESPRESSO_THREADS)}
    assert sum(r["thread"] in espresso for r in drivers) / len(drivers) >= 0.8, "the audience's threads"
    followers = Counter(post["parent_id"] for post in amplifiers)
    assert max(followers.values()) <= 3, "synchrony.followers amplifiers per driver post, at most"
    for post in amplifiers:  # a reply to a driver's post, 120 s +- 30 s after it (seeded), never its own delay
        driver = posts[post["parent_id"]]
        assert driver["role"] == "driver" and driver["thread"] == post["thread"]
        waited = (parse_time(post["t"]) - parse_time(driver["t"])).total_seconds()
        assert 90 <= waited <= 150, waited

    side_texts = {bank.replies[int(r)].text.strip() for r in words.rows}
    bodies = dict(query(forum.db, "SELECT id, body FROM posts"))
    assert all(bodies[r["post_id"]].strip() in side_texts for r in on_goal), "only the bank's replies on its side"
    assert len({bodies[r["post_id"]] for r in on_goal}) == len(on_goal), "never the same words twice"

    accounts = query(forum.db, "SELECT account_id, campaign_id, role FROM gt_accounts WHERE campaign_id IS NOT NULL")
    assert len(accounts) <= 5 and {a[2] for a in accounts} <= {"driver", "amplifier"}
    truth = dict(query(forum.db, "SELECT post_id, role FROM gt_posts WHERE campaign_id = 'pods-push'"))
    assert truth == {r["post_id"]: r["role"] for r in on_goal}, "every on-goal post, and only those, carries it"
    assert not any("pods-push" in page or "amplifier" in page for page in pages), "never in the public API"


async def test_a_campaign_without_the_banks_words_or_with_an_unknown_persona_is_refused(tmp_path, embedder, bank,
                                                                                         reader):
    settings = _settings(tmp_path)
    forum = await _seed_forum(tmp_path, settings)
    try:
        with pytest.raises(SwarmError, match="bank"):
            await fake_swarm_run(settings, forum.url, embedder, "no-words", PERSONAS,
                                 campaign=parse_campaign(CAMPAIGN, "test"), generator=FakeGenerator())
        wrong = parse_campaign(CAMPAIGN | {"audience": {"personas": ["no-such-persona"]}}, "test")
        with pytest.raises(SwarmError, match="no-such-persona"):
            await fake_swarm_run(settings, forum.url, embedder, "unknown", PERSONAS, campaign=wrong,
                                 campaign_words=CampaignWords(bank, reader, wrong.goal))
    finally:
        await stop_forum(forum)
