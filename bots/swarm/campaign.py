"""A campaign inside a swarm run: where its drivers go, when its amplifiers follow, and the only words it uses.

Targets come from the platform's own knowledge of who ought to be in a conversation: the matcher's thread ->
personas ranking, summed over the campaign's audience (``Matcher.audience_threads``), over the threads active in
the last ``active_hours``. A driver's scan is on-goal with probability ``1 - organic_share``: it takes the best
target no driver has gone to yet and gives a reply there. Every amplifier that can still post follows each on-goal
driver post ``synchrony.delay_s`` later, give or take ``jitter_s`` (seeded per amplifier and post), replying to
that post; an amplifier's own scans stay its persona's, so its organic activity is the swarm's usual behaviour.

Its words are never written for it: ``CampaignWords`` holds the reply bank's human replies that the stance reader
reads as taking the campaign's side, and offers the ones closest to the post being answered. With none left, the
account stays silent rather than say something else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from bots.campaigns import Campaign, Goal
from bots.dialogue.stance import TOPIC_ONLY_THRESHOLD
from bots.swarm.bots import Bot
from bots.swarm.forum_view import ThreadState
from bots.swarm.pending import Option
from bots.swarm.policy import draw
from bots.words.bank import ReplyBank
from conversations.models import parse_time
from index.matching import Matcher, ThreadMatch

OFFERED = 8  # on-side replies offered per turn, best fit first: the first still unused is posted
# a campaign's words must be plainly about its topic: at the stance reader's own 0.25 (where its side model still
# weighs the cosine), "pressurised portafilter baskets" took replies about beer glasses; at 0.45 they are about coffee
ABOUT_THE_TOPIC = TOPIC_ONLY_THRESHOLD
MIN_FOLLOW_S = 1.0


class SideReader(Protocol):
    """What the campaign needs of bots.dialogue.stance.StanceReader."""

    def sides(self, topic: str, texts: Sequence[str], similarities: np.ndarray) -> list[str]: ...


class CampaignWords:
    """The bank's human replies that take the campaign's side (by the stance reader): its only words."""

    def __init__(self, bank: ReplyBank, reader: SideReader, goal: Goal) -> None:
        self.bank = bank
        self.goal = goal
        topic = bank.embedder.embed_one(goal.topic)
        similarity = bank.reply_vectors @ topic
        about = np.flatnonzero(similarity >= ABOUT_THE_TOPIC)
        sides = reader.sides(goal.topic, [bank.replies[int(r)].text for r in about], similarity[about])
        self.rows = np.array([int(r) for r, side in zip(about, sides) if side == goal.side], dtype=np.int64)
        self.read = len(about)  # replies about the topic at all: what the side was read on

    def __len__(self) -> int:
        return len(self.rows)

    def options(self, answering: str) -> tuple[Option, ...]:
        """The unused on-side replies that best fit ``answering`` (what they first answered, and what they say)."""
        free = np.array([r for r in self.rows if int(r) not in self.bank.used], dtype=np.int64)
        if not len(free) or not answering.strip():
            return ()
        vector = self.bank.embedder.embed_one(answering)
        fit = self.bank.context_vectors[free] @ vector + self.bank.reply_vectors[free] @ vector
        order = sorted(range(len(free)), key=lambda i: (-float(fit[i]), int(free[i])))[:OFFERED]
        return tuple(self._option(int(free[i]), float(fit[i]) / 2) for i in order)

    def claim(self, options: Sequence[Option]) -> Option | None:
        """The first option whose reply is still unused, now used: the bank's own record, shared with its generator."""
        for option in options:
            number = int(str((option.source or {}).get("bank_id", "reply:-1")).split(":")[1])
            if number >= 0 and number not in self.bank.used:
                self.bank.used.add(number)
                return option
        return None

    def _option(self, row: int, fit: float) -> Option:
        reply = self.bank.replies[row]
        thread = self.bank.threads[reply.thread]
        return Option(reply.text, {"bank_id": f"reply:{reply.id}", "post": reply.post_id, "thread": thread.external_id,
                                   "site": thread.site, "side": self.goal.side, "fit": round(fit, 4)})


@dataclass
class CampaignPlan:
    """One campaign's state in a run: its accounts by role and the threads its drivers went to."""

    campaign: Campaign
    seed: int
    drivers: list[Bot] = field(default_factory=list)
    amplifiers: list[Bot] = field(default_factory=list)
    driven: set[int] = field(default_factory=set)

    def add(self, bot: Bot, role: str) -> None:
        bot.campaign, bot.role = self.campaign.id, role
        (self.drivers if role == "driver" else self.amplifiers).append(bot)

    def on_goal(self, bot: Bot, now: datetime) -> bool:
        """Whether this scan of a driver serves the campaign (else it is the account's own, as a person's would be)."""
        return draw(self.seed, "campaign-goal", bot.name, now.isoformat()).random() >= self.campaign.organic_share

    def target(self, matcher: Matcher, threads: dict[int, ThreadState], now: datetime) -> ThreadMatch | None:
        """The best thread for the audience that no driver has gone to yet, among those active lately."""
        promoted = self.campaign.goal.promote_thread
        if promoted is not None and promoted in threads and promoted not in self.driven:
            return ThreadMatch(promoted, 1.0, "promoted")
        since = now - timedelta(hours=self.campaign.active_hours)
        live = [t.id for t in threads.values()
                if t.id not in self.driven and t.posts and since <= parse_time(t.posts[-1].created_at) <= now]
        audience = self.campaign.audience
        found = matcher.audience_threads(sorted(live), personas=audience.personas, interests=audience.interests,
                                         top_k=audience.top_k, k=1)
        return found[0] if found else None

    def follow_at(self, amplifier: Bot, driver_post: int, posted: datetime) -> datetime:
        """When ``amplifier`` follows a driver's post: the campaign's delay, give or take its jitter (seeded)."""
        synchrony = self.campaign.synchrony
        rng = draw(self.seed, "campaign-follow", amplifier.name, driver_post)
        delay = synchrony.delay_s + rng.uniform(-synchrony.jitter_s, synchrony.jitter_s)
        return posted + timedelta(seconds=max(MIN_FOLLOW_S, delay))

    def followers(self, driver_post: int) -> list[Bot]:
        """The amplifiers that follow this driver post: every one that can still post, or ``synchrony.followers``
        of them drawn for the post (seeded)."""
        able = [bot for bot in self.amplifiers if bot.may_reply()]
        wanted = self.campaign.synchrony.followers
        if wanted is None or wanted >= len(able):
            return able
        chosen = set(draw(self.seed, "campaign-followers", driver_post).sample(range(len(able)), wanted))
        return [bot for i, bot in enumerate(able) if i in chosen]
