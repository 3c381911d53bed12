"""Personas induced from the people: groups of at least ten, never a person's handle or words; bad input refused."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from bots.induction import InductionError, active_hours, induce, write_personas
from bots.personas import load_personas
from tests.conftest import ROOT

TOPICS = {
    "espresso": ("My espresso shot runs too fast, should I grind finer?", "espresso", "grinder"),
    "tea": ("How long should green tea steep at eighty degrees?", "tea", "steeping"),
}


def _forum(path, people_per_topic=12, small_site_people=4, hour=9, askers=6):
    """Threads of two topics on one site (people keep to one topic), and a small site of a few people."""
    lines = []
    for topic, (question, *tags) in TOPICS.items():
        for t in range(6):
            posts = [{"post_id": f"{topic}{t}-q", "author": f"{topic}-asker{t % askers}", "created_at": f"2020-01-{t + 1:02d}T{hour:02d}:00:00Z",
                      "body": f"{question} Day {t} of trying."}]
            for p in range(people_per_topic):
                if (p + t) % 2 == 0:
                    posts.append({"post_id": f"{topic}{t}-{p}", "author": f"{topic}-person{p}",
                                  "created_at": f"2020-01-{t + 1:02d}T{hour + 1:02d}:{p:02d}:00Z",
                                  "body": f"Reply number {p} about {topic}: try changing one thing at a time."})
            lines.append({"thread_id": f"cafe:{topic}{t}", "site": "cafe", "title": question, "tags": list(tags),
                          "posts": posts})
    for t in range(3):
        lines.append({"thread_id": f"tiny:{t}", "site": "tiny", "title": "Which telescope for a beginner?", "tags": ["optics"],
                      "posts": [{"post_id": f"tiny{t}-{p}", "author": f"stargazer{p}", "created_at": "2020-01-02T21:00:00Z",
                                 "body": "A small refractor is a fine start."} for p in range(small_site_people)]})
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    return path


def test_people_make_personas_of_ten_or_more_with_their_sites_tags_and_no_handle_or_words(tmp_path, embedder):
    data = _forum(tmp_path / "forum.jsonl")
    induced = induce(data, embedder, size=10)
    groups = [g for _, g in induced]
    assert groups and all(g.people >= 10 for g in groups)
    assert {g.site for g in groups} == {"cafe"}  # the small site's 4 people make no persona
    # the people kept to one topic each: so do the personas
    interests = [" ".join(p.interests) for p, _ in induced]
    assert any("espresso" in i and "tea" not in i for i in interests)
    assert any("tea" in i and "espresso" not in i for i in interests)
    written = write_personas(induced, tmp_path / "personas")
    loaded = load_personas(tmp_path / "personas")
    assert [p.name for p in loaded] == sorted(p.name for p, _ in induced)
    assert all(p.in_peoples_voice and p.disclose_when_asked for p in loaded)
    text = "".join(path.read_text() for path in written)
    handles = [f"{topic}-{who}{n}" for topic in TOPICS for who in ("person", "asker") for n in range(12)]
    assert not any(handle in text for handle in handles)
    assert "try changing one thing" not in text and "steep at eighty" not in text
    # the group's hours: they posted from 09:00 to 10:59 UTC, most of it after 10:00
    assert all(9 <= p.schedule.active_hours[0] <= 10 and p.schedule.active_hours[1] == 11 for p in loaded)


def test_induction_refuses_too_few_people_and_an_empty_window(tmp_path, embedder):
    data = _forum(tmp_path / "forum.jsonl", people_per_topic=3, askers=1)  # 8 people on cafe, 4 on tiny
    with pytest.raises(InductionError, match="too few people"):
        induce(data, embedder)
    with pytest.raises(InductionError, match="no posts before 2019"):
        induce(_forum(tmp_path / "all.jsonl"), embedder, before=datetime(2019, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(InductionError, match="at least 10 people"):
        induce(_forum(tmp_path / "all.jsonl"), embedder, minimum=5)


def test_a_cutoff_keeps_only_what_came_before_it(tmp_path, embedder):
    # before Jan 4 only three of each topic's six threads had opened: their other askers had not posted yet
    data = _forum(tmp_path / "forum.jsonl", people_per_topic=24)
    before = datetime(2020, 1, 4, tzinfo=timezone.utc)
    everyone = sum(g.people for _, g in induce(data, embedder, size=10))
    earlier = sum(g.people for _, g in induce(data, embedder, before=before, size=10))
    assert earlier < everyone


@pytest.mark.parametrize("hours,expected", [([9, 9, 10, 10], (9, 11)), ([23, 23, 0, 0, 1, 1], (23, 2)),
                                            (list(range(24)), (0, 20))])
def test_active_hours_are_the_shortest_span_holding_most_posts(hours, expected):
    assert active_hours(hours) == expected


def test_cli_writes_persona_files_and_names_the_fix_for_bad_input(tmp_path):
    data = _forum(tmp_path / "forum.jsonl")
    config = tmp_path / "config.yml"
    config.write_text(f"index:\n  cache_path: {ROOT / 'var' / 'test-embeddings.sqlite'}\n")
    run = subprocess.run([sys.executable, "-m", "murmur.cli", "--config", str(config), "personas", "induce", str(data),
                          "--out", str(tmp_path / "out"), "--size", "10"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "personas in" in run.stdout and list((tmp_path / "out").glob("*.yml"))
    bad = subprocess.run([sys.executable, "-m", "murmur.cli", "--config", str(config), "personas", "induce", str(data),
                          "--out", str(tmp_path / "none"), "--before", "2001-01-01T00:00:00Z"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode != 0 and "no posts before 2001" in bad.stderr and "--before" in bad.stderr


def test_people_held_before_a_replay_make_the_same_personas_as_the_file(tmp_path, embedder):
    """``people_of`` reads (site, thread) pairs, e.g. what a replay holds before its window, as ``read_people``
    reads a file: the ladder's people cells induce their extra voices so."""
    from bots.induction import induce_from, people_of, read_people
    from conversations.importers.jsonl import parse_thread, read_records

    data = _forum(tmp_path / "forum.jsonl")
    threads = [("", parse_thread(record, where)) for where, record in read_records(data)]
    assert people_of(threads).people.keys() == read_people(data).people.keys()
    from_threads = induce_from(people_of(threads), embedder, size=10)
    assert [p.name for p, _ in from_threads] == [p.name for p, _ in induce(data, embedder, size=10)]
    with pytest.raises(InductionError, match="held threads: no posts before"):
        people_of(threads, datetime(2019, 1, 1, tzinfo=timezone.utc), "the held threads")
