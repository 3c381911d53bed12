"""Swarms against a real forum: real SQLite, real event socket, real index and model, real Rasa server.

The session's Rasa server sends its custom actions to the test action stub; here the stub forwards
them to the action server `murmur swarm` starts (as with rasa.url pointing at your own Rasa server).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml

from bots.personas import load_personas
from bots.swarm.bots import Bot, make_bots
from bots.swarm.evaluation import join_quality, limit_violations
from bots.swarm.forum_view import SeenPost, ThreadState
from bots.swarm.policy import JoinPolicy
from bots.swarm.runlog import read_log
from conversations.engines import engine_for
from conversations.importers import SEED_THREADS
from murmur.config import Settings, SwarmSettings, parse_settings
from murmur.loading import import_path
from bots.swarm.hooks import SwarmHooks
from murmur.assembly import run_swarm
from murmur.swarm_job import ForumAccess, SwarmJob
from conversations.importers import CORPUS_DISTRACTORS, CORPUS_THREADS
from tests.conftest import ADMIN_TOKEN, ROOT, start_forum, stop_forum

SESSION = pytest.mark.asyncio(loop_scope="session")
PERSONAS = {p.name: p for p in load_personas(ROOT / "bots" / "personas")}
CORPUS_PERSONAS = ROOT / "bots" / "corpus_personas"


# -- the join policy, rule by rule ------------------------------------------------------------------------


def _bot(name: str = "espresso-nerd", account_id: int = 100) -> Bot:
    bot = make_bots([PERSONAS[name]], 1)[0]
    bot.account_id = account_id
    return bot


def _thread(*authors: int) -> ThreadState:
    return ThreadState(1, "t", [SeenPost(i + 1, a, f"post {i}", "2026-01-01T00:00:00Z") for i, a in enumerate(authors)])


def _noon(bot: Bot) -> datetime:
    """Noon in the bot's own time zone: inside every shipped persona's active hours."""
    return datetime(2026, 3, 3, 12, tzinfo=ZoneInfo(bot.persona.schedule.timezone)).astimezone(timezone.utc)


def test_policy_checks_each_rule_and_names_it():
    settings = SwarmSettings(join_probability=1.0, max_bots_per_thread=2, max_consecutive_bot_posts=2)
    policy = JoinPolicy(settings, seed=1)
    bot = _bot()
    now = _noon(bot)
    bots = {100: "espresso-nerd", 200: "other-bot", 300: "third-bot"}
    assert policy.decide(bot, _thread(1, 2), 0.9, now, bots).reason == "joined"
    assert policy.decide(bot, _thread(1, 2), settings.relevance_threshold - 0.01, now, bots).reason == "below_threshold"
    start, _ = bot.persona.schedule.active_hours
    night = now.astimezone(ZoneInfo(bot.persona.schedule.timezone)).replace(hour=(start - 1) % 24).astimezone(timezone.utc)
    assert policy.decide(bot, _thread(1), 0.9, night, bots).reason == "asleep"
    bot.busy_until = now
    assert policy.decide(bot, _thread(1), 0.9, now, bots).reason == "busy"
    bot.busy_until = None
    bot.count_post(now - timedelta(minutes=1), 99)
    assert policy.decide(bot, _thread(1), 0.9, now, bots).reason == "cooldown"
    later = now + timedelta(minutes=bot.persona.limits.min_minutes_between_posts + 1)
    assert policy.decide(bot, _thread(1), 0.9, later, bots).reason == "joined"
    bot.posts_by_thread[1] = bot.persona.limits.max_posts_per_thread
    assert policy.decide(bot, _thread(1), 0.9, later, bots).reason == "thread_limit"
    bot.posts_by_thread[1] = 0
    assert policy.decide(bot, _thread(1, 100), 0.9, later, bots).reason == "own_post"
    assert policy.decide(bot, _thread(1, 200, 1, 300, 1), 0.9, later, bots).reason == "bots_per_thread"
    assert policy.decide(bot, _thread(1, 200, 1, 100, 1), 0.9, later, bots).reason == "joined"  # already in: not a new bot
    assert policy.decide(bot, _thread(1, 200, 300), 0.9, later, bots).reason in ("bots_per_thread", "consecutive_bots")
    crowded = _thread(1, 200)
    crowded.pending.add("third-bot")  # a reply on its way counts toward the caps
    assert policy.decide(bot, crowded, 0.9, later, bots).reason == "bots_per_thread"
    bot.posts_by_day[bot.day(later)] = bot.persona.schedule.posts_per_day
    assert policy.decide(bot, _thread(1), 0.9, later, bots).reason == "daily_budget"


def test_policy_draw_is_seeded_and_independent_of_order():
    settings = SwarmSettings(join_probability=0.5)
    bot = _bot()
    now = _noon(bot)
    first = [JoinPolicy(settings, 7).decide(bot, ThreadState(i, "t", [SeenPost(1, 1, "x", "")]), 0.9, now, {}).reason
             for i in range(40)]
    again = [JoinPolicy(settings, 7).decide(bot, ThreadState(i, "t", [SeenPost(1, 1, "x", "")]), 0.9, now, {}).reason
             for i in reversed(range(40))]
    assert first == list(reversed(again))
    assert 5 < first.count("joined") < 35 and set(first) == {"joined", "draw"}
    other = [JoinPolicy(settings, 8).decide(bot, ThreadState(i, "t", [SeenPost(1, 1, "x", "")]), 0.9, now, {}).reason
             for i in range(40)]
    assert other != first


def test_bots_beyond_the_personas_get_numbered_handles():
    personas = list(PERSONAS.values())[:3]
    bots = make_bots(personas, 7)
    assert [b.name for b in bots][:4] == [personas[0].name, personas[1].name, personas[2].name, f"{personas[0].name}-2"]
    assert len({b.name for b in bots}) == 7 and all(len(b.name) <= 40 for b in bots)


# -- whole runs against a real forum and a real Rasa server ----------------------------------------------


def swarm_settings(tmp_path: Path, rasa_url: str, backend: str = "splice", **swarm: object) -> Settings:
    """The swarm's mechanics are tested with the ``splice`` generator on the seed forum (its topics are not in the
    reply bank's corpus); the ``bank`` generator is tested on a forum of corpus threads (test_realism.py)."""
    return parse_settings({"seed": 3, "rasa": {"url": rasa_url}, "replies": {"backend": backend},
                           "swarm": {"log_dir": str(tmp_path / "runs"), **swarm},
                           "forum": {"limits": {"posts_per_minute": 20, "post_burst": 5}}})


