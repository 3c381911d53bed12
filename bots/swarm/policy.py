"""The join policy: whether a bot joins a thread now, and why (or why not).

Every rule is checked in a fixed order and the first one that says no is the
reason recorded, so the run log explains each decision. The random draw
comes last and is seeded by (run seed, bot, thread, time), so it does not
depend on the order decisions are made in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from bots.settings import SwarmSettings
from bots.swarm.bots import Bot
from bots.swarm.forum_view import ThreadState
from conversations.models import parse_time

REASONS = ("joined", "below_threshold", "busy", "asleep", "run_budget", "reply_budget", "open_budget", "daily_budget",
           "cooldown", "thread_limit",
           "own_post", "persona_in_thread", "bots_per_thread", "consecutive_bots", "thread_age", "draw")


@dataclass(frozen=True)
class Decision:
    joined: bool
    reason: str


def draw(seed: int, *parts: object) -> random.Random:
    """A random source for one decision, independent of every other decision."""
    return random.Random(":".join(map(str, (seed, *parts))))


class JoinPolicy:
    def __init__(self, settings: SwarmSettings, seed: int, persona_of: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.seed = seed
        self.persona_of = persona_of or {}  # bot name -> persona name: one account of a persona per thread

    def can_post(self, bot: Bot, now: datetime, kind: str = "reply") -> str | None:
        """The reason a bot cannot post (``kind``: a reply, or "open" a thread) now, or None: schedule, budget,
        cool-down, a reply in progress."""
        if bot.busy_until is not None:
            return "busy"
        if not bot.awake(now):
            return "asleep"
        if bot.budget is not None and bot.posts_in_run >= bot.budget:
            return "run_budget"
        if kind == "open" and not bot.may_open():
            return "open_budget"
        if kind == "reply" and not bot.may_reply():
            return "reply_budget"
        if bot.posts_today(now) >= bot.timing.posts_per_day:
            return "daily_budget"
        if bot.last_post_at is not None and (now - bot.last_post_at).total_seconds() < 60 * bot.timing.min_minutes_between_posts:
            return "cooldown"
        return None

    def decide(self, bot: Bot, thread: ThreadState, score: float, now: datetime, bot_accounts: dict[int, str]) -> Decision:
        if score < self.settings.relevance_threshold:
            return Decision(False, "below_threshold")
        blocked = self.can_post(bot, now)
        if blocked:
            return Decision(False, blocked)
        if bot.posts_by_thread[thread.id] >= bot.persona.limits.max_posts_per_thread:
            return Decision(False, "thread_limit")
        if thread.posts and thread.posts[-1].author_id == bot.account_id:
            return Decision(False, "own_post")
        present = thread.bot_authors(bot_accounts) | thread.pending
        if self.settings.population == "people" and any(
                other != bot.name and self.persona_of.get(other) == bot.persona.name for other in present):
            return Decision(False, "persona_in_thread")
        if bot.name not in present and len(present) >= self.settings.max_bots_per_thread:
            return Decision(False, "bots_per_thread")
        if thread.bot_tail(bot_accounts) + len(thread.pending) >= self.settings.max_consecutive_bot_posts:
            return Decision(False, "consecutive_bots")
        answered = thread.last_human_or_other(bot.account_id)
        if answered is not None and answered.created_at and not bot.timing.answers(
                (now - parse_time(answered.created_at)).total_seconds() / 60,
                draw(self.seed, "age", bot.name, thread.id, now.isoformat()), self.settings.scan_every_minutes):
            return Decision(False, "thread_age")
        if draw(self.seed, "join", bot.name, thread.id, now.isoformat()).random() >= self.settings.join_probability:
            return Decision(False, "draw")
        return Decision(True, "joined")
