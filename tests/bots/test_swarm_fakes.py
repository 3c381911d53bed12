"""The swarm's engine on a real forum, a real index and the real embedding model, with the dialogue and the words
faked (bots.testing): the policy, the clock, replay and provenance, in seconds rather than behind a Rasa server.

End-to-end runs on the real Rasa server stay in test_swarm.py, test_replay.py and the demo's test.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bots.dialogue.engine import DialogueError, parse_turn
from bots.personas import load_personas
from bots.swarm import ForumStayedAway
from bots.swarm.evaluation import limit_violations
from bots.swarm.patient_forum import PatientForum
from bots.swarm.pending import Option
from bots.swarm.replay import read_replay
from bots.swarm.runlog import read_log
from bots.testing import FakeDialogue, FakeGenerator
from conversations.client import ForumClient
from conversations.importers import CORPUS_THREADS
from conversations.models import parse_time
from murmur.config import Settings, parse_settings
from tests.bots.fake_swarm import fake_swarm_run
from tests.bots.test_swarm import _seed_forum
from tests.conftest import ADMIN_TOKEN, ROOT, query, serve, start_forum, stop_forum

PERSONAS = load_personas(ROOT / "bots" / "personas")


def _settings(tmp_path: Path, **swarm: object) -> Settings:
    return parse_settings({"seed": 3, "swarm": {"log_dir": str(tmp_path / "runs"), **swarm},
                           "forum": {"limits": {"posts_per_minute": 20, "post_burst": 5}}})


async def _run(settings: Settings, url: str, embedder, run_id: str, **options):
    return await fake_swarm_run(settings, url, embedder, run_id, PERSONAS, **options)


async def test_fake_swarm_keeps_the_rules_and_records_provenance_before_every_post(tmp_path, embedder):
    settings = _settings(tmp_path, new_thread_share=0.2)
    forum = await _seed_forum(tmp_path, settings)
    try:
        result = await _run(settings, forum.url, embedder, "fake-run")
    finally:
        await stop_forum(forum)
    records = list(read_log(result.log_path))
    posted = [r for r in records if r["kind"] == "post"]
    assert result.tally.posts == len(posted) >= 5 and result.tally.failures == 0
    rows = query(forum.db, "SELECT p.id, gp.persona, gp.run_id, gp.generator, gp.extra FROM posts p "
                           "JOIN gt_accounts g ON g.account_id = p.author_id LEFT JOIN gt_posts gp ON gp.post_id = p.id")
    assert len(rows) == len(posted)
    assert all(r[1] and r[2] == "fake-run" and r[3] == "fake" for r in rows), "every bot post has its provenance"
    assert all("fake" in json.loads(r[4])["source"] for r in rows), "the words' record is kept as ground truth"
    assert limit_violations(forum.db, {p.name: p for p in PERSONAS}, settings.swarm) == []
    assert min(result.tally.join_scores) >= settings.swarm.relevance_threshold
    decisions = [r for r in records if r["kind"] == "decision"]
    assert len(decisions) == result.tally.decisions
    assert Counter(r["reason"] for r in decisions if not r["joined"]) == +Counter(
        {k: v for k, v in result.tally.skipped.items() if k not in ("asleep_before_posting", "reply_taken",
                                                                     "nothing_relevant_to_say")})


async def test_fake_swarm_with_the_same_seed_gives_the_same_run_log(tmp_path, embedder):
    logs = []
    for attempt in ("a", "b"):
        folder = tmp_path / attempt
        folder.mkdir()
        settings = _settings(folder)
        forum = await _seed_forum(folder, settings)
        try:
            result = await _run(settings, forum.url, embedder, "same", hours=6)
        finally:
            await stop_forum(forum)
        logs.append(result.log_path.read_text(encoding="utf-8"))
    assert logs[0].count('"kind": "post"') >= 3
    assert logs[0] == logs[1]


async def test_failing_turns_are_logged_and_skipped_and_a_silent_persona_posts_nothing(tmp_path, embedder):
    settings = _settings(tmp_path)
    names = [p.name for p in PERSONAS]
    generator = FakeGenerator(silent_for=names[1::2])
    dialogue = FakeDialogue(generator, fail_for=names[::2])
    forum = await _seed_forum(tmp_path, settings)
    try:
        result = await _run(settings, forum.url, embedder, "failing", dialogue=dialogue, generator=generator)
    finally:
        await stop_forum(forum)
    records = list(read_log(result.log_path))
    errors = [r for r in records if r["kind"] == "error"]
    assert result.tally.joins > 0 and result.tally.failures == len(errors) > 0
    assert all(r["then"] == "skip" and "fake dialogue fails" in r["error"] for r in errors)
    assert result.tally.silent > 0  # the silent personas' turns
    # every reply failed or was silent: what was posted opened threads (the generator's, without a dialogue turn)
    assert result.tally.posts == result.tally.threads_started
    assert {r["act"] for r in records if r["kind"] == "post"} <= {"open"}
    assert records[0]["kind"] == "run" and records[-1]["kind"] == "summary"


async def test_replayed_people_come_at_their_own_times_beside_the_fake_bots(tmp_path, embedder):
    settings = _settings(tmp_path)
    plan = read_replay([CORPUS_THREADS], align_sites=True, hours=48)
    forum = await start_forum(tmp_path, settings)
    try:
        result = await _run(settings, forum.url, embedder, "replayed", replay=plan)
    finally:
        await stop_forum(forum)
    assert result.tally.replayed == len(plan.posts) > 0
    times = {synthetic: [parse_time(t) for (t,) in query(
        forum.db, "SELECT p.created_at FROM posts p LEFT JOIN gt_accounts g ON g.account_id = p.author_id "
                  f"WHERE g.account_id IS {'NOT ' if synthetic else ''}NULL")] for synthetic in (False, True)}
    assert max(times[False]) <= plan.until, "no person's post comes later than its own time in the window"
    assert all(plan.start <= t <= plan.until + timedelta(hours=6) for t in times[True]), "bots post in the window"
    run = next(read_log(result.log_path))
    assert run["replay"]["replayed"] == len(plan.posts) and run["start"].startswith(plan.start.isoformat()[:16])


async def test_patient_forum_waits_for_a_forum_that_comes_back_and_gives_up_on_one_that_does_not(tmp_path):
    from aiohttp import web

    runner, url = await serve(web.Application())  # a free loopback port, then closed: nothing listens there
    await runner.cleanup()
    async with ForumClient(url, ADMIN_TOKEN) as client:
        with pytest.raises(ForumStayedAway, match="same --run-id"):
            await PatientForum(wait_s=0.5)(lambda: client.request("GET", "/api/health"))

        async def health(request):
            return web.json_response({"latest_seq": 7})

        async def come_back():
            await asyncio.sleep(0.6)
            app = web.Application()
            app.router.add_get("/api/health", health)
            return await serve(app, port=int(url.rsplit(":", 1)[1]))

        back = asyncio.create_task(come_back())
        patient = PatientForum(wait_s=30)
        answer = await patient(lambda: client.request("GET", "/api/health"))
        assert answer == {"latest_seq": 7} and patient.seconds > 0
        await (await back)[0].cleanup()


@pytest.mark.parametrize("messages, field", [
    ("not a list", "the reply"),
    ([{"text": 3}], "message[0].text"),
    ([{"text": "hi"}], "no murmur action"),
    ([{"text": "hi", "custom": {"act": 4}}], "custom.act"),
    ([{"text": "hi", "custom": {"act": "agree", "sources": ["x"]}}], "custom.sources[0]"),
    ([{"text": "hi", "custom": {"act": "agree", "source": "bank"}}], "custom.source"),
    ([{"text": "hi", "custom": {"act": "agree", "alternatives": [{"text": "a", "source": 1}]}}],
     "custom.alternatives[0].source"),
])
def test_a_turn_rasa_sends_wrong_names_the_field(messages, field):
    with pytest.raises(DialogueError, match=re.escape(field)):
        parse_turn(messages, "rasa at http://127.0.0.1:5005", "persona:conversation")


def test_a_turn_as_rasa_sends_it_is_read_whole():
    turn = parse_turn([{"text": "first"}, {"text": "second", "custom": {
        "act": "agree", "sources": [4, 9], "source": {"bank_id": "reply:3"}, "reason": None,
        "alternatives": [{"text": "first\nsecond", "source": {"bank_id": "reply:3"}}, {"text": "other", "source": None}]}}],
        "rasa", "p:c", 0.5)
    assert (turn.act, turn.text, turn.sources, turn.source) == ("agree", "first\nsecond", (4, 9), {"bank_id": "reply:3"})
    assert turn.alternatives == (("first\nsecond", {"bank_id": "reply:3"}), ("other", None)) and turn.seconds == 0.5


async def test_fakes_stand_behind_the_real_protocols():
    from bots.swarm.spec import Dialogue
    from bots.words.replies import ReplyGenerator

    generator: ReplyGenerator = FakeGenerator()
    dialogue: Dialogue = FakeDialogue(generator)
    turn = await dialogue.respond(PERSONAS[0], "c1", "What grind for espresso?", thread_title="Grind", claim=False)
    assert turn.act == "answer" and turn.text and len(turn.alternatives) == 2
    first = generator.claim([Option(text, source) for text, source in turn.alternatives])
    assert first is not None and generator.claim([first]) is None, "a claimed reply is never offered twice"


def test_ray_turns_are_either_started_here_or_given():
    from murmur.swarm_job import RayTurns

    with pytest.raises(ValueError, match="count >= 1"):
        RayTurns()
    assert RayTurns(2, "local").count == 2 and RayTurns(workers=[]).workers == []