async def _seed_forum(tmp_path: Path, settings: Settings, name: str = "forum.db", db: Path | str | None = None):
    db = db or tmp_path / name
    await import_path(SEED_THREADS, db, settings)
    return await start_forum(tmp_path, settings, db=db)


async def _swarm(settings: Settings, url: str, run_id: str, embedder, forward_actions, *,
                 personas_dir: Path | None = None, hooks: SwarmHooks | None = None):
    """`murmur swarm` as the CLI wires it, quietly, with the session's model and Rasa server."""
    return await run_swarm(settings, ForumAccess(url, ADMIN_TOKEN), SwarmJob(run_id, personas_dir=personas_dir),
                           progress=False, echo=lambda _: None, embedder=embedder, on_action_url=forward_actions,
                           hooks=hooks)


async def _swarm_on_seed_forum(folder: Path, settings: Settings, run_id: str, embedder, forward_actions,
                               db: Path | str | None = None):
    """A swarm run on a fresh seed forum, stopped afterwards: the result and the forum's database."""
    forum = await _seed_forum(folder, settings, db=db)
    try:
        return await _swarm(settings, forum.url, run_id, embedder, forward_actions), forum.db
    finally:
        await stop_forum(forum)


def _bot_posts(db: Path | str) -> list[tuple]:
    conn = engine_for(db).connect(read_only=True)
    try:
        return [tuple(row) for row in conn.execute(
            "SELECT p.id, a.handle, p.thread_id, p.body, p.created_at, p.idempotency_key, gp.persona, gp.run_id "
            "FROM posts p JOIN accounts a ON a.id = p.author_id JOIN gt_accounts g ON g.account_id = p.author_id "
            "LEFT JOIN gt_posts gp ON gp.post_id = p.id ORDER BY p.id").fetchall()]
    finally:
        conn.close()


