"""Stance reading: the message's side decides agree / disagree, measured on held-out topics against the old rule."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bots.personas import Persona, Stance, load_personas
from bots.dialogue.stance import (STANCE_SET, SIDES, StanceError, StanceReader, TopicOnlyReader, evaluate_stance, load_labelled,
                         relation, split_of)
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def personas() -> list[Persona]:
    return load_personas(ROOT / "bots" / "personas") + load_personas(ROOT / "bots" / "corpus_personas")


@pytest.fixture(scope="module")
def reader(embedder) -> StanceReader:
    return StanceReader(embedder)


def _mentor(position: str) -> Persona:
    return Persona(name="mentor-test", bio="Teaches Python to beginners.", interests=("python teaching",),
                   stance=(Stance(topic="type hints for beginners", position=position),
                           Stance(topic="learning Python from video tutorials only", position="against")))


def test_held_out_topics_are_read_better_than_by_topic_alone(reader, embedder, personas):
    held_out = [r for r in load_labelled() if r.split == "test"]
    side_aware = evaluate_stance(reader, held_out, personas)
    topic_only = evaluate_stance(TopicOnlyReader(embedder), held_out, personas)
    print()
    print(side_aware.line("side-aware"))
    print(topic_only.line("topic-only"))
    assert side_aware.decisions == topic_only.decisions == 2 * len(held_out)
    assert side_aware.accuracy >= 0.8, side_aware.line("side-aware")
    assert side_aware.accuracy > topic_only.accuracy + 0.2
    for name in ("agree", "disagree"):  # both directions are read, not one guessed for every sided message
        precision, recall, _ = side_aware.per_relation[name]
        assert precision >= 0.6 and recall >= 0.6, side_aware.line("side-aware")


def test_the_side_of_the_message_decides(reader):
    mentor = _mentor("for")
    assert reader.stance(mentor, "type hints are a waste of time for beginners") == "disagree"
    assert reader.stance(mentor, "Type hints helped my students a lot") == "agree"
    assert reader.stance(mentor, "What's the best way to store flour in a humid kitchen?") == "neutral"
    assert reader.stance(mentor, "I wouldn't say type hints are useless") != "disagree"  # the negation is read
    assert reader.stance(mentor, "") == "neutral"
    # the same words against the opposite position
    critic = _mentor("against")
    assert reader.stance(critic, "type hints are a waste of time for beginners") == "agree"
    assert reader.stance(critic, "Type hints helped my students a lot") == "disagree"
    # the second topic is found and judged on its own position
    assert reader.stance(mentor, "Honestly, learning Python from YouTube alone worked fine for me.") == "disagree"


def test_a_question_takes_no_side(reader):
    question = "Which editor shows type hints nicely for people new to Python?"
    assert reader.side("type hints for beginners", question) == "none"
    assert [relation(s, p) for s in SIDES for p in ("for", "against")] == [
        "agree", "disagree", "disagree", "agree", "neutral", "neutral"]


def test_stance_reader_is_still_importable_from_dialogue():
    from bots.dialogue.engine import StanceReader as FromDialogue

    assert FromDialogue is StanceReader


def test_labelled_set_is_large_real_and_balanced(personas):
    rows = load_labelled()
    assert len(rows) >= 150
    topics = {s.topic for p in personas for s in p.stance}
    assert {r.topic for r in rows} <= topics
    assert len({r.topic for r in rows}) >= 30
    for part in (rows, [r for r in rows if r.split == "test"]):
        counts = Counter(r.side for r in part)
        assert all(counts[side] >= 0.25 * len(part) for side in SIDES), counts
    assert {r.split for r in rows} == {"train", "test"}
    assert all(r.split == split_of(r.topic) for r in rows)
    assert not {r.topic for r in rows if r.split == "test"} & {r.topic for r in rows if r.split == "train"}
    assert len({r.text for r in rows}) == len(rows)


GOOD = {"text": "Type hints helped my students.", "topic": "type hints for beginners", "side": "pro",
        "split": split_of("type hints for beginners")}


@pytest.mark.parametrize("line, field", [
    ('{"text": "unclosed', "not valid JSON"),
    (json.dumps(["a", "list"]), "JSON object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "topic"}), "topic: missing"),
    (json.dumps({**GOOD, "side": "maybe"}), "side: must be one of pro, con, none"),
    (json.dumps({**GOOD, "text": 3}), "text: must be non-empty text"),
    (json.dumps({**GOOD, "split": "dev"}), "split: must be train or test"),
    (json.dumps({**GOOD, "split": "test" if GOOD["split"] == "train" else "train"}), "split:"),
    (json.dumps({**GOOD, "sides": "pro"}), "sides: unknown key"),
])
def test_a_bad_line_names_file_line_and_field(tmp_path, embedder, line, field):
    path = tmp_path / "stance.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(StanceError) as info:
        load_labelled(path)
    assert f"{path}:2: " in str(info.value)
    assert field in str(info.value)
    with pytest.raises(StanceError, match=":2: "):
        StanceReader(embedder, labelled=path)


def test_missing_or_one_sided_sets_are_errors(tmp_path, embedder):
    with pytest.raises(StanceError, match="cannot read"):
        load_labelled(tmp_path / "absent.jsonl")
    path = tmp_path / "one-sided.jsonl"
    path.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    with pytest.raises(StanceError, match="every side"):
        StanceReader(embedder, labelled=path)
    assert STANCE_SET.is_file()
