"""How well a swarm run did, from its run log and the forum database: relevance of joins, and rule-keeping.

Used by the tests, the benchmark and the demo's summary. Reads the forum
through its read side (``conversations.snapshot``): thread sites come from the
ids imported threads keep (``site:question``), bot posts from the ground truth.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bots.personas import Persona
from bots.settings import SwarmSettings
from bots.swarm.bots import active_at
from bots.swarm.runlog import read_log
from conversations.models import parse_time
from conversations.snapshot import ForumSnapshot, PostByAccount


@dataclass
class JoinQuality:
    joins: int = 0  # replies by bots in threads people started
    on_site: int = 0  # ... in a thread of the persona's own site
    in_distractors: int = 0  # ... in a distractor (meta) thread
    in_bot_threads: int = 0  # replies in threads bots opened (no site)
    eligible: dict[str, set[int]] = field(default_factory=dict)  # persona -> on-site threads it found above threshold
    joined: dict[str, set[int]] = field(default_factory=dict)  # persona -> threads it replied in

    @property
    def on_site_share(self) -> float:
        return self.on_site / self.joins if self.joins else 0.0

    @property
    def distractor_share(self) -> float:
        return self.in_distractors / self.joins if self.joins else 0.0

    def recall(self, persona: str) -> float:
        eligible = self.eligible.get(persona, set())
        return len(eligible & self.joined.get(persona, set())) / len(eligible) if eligible else 0.0


def thread_sites(db: Path) -> dict[int, str | None]:
    with ForumSnapshot.open(db) as forum:
        return forum.thread_sites()


def join_quality(log_path: Path, db: Path, persona_sites: dict[str, str], distractor_sites: set[str],
                 threshold: float) -> JoinQuality:
    """Where the bots' replies landed, per persona, against the site each persona was written for."""
    sites = thread_sites(db)
    quality = JoinQuality()
    for record in read_log(log_path):
        if record["kind"] == "decision" and record["thread"] is not None and record["score"] >= threshold:
            persona = _persona_of(record["bot"], persona_sites)
            if persona and sites.get(record["thread"]) == persona_sites[persona]:
                quality.eligible.setdefault(persona, set()).add(record["thread"])
        if record["kind"] != "post" or record["act"] == "open":
            continue
        persona_site = persona_sites.get(record["persona"])
        site = sites.get(record["thread"])
        if site is None:
            quality.in_bot_threads += 1
            continue
        quality.joins += 1
        quality.on_site += site == persona_site
        quality.in_distractors += site in distractor_sites
        quality.joined.setdefault(record["persona"], set()).add(record["thread"])
    return quality


def _persona_of(bot: str, personas: dict[str, str]) -> str | None:
    if bot in personas:
        return bot
    base = bot.rsplit("-", 1)[0]
    return base if base in personas else None


@dataclass(frozen=True)
class BotPost:
    thread_id: int
    handle: str
    persona: str
    at: datetime


def limit_violations(db: Path, personas: dict[str, Persona], settings: SwarmSettings) -> list[str]:
    """Every place the forum's bot posts break a persona limit or a saturation cap (empty: none)."""
    with ForumSnapshot.open(db) as forum:
        posts_in_order = forum.posts_in_thread_order()
    problems: list[str] = []
    by_thread: dict[int, list[PostByAccount]] = defaultdict(list)
    by_bot: dict[str, list[BotPost]] = defaultdict(list)
    for post in posts_in_order:
        by_thread[post.thread_id].append(post)
        if post.synthetic:
            by_bot[post.handle].append(BotPost(post.thread_id, post.handle, post.persona or "",
                                               parse_time(post.created_at)))
    for thread_id, posts in by_thread.items():
        bots = {p.handle for p in posts if p.synthetic}
        if len(bots) > settings.max_bots_per_thread:
            problems.append(f"thread {thread_id}: {len(bots)} bots > max_bots_per_thread {settings.max_bots_per_thread}")
        run = longest = 0
        for p in posts:
            run = run + 1 if p.synthetic else 0
            longest = max(longest, run)
        if longest > settings.max_consecutive_bot_posts:
            problems.append(f"thread {thread_id}: {longest} bot posts in a row > {settings.max_consecutive_bot_posts}")
    for handle, bot_posts in by_bot.items():
        persona = personas.get(bot_posts[0].persona or "")
        if persona is None:
            continue
        zone = ZoneInfo(persona.schedule.timezone)
        days = Counter(p.at.astimezone(zone).date() for p in bot_posts)
        if max(days.values()) > persona.schedule.posts_per_day:
            problems.append(f"{handle}: {max(days.values())} posts in a day > posts_per_day {persona.schedule.posts_per_day}")
        per_thread = Counter(p.thread_id for p in bot_posts)
        if max(per_thread.values()) > persona.limits.max_posts_per_thread:
            problems.append(f"{handle}: {max(per_thread.values())} posts in one thread > {persona.limits.max_posts_per_thread}")
        times = sorted(p.at for p in bot_posts)
        gaps = [(b - a).total_seconds() / 60 for a, b in zip(times, times[1:])]
        if gaps and min(gaps) < persona.limits.min_minutes_between_posts:
            problems.append(f"{handle}: posts {min(gaps):.1f} min apart < {persona.limits.min_minutes_between_posts}")
        asleep = [p.at for p in bot_posts if not active_at(persona, p.at)]
        if asleep:
            start, end = persona.schedule.active_hours
            problems.append(f"{handle}: {len(asleep)} posts outside active hours {start}-{end}")
    return problems
