"""Matcher on the project's seed forum and its personas, with the real model."""

from __future__ import annotations

import json

import pytest

from conversations.importers import SEED_THREADS
from index.documents import ThreadText, thread_vectors
from index.errors import EmptyText, UnknownPersona, UnknownThread
from index.matching import Matcher, PersonaProfile
from index.personas import PersonaFileError, load_profiles
from index.threads import ThreadIndex
from tests.conftest import ROOT

TOPIC_OF_PERSONA = {
    "espresso-nerd": "espresso", "sourdough-sam": "sourdough", "city-cyclist": "cycling", "plant-parent": "houseplants",
    "stargazer": "astronomy", "py-mentor": "python", "hop-chaser": "homebrewing", "trail-miles": "trail-running",
    "keyboard-clacker": "keyboards", "bird-notes": "birdwatching",
    "espresso-pragmatist": "espresso", "rye-and-crumb": "sourdough", "cargo-commuter": "cycling", "leaf-lab": "houseplants",
    "southern-skies": "astronomy", "pandas-wrangler": "python", "kit-brewer": "homebrewing", "hill-hiker": "trail-running",
    "split-typist": "keyboards", "songbird-ear": "birdwatching",
}


@pytest.fixture(scope="module")
def seed_matcher(embedder):
    threads, topics = [], {}
    for number, line in enumerate(SEED_THREADS.read_text(encoding="utf-8").splitlines(), 1):
        record = json.loads(line)
        posts = record["posts"]
        threads.append(ThreadText(number, record["title"], posts[0]["body"], tuple(p["body"] for p in posts[1:])))
        topics[number] = record["tags"][0]
    index = ThreadIndex(embedder.dims, embedder.model_id)
    index.upsert([t.thread_id for t in threads], thread_vectors(embedder, threads))
    return Matcher(embedder, index, load_profiles(ROOT / "bots" / "personas")), topics


def test_each_seed_thread_is_matched_first_to_the_persona_of_its_topic(seed_matcher):
    matcher, topics = seed_matcher
    firsts = [TOPIC_OF_PERSONA[matcher.personas_for(thread_id, 1)[0].persona] == topic for thread_id, topic in topics.items()]
    assert sum(firsts) / len(firsts) >= 0.95


def test_personas_find_their_topics_threads_with_the_interest_as_reason(seed_matcher):
    matcher, topics = seed_matcher
    precisions = []
    for persona, topic in TOPIC_OF_PERSONA.items():
        found = matcher.threads_for(persona, 5)
        on_topic = [topics[m.thread_id] == topic for m in found]
        assert on_topic[0] and sum(on_topic) >= 3, persona  # e.g. binoculars are both stargazing and birding
        precisions.append(sum(on_topic) / 5)
        profile_interests = next(p.interests for p in load_profiles(ROOT / "bots" / "personas") if p.name == persona)
        assert all(m.reason in profile_interests for m in found)
        assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    assert sum(precisions) / len(precisions) >= 0.85


def test_ad_hoc_interests_and_bad_requests(seed_matcher):
    matcher, topics = seed_matcher
    found = matcher.threads_for_interests(["observing planets with a telescope", "sourdough starter"], 6)
    assert sum(topics[m.thread_id] in {"astronomy", "sourdough"} for m in found) >= 5
    assert {m.reason for m in found} == {"observing planets with a telescope", "sourdough starter"}
    with pytest.raises(EmptyText):
        matcher.threads_for_interests([" "])
    with pytest.raises(UnknownPersona, match="no persona named 'nobody'"):
        matcher.threads_for("nobody")
    with pytest.raises(UnknownThread, match="thread 999"):
        matcher.personas_for(999)
    with pytest.raises(EmptyText, match="'quiet'"):
        Matcher(matcher.embedder, matcher.index, [PersonaProfile("quiet", ())])


@pytest.mark.parametrize("content, words", [
    ("name: x\n", ["interests", "non-empty list"]),
    ("bio: b\ninterests: [a]\n", ["name", "missing"]),
    ("name: x\ninterests: [a]\nbio: [1]\n", ["bio"]),
    ("name: [unclosed\n", ["not valid YAML"]),
])
def test_persona_file_errors_name_file_and_key(tmp_path, content, words):
    (tmp_path / "p.yml").write_text(content)
    with pytest.raises(PersonaFileError) as info:
        load_profiles(tmp_path)
    assert "p.yml" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_an_audience_is_sent_to_the_threads_the_ranking_expects_it_in(seed_matcher):
    matcher, topics = seed_matcher
    scores = matcher.persona_scores(matcher.index.vectors([1]))[0]
    assert [matcher.persona_names[i] for i in (-scores).argsort()[:3]] == [m.persona for m in matcher.personas_for(1, 3)]

    targets = matcher.audience_threads(sorted(topics), personas=["espresso-nerd", "espresso-pragmatist"], top_k=3, k=8)
    espresso = sum(topic == "espresso" for topic in topics.values())
    assert {topics[t.thread_id] for t in targets[:espresso]} == {"espresso"}  # their own topic's threads come first
    assert all(any(p in t.reason for p in ("espresso-nerd", "espresso-pragmatist")) for t in targets)
    assert [t.score for t in targets] == sorted((t.score for t in targets), reverse=True)
    # a thread where neither is in the top 3 is never a target, however many threads there are
    assert all(set(t.reason.split(", ")) <= {"espresso-nerd", "espresso-pragmatist"} for t in targets)

    by_interest = matcher.audience_threads(sorted(topics), interests=["sourdough starter and baking bread"], k=5)
    assert topics[by_interest[0].thread_id] == "sourdough" and sum(topics[t.thread_id] == "sourdough" for t in by_interest) >= 3
    with pytest.raises(UnknownPersona):
        matcher.audience_threads(sorted(topics), personas=["nobody-here"])