@SESSION
@pytest.mark.slow
async def test_swarm_on_the_seed_forum_keeps_every_rule_and_records_every_post(tmp_path, rasa_server, forward_actions,
                                                                               embedder, database):
    """On both storage engines: the swarm talks to the forum over HTTP, and its checks read the forum's read side."""
    settings = swarm_settings(tmp_path, rasa_server.url, bots=20, hours=12)
    result, db = await _swarm_on_seed_forum(tmp_path, settings, "seed-run", embedder, forward_actions, db=database)
    posts = _bot_posts(db)
    logged = [r for r in read_log(result.log_path) if r["kind"] == "post"]
    assert result.tally.posts == len(logged) == len(posts) >= 20
    assert result.tally.failures == 0 and not [r for r in read_log(result.log_path) if r["kind"] == "error"]
    assert all(p[6] is not None and p[7] == "seed-run" for p in posts), "every bot post has provenance"
    assert limit_violations(db, PERSONAS, settings.swarm) == []
    assert len(result.tally.threads_joined) >= 10 and result.tally.threads_started >= 1
    assert min(result.tally.join_scores) >= settings.swarm.relevance_threshold
    acts = Counter(r["act"] for r in logged)
    assert len(acts) >= 3, acts  # Rasa chose among several dialogue acts
    # every decision is logged with its reason, and the reasons add up
    decisions = [r for r in read_log(result.log_path) if r["kind"] == "decision"]
    assert len(decisions) == result.tally.decisions
    assert Counter(r["reason"] for r in decisions if not r["joined"]) == +Counter(
        {k: v for k, v in result.tally.skipped.items() if k != "asleep_before_posting"})
    # posts are stamped in forum time: the simulated day, not the few seconds the run took
    times = sorted(datetime.fromisoformat(p[4].replace("Z", "+00:00")) for p in posts)
    assert times[-1] - times[0] > timedelta(hours=4)
    assert result.start <= times[0] and times[-1] <= result.end + timedelta(hours=6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _forum_process(db: Path, port: int, config: Path) -> subprocess.Popen:
    env = {**os.environ, "MURMUR_ADMIN_TOKEN": ADMIN_TOKEN}
    return subprocess.Popen([sys.executable, "-m", "murmur.cli", "--config", str(config), "forum", "--port", str(port),
                             "--db", str(db)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_up(url: str, timeout: float = 60) -> None:
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    async with session.get(url + "/api/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)


@SESSION
@pytest.mark.slow
async def test_forum_killed_mid_run_loses_and_doubles_nothing(tmp_path, rasa_server, forward_actions, embedder):
    settings = swarm_settings(tmp_path, rasa_server.url, bots=20, hours=12)
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"forum": {"limits": {"posts_per_minute": 20, "post_burst": 5}}}))
    db = tmp_path / "forum.db"
    await import_path(SEED_THREADS, db, settings)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _forum_process(db, port, config)
    await _wait_up(url)
    outage: dict[str, object] = {}

    async def kill_once(swarm) -> None:
        nonlocal process
        if "killed_at" not in outage and swarm.tally.posts >= 10:
            process.send_signal(signal.SIGKILL)  # no chance to finish anything: whatever was acknowledged is on disk
            process.wait()
            outage["killed_at"] = swarm.tally.posts

            async def restart() -> None:
                await asyncio.sleep(1.5)
                outage["process"] = _forum_process(db, port, config)

            outage["restart"] = asyncio.create_task(restart())

    try:
        result = await _swarm(settings, url, "outage", embedder, forward_actions, hooks=SwarmHooks(step=kill_once))
    finally:
        for p in (process, outage.get("process")):
            if isinstance(p, subprocess.Popen) and p.poll() is None:
                p.terminate()
                p.wait()
    assert outage.get("killed_at"), "the forum was killed mid-run"
    assert result.tally.posts > outage["killed_at"], "the swarm went on posting after the forum came back"
    posts = _bot_posts(db)
    logged = [r for r in read_log(result.log_path) if r["kind"] == "post"]
    assert sorted(r["key"] for r in logged) == sorted(p[5] for p in posts), "no post lost, none doubled"
    assert len({p[5] for p in posts}) == len(posts)
    assert all(p[6] is not None for p in posts)
    assert result.tally.failures == 0


@SESSION
@pytest.mark.slow
@pytest.mark.timeout(1800)  # on a fresh clone it embeds the corpus's 3,006 threads first (~8 min; the index tests reuse them)
async def test_corpus_swarm_joins_threads_of_its_sites_not_distractors(tmp_path, rasa_server, forward_actions, embedder):
    """The measured run: the shipped forum corpus plus its distractors, and personas written for those sites."""
    settings = swarm_settings(tmp_path, rasa_server.url, bots=12, hours=36)
    db = tmp_path / "corpus.db"
    await import_path(CORPUS_THREADS, db, settings)
    await import_path(CORPUS_DISTRACTORS, db, settings)
    forum = await start_forum(tmp_path, settings, db=db)
    try:
        result = await _swarm(settings, forum.url, "corpus", embedder, forward_actions, personas_dir=CORPUS_PERSONAS)
    finally:
        await stop_forum(forum)
    sites = {p["name"]: p["site"] for p in yaml.safe_load((ROOT / "index" / "corpus_personas.yml").read_text())["site_personas"]}
    quality = join_quality(result.log_path, db, sites, {"history.meta", "bicycles.meta", "beer.meta", "coffee.meta"},
                           settings.swarm.relevance_threshold)
    recalls = {p: f"{len(quality.joined.get(p, set()) & quality.eligible.get(p, set()))}/{len(quality.eligible.get(p, set()))}"
               for p in sorted(sites)}
    print(f"\ncorpus swarm: {quality.joins} joins, on-site {quality.on_site_share:.3f}, "
          f"distractors {quality.distractor_share:.3f}, joined/eligible per persona {recalls}")
    assert quality.joins >= 40
    assert quality.on_site_share >= 0.9
    assert quality.distractor_share <= 0.02
    assert sum(len(v) for v in quality.joined.values()) >= 30
    personas = {p.name: p for p in load_personas(CORPUS_PERSONAS)}
    assert limit_violations(db, personas, settings.swarm) == []
    assert all(p[6] is not None for p in _bot_posts(db))


@SESSION
@pytest.mark.slow
async def test_wall_clock_swarm_answers_a_thread_a_person_opens_mid_run(tmp_path, rasa_server, forward_actions, embedder):
    """Live: the swarm follows the event socket, indexes a person's new thread, and bots who ought to be there join."""
    settings = swarm_settings(tmp_path, rasa_server.url, bots=20, hours=25 / 3600, clock="wall", scan_every_minutes=600,
                              reply_delay_minutes=[0.05, 0.1], join_probability=1.0, relevance_threshold=0.5)
    forum = await _seed_forum(tmp_path, settings)
    person = await forum.account("new_person")
    opened: dict[str, int] = {}

    async def open_a_thread(swarm) -> None:
        if "thread" not in opened:
            made = await person.create_thread("Why does my espresso shot run so fast and taste sour?",
                                              "Fresh beans, 18 g in, 36 g out in 15 seconds. Grind finer, or is it the tamp?")
            opened["thread"] = made["thread"]["id"]

    try:
        result = await _swarm(settings, forum.url, "live", embedder, forward_actions, hooks=SwarmHooks(step=open_a_thread))
        replies = (await forum.anonymous.get_thread(opened["thread"]))["posts"][1:]
    finally:
        await stop_forum(forum)
    decisions = [r for r in read_log(result.log_path) if r["kind"] == "decision" and r["thread"] == opened["thread"]]
    assert decisions and {r["source"] for r in decisions} >= {"event"}
    joined = {r["bot"] for r in decisions if r["joined"]}
    assert joined and joined <= {"espresso-nerd", "espresso-pragmatist"} | {r["bot"] for r in decisions}
    assert any(r["bot"].startswith("espresso") for r in decisions if r["score"] >= 0.5), decisions
    assert replies and {p["author"]["handle"] for p in replies} <= joined
    assert len(replies) <= settings.swarm.max_consecutive_bot_posts


def test_fitted_bots_answer_a_post_at_the_peoples_latencies():
    import random

    import numpy as np

    from bots.swarm.timing import FittedTiming

    people = np.random.default_rng(0).lognormal(np.log(220.0), 1.6, 4000)  # minutes: a median of 3.7 h, a long tail
    timing = FittedTiming(5, 0.0, tuple([1.0] * 24), people, 0.5)  # around every hour
    rng = random.Random(3)
    latencies = []
    for _ in range(2000):  # a post the bot sees when it is made, then every 90 minutes, until it answers
        age = 0.0
        while not timing.answers(age, rng, 90.0):
            age += 90.0
        latencies.append(age + timing.reply_delay(rng, age, 90.0))
    grid = np.quantile(people, np.linspace(0.02, 0.98, 49))
    ks = max(abs(np.mean(np.asarray(latencies) <= g) - np.mean(people <= g)) for g in grid)
    assert ks < 0.05, ks  # the bot's replies come when the people's do
    assert not timing.answers(1e9, rng, 90.0)  # later than anyone ever answered: never
    bot = _bot()
    bot.timing = timing
    now = _noon(bot)
    old = ThreadState(1, "t", [SeenPost(1, 1, "x", (now - timedelta(days=300)).isoformat())])
    policy = JoinPolicy(SwarmSettings(join_probability=1.0), 7)
    assert policy.decide(bot, old, 0.9, now, {}).reason == "thread_age"
    fresh = [policy.decide(bot, ThreadState(i, "t", [SeenPost(1, 1, "x", (now - timedelta(minutes=1)).isoformat())]),
                           0.9, now, {}).reason for i in range(2, 60)]
    assert 0.1 < fresh.count("joined") / len(fresh) < 0.6  # a fresh post: the people's share answered within the scan
    assert timing.answers(0.0, rng, 1e9)  # a bot that looks once, ever, answers a fresh post: every reply comes by then
