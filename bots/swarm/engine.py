"""Swarm: persona bots that follow the test forum, find the threads they ought to be in, and join them.

A run is a discrete-event simulation over forum time. Each step (``tick_s``
of forum time) has two phases:

1. In a fixed order (time, then arrival), due posts are committed to the
   forum, bots search for threads (persona -> threads), every new post asks
   who ought to be in that thread (thread -> personas), and the join policy
   decides each candidate. Decisions are cheap and sequential, so caps hold.
2. The bots that joined read the thread and take their turn concurrently:
   Rasa picks the act, the ReplyGenerator writes it (bounded by
   ``rasa.concurrency``). Each reply is posted after a human-plausible delay.

Every random draw is seeded by (seed, bot, thread, time), and turns see the
forum as phase 1 left it, so on a simulated clock the same seed and inputs
give the same run. Provenance is recorded before each post under the post's
idempotency key, so every bot post has it and a retried post is never doubled.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bots.personas import Persona
from bots.settings import SwarmSettings
from bots.swarm.bots import HANDLE_MAX, Bot, make_bots
from bots.swarm.campaign import CampaignPlan
from bots.swarm.clock import Clock, SimulatedClock, WallClock
from bots.swarm.errors import SwarmError
from bots.swarm.forum_view import SeenPost, ThreadState, thread_from_api
from bots.swarm.hooks import SwarmHooks
from bots.swarm.patient_forum import PatientForum
from bots.swarm.pending import Option, PendingPost, Written
from bots.swarm.policy import JoinPolicy, draw
from bots.swarm.population import Budget
from bots.swarm.progress import Progress, Tally, summary_table
from bots.swarm.replay import ReplayPost, replay_chunks
from bots.swarm.runlog import RunLog
from bots.swarm.spec import Dialogue, RunSpec, SwarmParts
from bots.swarm.timing import PersonaTiming, Timing
from conversations.client import ForumClient, ForumClientError
from conversations.models import format_time, parse_time
from core.errors import MurmurError
from index.documents import MAX_REPLIES, thread_vectors

__all__ = ["Dialogue", "RunSpec", "Swarm", "SwarmError", "SwarmParts", "SwarmResult"]

log = logging.getLogger("murmur.swarm")

TURN_RETRIES = 1            # a failed turn (Rasa, generator) is tried again once, then skipped
WALL_STEP = timedelta(seconds=1)


@dataclass(order=True)
class _Due:
    """One entry of the run's queue: a bot's search, a bot's post, or a person's replayed post."""

    at: datetime
    order: int
    kind: str = field(compare=False)  # "scan", "post" (a bot's), "replay" (a person's, from the replayed corpus)
    # or "follow" (a campaign amplifier's turn to answer a driver's post)
    bot: Bot | None = field(compare=False)
    post: PendingPost | None = field(compare=False, default=None)  # kind "post"
    replayed: ReplayPost | None = field(compare=False, default=None)  # kind "replay"
    follow: tuple[ThreadState, int] | None = field(compare=False, default=None)  # kind "follow": thread, post id


@dataclass
class _Job:
    """A bot's turn to take in phase 2."""

    at: datetime
    bot: Bot
    kind: str  # "reply" or "open"
    thread: ThreadState | None = None
    score: float = 0.0
    reason: str = ""
    interest: str = ""
    campaign: bool = False  # an on-goal turn of a campaign account: bank words on the campaign's side only
    target_id: int | None = None  # the post to answer (a driver's, for an amplifier); None: the latest by another


@dataclass
class SwarmResult:
    run_id: str
    seed: int
    log_path: Path
    start: datetime
    end: datetime
    bots: int
    tally: Tally
    wall_seconds: float
    seconds_in: dict[str, float]  # rasa, embedding, matching, forum

    def summary(self) -> str:
        t = self.tally
        relevance = f"{np.mean(t.join_scores):.3f}" if t.join_scores else "-"
        skipped = ", ".join(f"{reason} {count}" for reason, count in t.skipped.most_common()) or "-"
        rows = [
            ("run", f"{self.run_id} (seed {self.seed})"),
            ("forum time", f"{format_time(self.start)[:16]} -> {format_time(self.end)[:16]} UTC"),
            ("bots", f"{self.bots} ({len(t.active_bots)} posted)"),
            ("decisions", f"{t.decisions} ({t.joins} joined)"),
            ("skipped", skipped),
            ("turns", f"{t.turns} ({t.silent} stayed silent)"),
            ("posts", f"{t.posts} ({t.threads_started} new threads)"
                      + (f"; {t.replayed} people's posts replayed beside them" if t.replayed else "")),
            ("threads joined", f"{len(t.threads_joined)}"),
            ("mean relevance of joins", relevance),
            ("failures", f"{t.failures} (logged; the bots went on)"),
            ("wall time", f"{self.wall_seconds:.1f} s ({t.posts / max(self.wall_seconds, 1e-9):.1f} posts/s)"),
            ("run log", str(self.log_path)),
        ]
        return summary_table(rows)


