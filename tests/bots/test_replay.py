"""Replay: people's posts enter the forum at their own times, bots live on the same timeline, nothing from the future."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from bots.personas import CORPUS_PERSONAS, load_personas
from bots.swarm.replay import ReplayError, read_replay
from bots.swarm.runlog import read_log
from bots.swarm.timing import PeopleTiming
from conversations.models import parse_time
from detection.export import export_forum
from murmur.config import parse_settings
from murmur.assembly import run_swarm
from murmur.swarm_job import ForumAccess, SwarmJob
from tests.bots.fake_swarm import fake_swarm_run
from tests.conftest import ADMIN_TOKEN, CORPUS_SPLIT, read_corpus_sample, start_forum, stop_forum

SESSION = pytest.mark.asyncio(loop_scope="session")
T0 = datetime(2015, 1, 1, tzinfo=timezone.utc)


def _post(pid: str, author: str, minutes: float, parent: str | None = None, body: str = "words") -> dict:
    return {"post_id": pid, "author": author, "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "body": f"{body} {pid}", "parent_id": parent}


def _write(path: Path, threads: list[dict]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in threads), encoding="utf-8")
    return path


def _thread(tid: str, posts: list[dict]) -> dict:
    return {"thread_id": tid, "title": f"Thread {tid}", "tags": ["t"], "posts": posts}


def test_the_window_splits_held_replayed_and_later_posts(tmp_path):
    path = _write(tmp_path / "r.jsonl", [
        _thread("a:1", [_post("a:1", "a:u1", 0), _post("a:2", "a:u2", 60 * 30, "a:1"), _post("a:3", "a:u3", 60 * 300)]),
        _thread("a:9", [_post("a:9", "a:u1", 60 * 100), _post("a:10", "a:u2", 60 * 101, "a:9")]),
    ])
    plan = read_replay([path], start=T0 + timedelta(hours=24), until=T0 + timedelta(hours=200))
    assert [p.external_id for p in plan.before[0].posts] == ["a:1"]  # the forum holds these before the window
    assert [p.post.external_id for p in plan.posts] == ["a:2", "a:9", "a:10"]  # in time order
    assert plan.after == 1  # a:3 comes after the window: never replayed
    reply = next(p for p in plan.posts if p.post.external_id == "a:2")
    assert [q.external_id for q in reply.thread.posts] == ["a:1", "a:2"] and reply.post.parent_external_id == "a:1"
    assert {t for t, _ in plan.texts()} == {"Thread a:1", "Thread a:9"}  # the bank leaves out every replayed thread


def test_bad_posts_are_skipped_counted_and_named_by_file_and_line(tmp_path):
    path = _write(tmp_path / "bad.jsonl", [
        _thread("a:1", [_post("a:1", "a:u1", 10), _post("a:2", "a:u2", 5, "a:1"),  # before its parent
                        _post("a:3", "a:u3", 20, "a:404"),  # answers a post that is not there
                        _post("a:4", "a:u4", 30, "a:3"),  # answers a skipped post
                        _post("a:5", "a:u5", 40, "a:1")]),
    ])
    plan = read_replay([path], start=T0, until=T0 + timedelta(hours=1))
    assert plan.skipped == {"out_of_order": 1, "unknown_parent": 2}
    assert [p.post.external_id for p in plan.posts] == ["a:1", "a:5"]
    assert plan.examples[0].startswith("bad.jsonl:1: post a:2 out of order") and "a:404" in plan.examples[1]
    assert "skipped: 2 unknown_parent" in plan.summary() or "unknown_parent" in plan.summary()


def test_an_empty_or_reversed_window_is_refused_with_the_span_to_choose_from(tmp_path):
    path = _write(tmp_path / "r.jsonl", [_thread("a:1", [_post("a:1", "a:u1", 0)])])
    with pytest.raises(ReplayError, match=r"no post of the replay falls between .*its posts run from 2015-01-01"):
        read_replay([path], start=T0 + timedelta(days=3), until=T0 + timedelta(days=4))
    with pytest.raises(ReplayError, match="--until.*is not after --from"):
        read_replay([path], start=T0 + timedelta(days=3), until=T0)
    with pytest.raises(ReplayError, match="at least one"):
        read_replay([])


def test_sites_from_different_years_are_aligned_with_every_gap_kept(tmp_path):
    later = T0 + timedelta(days=700)
    path = _write(tmp_path / "r.jsonl", [
        _thread("old:1", [_post("old:1", "old:u", 0), _post("old:2", "old:v", 90, "old:1")]),
        _thread("new:1", [{**_post("new:1", "new:u", 0), "created_at": later.isoformat()},
                          {**_post("new:2", "new:v", 0, "new:1"), "created_at": (later + timedelta(minutes=30)).isoformat()}]),
    ])
    plan = read_replay([path], start=later, until=later + timedelta(hours=3), align_sites=True)
    assert plan.shifts == {"new": 0.0, "old": 700 * 86400.0}
    times = {p.post.external_id: p.at for p in plan.posts}
    assert times["old:1"] == times["new:1"] == later and times["old:2"] - times["old:1"] == timedelta(minutes=90)
    assert plan.record()["site_shift_s"]["old"] == 700 * 86400.0


def test_people_timing_is_read_from_the_people_and_drawn_reproducibly():
    import random

    posts = [(a, (T0 + timedelta(hours=h)).isoformat(), (T0 + timedelta(hours=h - 2)).isoformat(), T0.isoformat())
             for a in range(8) for h in (3 + a, 30 + a, 60 + 2 * a)]
    people = PeopleTiming.of(posts)
    assert people.enough and sorted(set(people.reply_delays_minutes)) == [120.0]
    one, two = people.draw(random.Random(4)), people.draw(random.Random(4))
    assert one == two and one.reply_delay(random.Random(1)) == 120.0
    assert min(people.posts_per_day) <= one.posts_per_day <= max(people.posts_per_day) + 1
    assert people.account_age(random.Random(1)) == 3 * 3600.0 or people.account_age(random.Random(1)) >= 3 * 3600


def _replay_file(tmp_path: Path) -> Path:
    rows = read_corpus_sample("threads.jsonl.gz", 10_000, every=CORPUS_SPLIT * 2)  # ~150 threads, six sites
    return _write(tmp_path / "replay.jsonl", rows)


async def _replay_run(folder: Path, rasa_url: str, embedder, forward_actions, replay: Path):
    settings = parse_settings({"seed": 5, "rasa": {"url": rasa_url}, "swarm": {"log_dir": str(folder / "runs")}})
    plan = read_replay([replay], align_sites=True, hours=30)
    forum = await start_forum(folder, settings)
    try:
        result = await run_swarm(settings, ForumAccess(forum.url, ADMIN_TOKEN),
                                 SwarmJob("replay-persona", bots=12, personas_dir=CORPUS_PERSONAS, replay=plan),
                                 progress=False, echo=lambda _: None, embedder=embedder,
                                 on_action_url=forward_actions)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{forum.url}/api/threads?limit=100") as response:
                listed = (await response.json())["threads"]
    finally:
        await stop_forum(forum)
    return plan, result, forum.db, listed


@SESSION
@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_a_replay_swarm_lives_on_the_people_timeline_and_sees_no_future(tmp_path, rasa_server, forward_actions,
                                                                             embedder):
    replay = _replay_file(tmp_path)
    plan, result, db, listed = await _replay_run(tmp_path / "a", rasa_server.url, embedder, forward_actions, replay)
    records = list(read_log(result.log_path))
    assert result.tally.replayed == len(plan.posts) > 20 and result.tally.posts >= 10 and result.tally.failures == 0
    assert records[0]["replay"]["site_shift_s"] == plan.shifts and records[0]["replay"]["replayed"] == len(plan.posts)
    source = {p["post_id"]: (p, t) for t in map(json.loads, replay.read_text().splitlines()) for p in t["posts"]}
    shift = {site: timedelta(seconds=s) for site, s in plan.shifts.items()}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT p.id, p.external_id, p.created_at, a.external_id, q.external_id, t.external_id "
                            "FROM posts p JOIN accounts a ON a.id = p.author_id JOIN threads t ON t.id = p.thread_id "
                            "LEFT JOIN posts q ON q.id = p.parent_id WHERE p.external_id IS NOT NULL").fetchall()
        made = {row[0]: parse_time(row[1]) for row in conn.execute("SELECT id, created_at FROM posts")}
        thread_start = dict(conn.execute("SELECT id, created_at FROM threads"))
        bot_posts = conn.execute("SELECT p.id, p.created_at, q.created_at, t.created_at FROM posts p "
                                 "JOIN gt_accounts g ON g.account_id = p.author_id JOIN threads t ON t.id = p.thread_id "
                                 "LEFT JOIN posts q ON q.id = p.parent_id").fetchall()
    # replayed and held posts keep their ids, authors and parents, at their own (aligned) times
    held_and_replayed = {p.external_id for t in plan.before for p in t.posts} | {p.post.external_id for p in plan.posts}
    assert {r[1] for r in rows} == held_and_replayed
    for _, external, created, author, parent, thread in rows:
        original, record = source[external]
        opening = record["posts"][0]["post_id"]
        assert author == original["author"] and thread == record["thread_id"]
        assert parent == (None if external == opening else original["parent_id"] or opening)
        assert parse_time(created) == parse_time(original["created_at"]) + shift[external.split(":")[0]]
    # no future post leaks: every decision and turn is about a thread that existed then, replies come after their parent
    for r in records:
        if r["kind"] in ("decision", "turn", "post") and r.get("thread") is not None:
            assert parse_time(thread_start[r["thread"]]) <= parse_time(r["t"]), r
    for _, created, parent_created, thread_created in bot_posts:
        assert parse_time(parent_created or thread_created) <= parse_time(created) <= plan.until + timedelta(hours=7)
    assert all(plan.start <= parse_time(created) for _, created, _, _ in bot_posts)
    assert max(made.values()) < plan.until + timedelta(hours=7)
    # the export carries the replay's window and shifts
    manifest = export_forum(db, tmp_path / "export")
    assert json.loads(manifest.path.read_text())["forum_meta"]["replay"]["site_shift_s"] == plan.shifts
    assert listed


async def test_no_bot_timestamp_is_later_than_the_clock_or_earlier_than_its_account(tmp_path, embedder):
    """Fitted behaviour on the replayed timeline, with the fake dialogue and words (the clock is what is tested)."""
    replay = _replay_file(tmp_path)
    folder = tmp_path / "b"
    settings = parse_settings({"seed": 5, "swarm": {"log_dir": str(folder / "runs"), "behaviour": "fitted"}})
    plan = read_replay([replay], align_sites=True, hours=30)
    forum = await start_forum(folder, settings)
    try:
        result = await fake_swarm_run(settings, forum.url, embedder, "replay-fitted", load_personas(CORPUS_PERSONAS),
                                      replay=plan, bots=12)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{forum.url}/api/threads?limit=100") as response:
                listed = (await response.json())["threads"]
    finally:
        await stop_forum(forum)
    db = forum.db
    assert result.tally.posts >= 5
    end = result.end + timedelta(hours=7)  # a reply written before the end may post up to its delay later
    with sqlite3.connect(db) as conn:
        accounts = dict(conn.execute("SELECT a.id, a.created_at FROM accounts a JOIN gt_accounts g ON g.account_id = a.id"))
        truth = dict(conn.execute("SELECT account_id, created_at FROM gt_accounts"))
        posts = conn.execute("SELECT author_id, created_at FROM posts WHERE author_id IN (SELECT account_id FROM gt_accounts)").fetchall()
        threads = conn.execute("SELECT author_id, created_at, last_activity_at FROM threads "
                               "WHERE author_id IN (SELECT account_id FROM gt_accounts)").fetchall()
        people = conn.execute("SELECT count(*) FROM accounts a JOIN posts p ON p.author_id = a.id "
                              "WHERE p.created_at < a.created_at").fetchone()[0]
    assert posts and accounts
    for account, created in accounts.items():
        assert parse_time(created) <= end
        assert truth[account] == created  # ground truth dates it the same
    for author, created in posts:
        assert parse_time(accounts[author]) <= parse_time(created) <= end
    for author, created, last in threads:
        assert parse_time(accounts[author]) <= parse_time(created) <= parse_time(last)
    assert people == 0  # nobody, person or bot, posts before their account exists
    # what anyone sees: the public API's account dates are never after the posts they wrote
    for thread in listed:
        assert parse_time(thread["author"]["created_at"]) <= parse_time(thread["created_at"])
    manifest = export_forum(db, tmp_path / "export")
    for line in (manifest.path.parent / "accounts.csv").read_text().splitlines()[1:]:
        account_id, _, created, _ = line.split(",")[:4]
        if int(account_id) in accounts:
            assert created == accounts[int(account_id)]