class Swarm:
    """One run of persona bots on a forum: ``parts`` do the work, ``spec`` says which run this is."""

    def __init__(self, admin: ForumClient, personas: list[Persona], threads: dict[int, ThreadState], latest_seq: int,
                 *, parts: SwarmParts, spec: RunSpec, settings: SwarmSettings, progress: bool = True,
                 hooks: SwarmHooks | None = None) -> None:
        self.admin = admin
        self.forum = PatientForum()
        self.settings = settings
        self.seed = spec.seed
        self.run_id = spec.run_id
        self.threads = threads
        self.latest_seq = latest_seq
        self.dialogue = parts.dialogue
        self.generator = parts.generator
        self.embedder = parts.embedder
        self.index = parts.index
        self.matcher = parts.matcher
        self.personas = {p.name: p for p in personas}
        self.replay = spec.replay
        self.people = spec.people
        self.population = spec.population
        self._handles_used: set[str] = set()
        self.bots = make_bots(personas, settings.bots if spec.bots is None else spec.bots, self._timing_for,
                              self._accounts())
        self.campaign_words = parts.campaign_words
        self.plan = self._campaign(spec) if spec.campaign is not None else None
        self.bots_of: dict[str, list[Bot]] = defaultdict(list)
        for bot in self.bots:
            self.bots_of[bot.persona.name].append(bot)
        self.hours = settings.hours if spec.hours is None else spec.hours
        self.clock_kind = spec.clock or settings.clock
        self.policy = JoinPolicy(settings, self.seed, {b.name: b.persona.name for b in self.bots})
        self.log = RunLog(spec.log_path)
        self.log_path = Path(spec.log_path)
        self.progress_enabled = progress
        self.hooks = hooks or SwarmHooks()
        self.tally = Tally()
        self.seconds_in: defaultdict[str, float] = defaultdict(float)
        self.bot_accounts: dict[int, str] = {}  # account id -> bot name
        self.known_posts: set[int] = set()  # posts the swarm made or replayed itself: their events are echoes
        self.session = f"{time.time_ns():x}"  # Rasa's memory of this process's conversations only
        self._queue: list[_Due] = []
        self._order = itertools.count()
        self._external: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.clock: Clock = WallClock()
        if self.hooks.ready is not None:
            self.hooks.ready(self)

    # -- the run ------------------------------------------------------------------------------------------

    async def run(self) -> SwarmResult:
        started = time.perf_counter()
        start = self._start_time()
        self.clock = SimulatedClock(start) if self.clock_kind == "simulated" else WallClock()
        end = self.replay.until if self.replay else start + timedelta(hours=self.hours)
        replay = {"replay": self.replay.record()} if self.replay else {}
        self.log.write("run", run_id=self.run_id, seed=self.seed, bots=len(self.bots),
                       hours=(end - start).total_seconds() / 3600, clock=self.clock_kind, start=format_time(start),
                       personas=sorted(self.personas), generator=self.generator.name, threads=len(self.threads),
                       behaviour=self.settings.behaviour, population=self.settings.population,
                       budgets={b.name: b.budget for b in self.bots if b.budget is not None},
                       **({"openings": {b.name: b.openings for b in self.bots}}
                          if any(b.openings is not None for b in self.bots) else {}), **replay,
                       **({"campaign": self.plan.campaign.model_dump(mode="json")} if self.plan else {}))
        for post in self.replay.posts if self.replay else ():
            self._schedule(post.at, "replay", None, replayed=post)
        for bot in self.bots:
            offset = draw(self.seed, "first-scan", bot.name).random() * self.settings.scan_every_minutes
            self._schedule(start + timedelta(minutes=offset), "scan", bot)
        follower = asyncio.create_task(self._follow())
        progress = Progress(start, end, enabled=self.progress_enabled)
        try:
            while self._running(end):
                if self.clock.simulated:
                    step_start = self._queue[0].at
                    step_end = min(step_start + timedelta(seconds=self.settings.tick_s), end)
                else:  # wake at least every WALL_STEP, so people's posts are answered while the bots wait
                    step_start = min(self._queue[0].at if self._queue else end, self.clock.now() + WALL_STEP)
                    step_end = step_start + WALL_STEP
                await self.clock.wait_until(step_start)
                jobs = await self._phase_one(step_end)
                jobs += await self._external_events(step_start)
                await self._phase_two(jobs)
                progress.update(self.clock.now(), self.tally)
                self.log.flush()
                if self.hooks.step is not None:
                    await self.hooks.step(self)
            await self.clock.wait_until(end)
            progress.update(end, self.tally)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            progress.close()
            self.log.write("summary", posts=self.tally.posts, decisions=self.tally.decisions, joins=self.tally.joins,
                           skipped=dict(sorted(self.tally.skipped.items())), threads_started=self.tally.threads_started,
                           threads_joined=len(self.tally.threads_joined), failures=self.tally.failures)
            self.log.close()
        self.seconds_in["forum"] = self.forum.seconds
        if self.hooks.finished is not None:
            self.hooks.finished(self)
        return SwarmResult(self.run_id, self.seed, self.log_path, start, end, len(self.bots), self.tally,
                           time.perf_counter() - started, self.seconds_in)

    def _running(self, end: datetime) -> bool:
        if self.clock.simulated:
            return bool(self._queue) and self._queue[0].at < end
        return self.clock.now() < end

    def _start_time(self) -> datetime:
        if self.clock_kind == "wall":
            return datetime.now(timezone.utc)
        if self.replay:
            return self.replay.start
        if self.settings.start:
            return parse_time(self.settings.start)
        latest = max((parse_time(p.created_at) for t in self.threads.values() for p in t.posts[-1:]),
                     default=datetime(2026, 1, 1, tzinfo=timezone.utc))
        return (latest + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)

    def _schedule(self, at: datetime, kind: str, bot: Bot | None, *, post: PendingPost | None = None,
                  replayed: ReplayPost | None = None, follow: tuple[ThreadState, int] | None = None) -> None:
        heapq.heappush(self._queue, _Due(at, next(self._order), kind, bot, post, replayed, follow))

    def _accounts(self) -> Callable[[int], tuple[str, Budget]] | None:
        """With ``swarm.population: people``, each bot's handle and posts over the run, drawn from the people."""
        if self.settings.population != "people":
            return None
        population = self.population
        if population is None:
            raise SwarmError("swarm.population: people needs the forum's people to draw accounts from; "
                             "replay or import a corpus, or use population: persona")
        used = self._handles_used
        return lambda i: (population.handle(draw(self.seed, "handle", i), used),
                          population.budget(draw(self.seed, "budget", i)))

    def _campaign(self, spec: RunSpec) -> CampaignPlan:
        """The campaign's accounts, made beside the bots as they are (their volumes drawn from the people, where
        ``population: people``), and its plan."""
        campaign = spec.campaign
        assert campaign is not None
        if self.campaign_words is None:
            raise SwarmError("a campaign speaks only in the reply bank's human replies on its side; run it with the "
                             "bank generator (generator: bank)")
        names = campaign.personas or tuple(p for p in campaign.audience.personas if p in self.personas) \
            or tuple(sorted(self.personas))
        unknown = [n for n in (*names, *campaign.audience.personas) if n not in self.personas]
        if unknown:
            raise SwarmError(f"campaign {campaign.id!r}: no persona named {', '.join(map(repr, unknown))} in this run; "
                             f"known: {', '.join(sorted(self.personas))}")
        personas = [self.personas[n] for n in names]
        taken = {b.name for b in self.bots}
        population = self.population if self.settings.population == "people" else None

        def account(i: int) -> tuple[str, Budget | None]:
            if population is not None:
                return (population.handle(draw(self.seed, "campaign-handle", campaign.id, i), self._handles_used),
                        population.budget(draw(self.seed, "campaign-budget", campaign.id, i)))
            base, n = personas[i % len(personas)].name, 2
            while (name := f"{base[:HANDLE_MAX - len(str(n)) - 1]}-{n}") in taken:
                n += 1
            taken.add(name)
            return name, None

        plan = CampaignPlan(campaign, self.seed)
        made = make_bots(personas, campaign.accounts, self._timing_for, account)  # type: ignore[arg-type]
        for bot, role in zip(made, campaign.roles_in_order()):
            plan.add(bot, role)
        self.bots += made
        return plan

    def _timing_for(self, name: str, persona: Persona) -> Timing:
        """The bot's behaviour: its persona's schedule, or drawn from the forum's people (swarm.behaviour: fitted)."""
        if self.settings.behaviour == "fitted":
            if self.people is None or not self.people.enough:
                raise SwarmError("swarm.behaviour: fitted needs a forum with people to fit (at least 5 who posted twice "
                                 "and replied); replay a corpus or use behaviour: persona")
            return self.people.draw(draw(self.seed, "timing", name))
        low, median = self.settings.reply_delay_minutes
        return PersonaTiming(persona, (low, median))

    async def _account(self, bot: Bot, first_post: datetime) -> None:
        """The bot's account, made just before its first post and dated in forum time: never after its own posts."""
        created = None
        if self.clock.simulated:
            if self.settings.account_age_days is not None:
                low, high = self.settings.account_age_days
                age = draw(self.seed, "account-age", bot.name).uniform(low, high) * 86400
            else:
                age = self.people.account_age(draw(self.seed, "account-age", bot.name)) if self.people else 0.0
            created = format_time(first_post - timedelta(seconds=age))
        data = await self.forum(lambda: self.admin.create_bot_account(
            bot.name, persona=bot.persona.name, run_id=self.run_id, generator=self.generator.name,
            display_name=bot.name if self.population is not None else bot.persona.shown_name, created_at=created,
            campaign_id=bot.campaign, role=bot.role))
        bot.account_id, bot.token = data["account"]["id"], data["token"]
        self.bot_accounts[bot.account_id] = bot.name
        campaign = {"campaign": bot.campaign, "role": bot.role} if bot.campaign else {}
        self.log.write("bot", bot=bot.name, persona=bot.persona.name, account_id=bot.account_id, reused=data["reused"],
                       created_at=data["account"]["created_at"], **campaign)

    # -- phase 1: posts, searches and decisions, in order ---------------------------------------------

    async def _phase_one(self, step_end: datetime) -> list[_Job]:
        jobs: list[_Job] = []
        while self._queue and self._queue[0].at < step_end:
            due = heapq.heappop(self._queue)
            if due.kind == "post":
                jobs += await self._commit(due)
            elif due.kind == "replay":
                batch = [due]
                while self._queue and self._queue[0].kind == "replay" and self._queue[0].at < step_end:
                    batch.append(heapq.heappop(self._queue))  # people's posts due one after another: one request
                jobs += await self._replayed([d.replayed for d in batch if d.replayed is not None])
            elif due.kind == "follow" and due.bot is not None:
                jobs += self._follow_driver(due)
            elif due.bot is not None:
                jobs += self._scan(due.bot, due.at)
        return jobs

    async def _replayed(self, posts: list[ReplayPost]) -> list[_Job]:
        """People's posts enter the forum now, at their own times; the swarm sees them as the forum does."""
        events = []
        for chunk in replay_chunks(posts):
            answer = await self.forum(functools.partial(self.admin.replay, chunk))
            events += answer["events"]
            self.tally.replayed += answer["posts_added"]
            held = answer["posts_skipped"] - self._openings(chunk)
            if held:  # the forum had them before their time: a forum that was not fresh for this replay
                self.tally.skipped["replay_already_in_forum"] += held
        changed: dict[int, ThreadState] = {}
        for event in events:
            post = event["post"]
            thread = self.threads.get(event["thread"]["id"]) or ThreadState(event["thread"]["id"], event["thread"]["title"])
            self.threads[thread.id] = thread
            thread.posts.append(SeenPost(post["id"], post["author"]["id"], post["body"], post["created_at"],
                                         post.get("parent_id"), post["author"]["created_at"]))
            self.known_posts.add(post["id"])
            changed[thread.id] = thread
        self.generator.observe([e["post"]["body"] for e in events])
        now = posts[-1].at
        jobs: list[_Job] = []
        for thread in changed.values():
            await self._reindex(thread)
            jobs += self._react(thread, now, "replay")
        return jobs

    @staticmethod
    def _openings(chunk: list[dict[str, Any]]) -> int:
        """Opening posts sent along with a reply (so it keeps its parent) that the forum holds already, as it should."""
        return sum(len(record["posts"]) - 1 for record in chunk)

    def _scan(self, bot: Bot, now: datetime) -> list[_Job]:
        rng = draw(self.seed, "scan", bot.name, now.isoformat())
        self._schedule(now + timedelta(minutes=self.settings.scan_every_minutes * rng.uniform(0.75, 1.25)), "scan", bot)
        if self.plan is not None and bot.role == "driver" and self.plan.on_goal(bot, now):
            return self._drive(bot, now)
        if rng.random() < self.settings.new_thread_share and bot.may_open():  # an account of askers' share opens
            blocked = self.policy.can_post(bot, now, "open")
            self._decided(now, bot, None, 0.0, "open", blocked or "joined", source="scan")
            if blocked is None:
                bot.busy_until = now
                return [_Job(now, bot, "open", interest=rng.choice(bot.persona.interests))]
            return []
        blocked = self.policy.can_post(bot, now)
        if blocked:  # nothing to search for: one decision says why
            self._decided(now, bot, None, 0.0, "", blocked, source="scan")
            return []
        started = time.perf_counter()
        matches = self.matcher.threads_for(bot.persona.name, self.settings.candidates)
        self.seconds_in["matching"] += time.perf_counter() - started
        for match in matches:  # best first: the bot reads down the list until it joins one or the rest are off-topic
            thread = self.threads.get(match.thread_id)
            if thread is None:
                continue
            jobs = self._consider(bot, thread, match.score, match.reason, now, "scan")
            if jobs or match.score < self.settings.relevance_threshold:
                return jobs
        return []

    def _drive(self, bot: Bot, now: datetime) -> list[_Job]:
        """A driver's on-goal scan: the thread its audience is expected in, which no driver has gone to yet."""
        assert self.plan is not None
        blocked = self.policy.can_post(bot, now)
        target = None if blocked else self.plan.target(self.matcher, self.threads, now)
        if target is None:
            self._decided(now, bot, None, 0.0, "", blocked or "no_campaign_target", source="campaign")
            return []
        thread = self.threads[target.thread_id]
        self.plan.driven.add(thread.id)
        self._decided(now, bot, thread.id, target.score, target.reason, "joined", source="campaign")
        bot.busy_until = now
        thread.pending.add(bot.name)
        return [_Job(now, bot, "reply", thread, target.score, target.reason, campaign=True)]

    def _follow_driver(self, due: _Due) -> list[_Job]:
        """An amplifier's turn to answer a driver's post, at the campaign's delay: it keeps no schedule of its own."""
        bot, now = due.bot, due.at
        assert bot is not None and due.follow is not None
        thread, post_id = due.follow
        blocked = "busy" if bot.busy_until is not None else None if bot.may_reply() else "reply_budget"
        self._decided(now, bot, thread.id, 1.0, "follows a driver", blocked or "joined", source="campaign")
        if blocked:
            return []
        bot.busy_until = now
        thread.pending.add(bot.name)
        return [_Job(now, bot, "reply", thread, 1.0, "follows a driver", campaign=True, target_id=post_id)]

    def _consider(self, bot: Bot, thread: ThreadState, score: float, reason: str, now: datetime, source: str) -> list[_Job]:
        decision = self.policy.decide(bot, thread, score, now, self.bot_accounts)
        self._decided(now, bot, thread.id, score, reason, decision.reason, source=source)
        if not decision.joined:
            return []
        bot.busy_until = now
        thread.pending.add(bot.name)
        return [_Job(now, bot, "reply", thread, score, reason)]

    def _decided(self, now: datetime, bot: Bot, thread_id: int | None, score: float, interest: str, outcome: str,
                 source: str) -> None:
        self.tally.decisions += 1
        if outcome == "joined":
            self.tally.joins += 1
        else:
            self.tally.skipped[outcome] += 1
        self.log.write("decision", t=format_time(now), bot=bot.name, thread=thread_id, score=round(score, 4),
                       interest=interest, source=source, joined=outcome == "joined", reason=outcome)

    def _react(self, thread: ThreadState, now: datetime, source: str) -> list[_Job]:
        """Who ought to be in this thread, now that it changed: each of their bots is decided on."""
        started = time.perf_counter()
        matches = self.matcher.personas_for(thread.id, self.settings.candidates)
        self.seconds_in["matching"] += time.perf_counter() - started
        jobs = []
        for match in matches:  # best first
            # a persona's accounts with the most of their replies still to make go first: the order the accounts
            # were made in must not decide whose drawn budget is spent (a one-post account would lose every time)
            for bot in sorted(self.bots_of.get(match.persona, ()), key=lambda b: -b.replies_left_share()):
                jobs += self._consider(bot, thread, match.score, match.reason, now, source)
                if match.score < self.settings.relevance_threshold:
                    return jobs  # this persona and every one after it are off-topic here: one decision says so
        return jobs

    async def _commit(self, due: _Due) -> list[_Job]:
        """Post a written reply (or open a thread), with its provenance recorded first."""
        bot, now, pending = due.bot, due.at, due.post
        assert bot is not None and pending is not None
        written, thread = pending.written, pending.thread
        if not bot.account_id:
            await self._account(bot, now)
        bot.posts_made += 1
        key = f"{self.run_id}:{bot.name}:{bot.posts_made}"
        account = self.admin.with_token(bot.token)
        at = format_time(now) if self.clock.simulated else None
        extra: dict[str, Any] = {"bot": bot.name, "interest": pending.interest}
        if thread:
            extra["thread_id"] = thread.id
        if written.source:
            extra["source"] = written.source  # the bank's record of the words: ground truth, never public
        try:
            campaign = {"campaign": {"id": bot.campaign, "role": bot.role}} if pending.campaign else {}
            await self.forum(lambda: self.admin.record_provenance(
                persona=bot.persona.name, run_id=self.run_id, generator=self.generator.name, action=written.act,
                score=round(pending.score, 4), extra=extra, account_id=bot.account_id, idempotency_key=key, **campaign))
            if thread is None:
                made = await self.forum(lambda: account.create_thread(written.title or "", written.text,
                                                                     list(written.tags), idempotency_key=key, at=at))
                post = made["post"]
                thread = ThreadState(made["thread"]["id"], made["thread"]["title"])
                self.threads[thread.id] = thread
                self.tally.threads_started += 1
                bot.opened += 1
            else:
                post = await self.forum(functools.partial(account.reply, thread.id, written.text, written.parent_id,
                                                          idempotency_key=key, at=at))
        except ForumClientError as exc:  # refused (e.g. 429, a thread gone): this post is skipped, the run goes on
            self._release(bot, thread)
            self._failed(now, bot, thread.id if thread else None, f"forum refused the post: {exc}")
            return []
        self._release(bot, thread)
        self.generator.observe([written.text])  # a bank text that shares a run with a bot's post is used up too
        thread.posts.append(SeenPost(post["id"], bot.account_id, written.text, post["created_at"], post.get("parent_id")))
        self.known_posts.add(post["id"])
        bot.count_post(now, thread.id)
        self.tally.posts += 1
        self.tally.active_bots.add(bot.name)
        self.tally.threads_joined.add(thread.id)
        if written.act != "open":
            self.tally.join_scores.append(pending.score)
        origin: dict[str, Any] = {"source": written.source} if written.source else {}
        if written.sources:
            origin["sources"] = list(written.sources)  # forum threads the words were taken from (splice)
        if pending.campaign:
            origin |= {"campaign": bot.campaign, "role": bot.role}
        self.log.write("post", t=format_time(now), bot=bot.name, persona=bot.persona.name, thread=thread.id,
                       post_id=post["id"], parent_id=post.get("parent_id"), act=written.act, key=key,
                       score=round(pending.score, 4), chars=len(written.text), **origin)
        await self._reindex(thread)
        if pending.campaign and bot.role == "driver" and self.plan is not None:
            for amplifier in self.plan.followers(post["id"]):
                self._schedule(self.plan.follow_at(amplifier, post["id"], now), "follow", amplifier,
                               follow=(thread, post["id"]))
        return self._react(thread, now, "post")

    # -- phase 2: turns, concurrently -------------------------------------------------------------------

    async def _phase_two(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        began = time.perf_counter()
        outcomes = await asyncio.gather(*(self._turn(job) for job in jobs))
        if self.hooks.turns is not None:
            self.hooks.turns(len(jobs), time.perf_counter() - began)
        for job, outcome in zip(jobs, outcomes):  # in decision order: the run does not depend on which finished first
            self._after_turn(job, outcome)

    async def _turn(self, job: _Job) -> Written | Exception:
        """One bot's turn; a failure of any kind is that bot's, returned to be logged, never the swarm's end."""
        for attempt in range(TURN_RETRIES + 1):
            try:
                return await (self._open(job) if job.kind == "open" else self._reply(job))
            except MurmurError as exc:
                if attempt == TURN_RETRIES:
                    return exc
                await asyncio.sleep(0.2)
            except Exception as exc:  # a bug or a library's own error: logged with its type, the other bots go on
                log.exception("bot %s: unexpected error in its turn", job.bot.name)
                return RuntimeError(f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    async def _reply(self, job: _Job) -> Written:
        bot, thread = job.bot, job.thread
        assert thread is not None
        if job.campaign:
            return self._on_side(job)
        target = thread.last_human_or_other(bot.account_id)
        if target is None:
            return Written("stay_silent", "")
        started = time.perf_counter()
        opening = thread.posts[0].body if thread.posts else None
        turn = await self.dialogue.respond(bot.persona, f"{self.run_id}:{bot.name}:{thread.id}", target.body,
                                           thread_title=thread.title, thread_id=thread.id, thread_opening=opening,
                                           claim=False, session=self.session)
        self.seconds_in["rasa"] += time.perf_counter() - started
        options = tuple(Option(text.strip(), source) for text, source in turn.alternatives)
        return Written(turn.act, turn.text.strip(), parent_id=target.id, options=options, source=turn.source,
                       reason=turn.reason, sources=tuple(turn.sources))

    def _on_side(self, job: _Job) -> Written:
        """A campaign reply: the bank's human replies on the campaign's side that best fit the post it answers."""
        thread, words = job.thread, self.campaign_words
        assert thread is not None and words is not None
        target = next((p for p in thread.posts if p.id == job.target_id), None) if job.target_id else \
            thread.last_human_or_other(job.bot.account_id)
        if target is None:
            return Written("stay_silent", "")
        act = "agree" if job.bot.role == "amplifier" else "reply"
        options = words.options(target.body)
        if not options:
            return Written(act, "", reason="no_reply_on_side")
        return Written(act, options[0].text, parent_id=target.id, options=options, source=options[0].source)

    async def _open(self, job: _Job) -> Written:
        bot = job.bot
        started = time.perf_counter()
        opening = await self.generator.open_thread(bot.persona, job.interest,
                                                   f"{self.run_id}:{bot.name}:open:{job.at.isoformat()}")
        self.seconds_in["generation"] += time.perf_counter() - started
        if opening is None:
            return Written("open", "", reason="nothing_relevant_to_say")
        options = tuple(Option(o.body.strip(), o.source, o.title, tuple(o.tags)) for o in opening.alternatives)
        return Written("open", opening.body.strip(), title=opening.title, tags=tuple(opening.tags),
                       source=opening.source, options=options)

    def _after_turn(self, job: _Job, outcome: Written | Exception) -> None:
        bot, thread = job.bot, job.thread
        thread_id = thread.id if thread else None
        if isinstance(outcome, Exception):
            self._release(bot, thread)
            self._failed(job.at, bot, thread_id, str(outcome))
            return
        self.tally.turns += 1
        outcome = self._claimed(outcome, job.campaign)
        reason = {"reason": outcome.reason} if not outcome.text and outcome.reason else {}
        self.log.write("turn", t=format_time(job.at), bot=bot.name, thread=thread_id, act=outcome.act, **reason)
        if not outcome.text:
            self.tally.silent += 1
            if outcome.reason:
                self.tally.skipped[outcome.reason] += 1
            self._release(bot, thread)
            return
        following = job.campaign and job.target_id is not None  # an amplifier posts at the campaign's delay
        if following:
            post_at = job.at
        else:
            rng = draw(self.seed, "delay", bot.name, thread_id, job.at.isoformat())
            delay = bot.timing.reply_delay(rng, self._waited(thread, outcome, job.at), self.settings.scan_every_minutes)
            post_at = job.at + timedelta(minutes=delay)
        if not following and not bot.timing.posts_at(post_at):  # the active hours ended while writing: the reply is never sent
            self.tally.skipped["asleep_before_posting"] += 1
            self.log.write("turn_dropped", t=format_time(post_at), bot=bot.name, thread=thread_id, reason="asleep")
            self._release(bot, thread)
            return
        bot.busy_until = post_at
        self._schedule(post_at, "post", bot,
                       post=PendingPost(outcome, thread, job.score, job.reason or job.interest, job.campaign))

    @staticmethod
    def _waited(thread: ThreadState | None, outcome: Written, now: datetime) -> float:
        """Minutes the post being answered has waited by ``now`` (0 for a new thread)."""
        parent = outcome.parent_id
        answered = next((p for p in thread.posts if p.id == parent), None) if thread and parent else None
        if answered is None or not answered.created_at:
            return 0.0
        return max(0.0, (now - parse_time(answered.created_at)).total_seconds() / 60)

    def _claimed(self, outcome: Written, campaign: bool = False) -> Written:
        """The first of a turn's offered replies still free, claimed in decision order so runs stay reproducible."""
        if not outcome.options or not outcome.text:
            return outcome
        words = self.campaign_words if campaign else None
        chosen = words.claim(outcome.options) if words is not None else self.generator.claim(outcome.options)
        if chosen is None:
            return outcome.silent("reply_taken")
        return outcome.taking(chosen)

    @staticmethod
    def _release(bot: Bot, thread: ThreadState | None) -> None:
        """The bot is no longer writing, and no reply of its is on its way to the thread."""
        bot.busy_until = None
        if thread is not None:
            thread.pending.discard(bot.name)

    def _failed(self, now: datetime, bot: Bot, thread_id: int | None, error: str) -> None:
        bot.failures += 1
        self.tally.failures += 1
        log.warning("bot %s: %s (skipped; the swarm goes on)", bot.name, error)
        self.log.write("error", t=format_time(now), bot=bot.name, thread=thread_id, error=error[:500], then="skip")

    # -- the index and the forum ---------------------------------------------------------------------------

    async def _reindex(self, thread: ThreadState) -> None:
        """Embed and upsert a changed thread, unless the change is a reply past the ones its vector is made of."""
        if len(thread.posts) > MAX_REPLIES + 1:
            return
        started = time.perf_counter()
        vectors = await asyncio.to_thread(thread_vectors, self.embedder, [thread.text()])
        self.seconds_in["embedding"] += time.perf_counter() - started
        started = time.perf_counter()
        self.index.upsert([thread.id], vectors)
        self.seconds_in["matching"] += time.perf_counter() - started

    async def _follow(self) -> None:
        """Events from others (people on the forum's pages, other swarms), resumed from the last one seen."""
        async for event in self.admin.follow(since=self.latest_seq):
            self.latest_seq = event["seq"]
            await self._external.put(event)

    async def _external_events(self, now: datetime) -> list[_Job]:
        """Threads that others changed: read them again, re-index them, and ask who ought to be there."""
        changed: dict[int, None] = {}
        fresh: list[str] = []
        while not self._external.empty():
            event = self._external.get_nowait()
            if event["post"]["id"] not in self.known_posts:
                changed[event["thread"]["id"]] = None
                fresh.append(event["post"]["body"])
        if fresh:
            self.generator.observe(fresh)  # words now in the forum: the generator never repeats them
        jobs: list[_Job] = []
        for thread_id in changed:
            try:
                state = thread_from_api(await self.forum(functools.partial(self.admin.get_thread, thread_id)))
            except ForumClientError as exc:
                log.warning("thread %s could not be read (%s)", thread_id, exc)
                continue
            if thread_id in self.threads:
                state.pending = self.threads[thread_id].pending
            self.threads[thread_id] = state
            await self._reindex(state)
            jobs += self._react(state, now, "event")
        return jobs
