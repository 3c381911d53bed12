"""When a bot posts: the persona's hand-written schedule, or behaviour fitted to the people of the same forum.

``swarm.behaviour: persona`` keeps each persona's schedule (time zone, active
hours, posts per day, minutes between posts) and the swarm's log-normal reply
delay. ``swarm.behaviour: fitted`` draws each bot's rate, hours, gaps and
reply delays from the forum's people (everyone whose posts the swarm has
read, replayed ones included): timing becomes a variable a researcher sets,
not an artifact of the simulation.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from bots.personas import Persona
from conversations.models import parse_time

MAX_DELAY_MINUTES = 6 * 60  # the persona schedule's longest delay
MIN_PEOPLE = 5  # fewer active people than this and there is nothing to fit


class Timing(Protocol):
    def awake(self, moment: datetime) -> bool: ...

    def day(self, moment: datetime) -> date: ...

    @property
    def posts_per_day(self) -> int: ...

    @property
    def min_minutes_between_posts(self) -> float: ...

    def reply_delay(self, rng: random.Random, age_minutes: float = 0.0, every_minutes: float | None = None) -> float:
        """Minutes from the decision to the post, for a reply to a post ``age_minutes`` old at the decision, by a bot
        that looks every ``every_minutes``."""
        ...

    def answers(self, age_minutes: float, rng: random.Random, every_minutes: float) -> bool:
        """Whether a bot that looks every ``every_minutes`` answers, now, a post that is ``age_minutes`` old."""
        ...

    def posts_at(self, moment: datetime) -> bool:
        """Whether a reply written now may still be posted at ``moment`` (after its delay)."""
        ...


@dataclass(frozen=True)
class PersonaTiming:
    """The persona's schedule, in its own time zone, and the swarm's log-normal reply delay."""

    persona: Persona
    delay_minutes: tuple[float, float]  # minimum and median (swarm.reply_delay_minutes)

    def awake(self, moment: datetime) -> bool:
        start, end = self.persona.schedule.active_hours
        hour = moment.astimezone(ZoneInfo(self.persona.schedule.timezone)).hour
        return start <= hour < end if start < end else hour >= start or hour < end

    def day(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.persona.schedule.timezone)).date()

    @property
    def posts_per_day(self) -> int:
        return self.persona.schedule.posts_per_day

    @property
    def min_minutes_between_posts(self) -> float:
        return self.persona.limits.min_minutes_between_posts

    def reply_delay(self, rng: random.Random, age_minutes: float = 0.0, every_minutes: float | None = None) -> float:
        low, median = self.delay_minutes
        return min(MAX_DELAY_MINUTES, low + max(median - low, 0.0) * math.exp(0.6 * rng.gauss(0.0, 1.0)))

    def answers(self, age_minutes: float, rng: random.Random, every_minutes: float) -> bool:
        return True  # the persona's schedule answers whatever its interests find

    def posts_at(self, moment: datetime) -> bool:
        return self.awake(moment)  # a reply whose delay runs past the active hours is never sent


@dataclass(frozen=True)
class PeopleTiming:
    """How the forum's people post: their daily rates, hours (UTC), gaps and reply delays, as empirical samples."""

    posts_per_day: np.ndarray  # per account with 2+ posts: posts over its active days
    hour_share: np.ndarray  # 24 shares of posts by UTC hour
    gaps_minutes: np.ndarray  # between an account's consecutive posts
    reply_delays_minutes: np.ndarray  # a reply after the post it answers
    account_ages_s: np.ndarray  # first post minus the account's creation

    @classmethod
    def of(cls, posts: Iterable[tuple[int, str, str | None, str | None]]) -> PeopleTiming:
        """``posts``: (author id, created_at, parent's created_at or None, the author's account created_at or None)."""
        by_author: dict[int, list[datetime]] = defaultdict(list)
        since: dict[int, datetime] = {}
        hours = np.zeros(24)
        delays = []
        for author, created, parent_created, account_created in posts:
            moment = parse_time(created)
            by_author[author].append(moment)
            hours[moment.astimezone(timezone.utc).hour] += 1
            if parent_created:
                delays.append((moment - parse_time(parent_created)).total_seconds() / 60)
            if account_created:
                since[author] = parse_time(account_created)
        rates: list[float] = []
        gaps: list[float] = []
        ages: list[float] = []
        for author, times in by_author.items():
            times.sort()
            if author in since:
                ages.append(max(0.0, (times[0] - since[author]).total_seconds()))
            if len(times) < 2:
                continue
            days = max(1.0, (times[-1] - times[0]).total_seconds() / 86400)
            rates.append(len(times) / days)
            gaps.extend((b - a).total_seconds() / 60 for a, b in zip(times, times[1:]) if b > a)
        return cls(np.asarray(rates), hours / max(hours.sum(), 1), np.asarray(gaps),
                   np.asarray([d for d in delays if d > 0]), np.asarray(ages))

    @property
    def enough(self) -> bool:
        return len(self.posts_per_day) >= MIN_PEOPLE and len(self.reply_delays_minutes) >= MIN_PEOPLE

    def draw(self, rng: random.Random) -> FittedTiming:
        """One bot's behaviour: a rate and a shortest gap drawn from one person each, the people's hours and delays."""
        rate = float(self.posts_per_day[rng.randrange(len(self.posts_per_day))])
        gap = float(np.quantile(self.gaps_minutes, rng.uniform(0.0, 0.25))) if len(self.gaps_minutes) else 0.0
        return FittedTiming(max(1, math.ceil(rate)), gap, tuple(self.hour_share / max(self.hour_share.max(), 1e-9)),
                            self.reply_delays_minutes, rng.random())

    def account_age(self, rng: random.Random) -> float:
        """Seconds between a new account and its first post, as the people's were (0 when unknown)."""
        if not len(self.account_ages_s):
            return 0.0
        return float(self.account_ages_s[rng.randrange(len(self.account_ages_s))])


@dataclass(frozen=True)
class FittedTiming:
    posts_per_day: int
    min_minutes_between_posts: float
    activity: tuple[float, ...]  # 24 hourly chances of being around, the busiest hour 1.0
    delays: np.ndarray
    salt: float  # makes each bot's hours its own

    def awake(self, moment: datetime) -> bool:
        """Around in this hour with the people's chance for it, drawn once per bot and hour (reproducible)."""
        hour = moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        return random.Random(f"{self.salt}:{hour.isoformat()}").random() < self.activity[hour.hour]

    def day(self, moment: datetime) -> date:
        return moment.astimezone(timezone.utc).date()

    def reply_delay(self, rng: random.Random, age_minutes: float = 0.0, every_minutes: float | None = None) -> float:
        """A person's reply latency that falls before the bot would look again (``answers`` drew that it does),
        less the time the post has waited already: the reply comes when one of the people's would have. Uncapped,
        as theirs are (a cap piles the long ones up at the cap, a spike no person makes); one due after the run's
        end is never posted."""
        if not len(self.delays):
            return 10.0
        age = max(age_minutes, 0.0)
        later = self.delays[self.delays >= age]
        if every_minutes is not None:
            window = later[later < age + self._looks_every(every_minutes)]
            later = window if len(window) else later
        if not len(later):
            return 10.0
        return max(0.5, float(later[rng.randrange(len(later))]) - age)

    def answers(self, age_minutes: float, rng: random.Random, every_minutes: float) -> bool:
        """As the people do: a post that has waited this long is answered before the bot looks again with the
        people's chance for it (of their replies that came this late, the share that came before then). A bot that
        looks at a post time after time so answers it at the people's latencies (tested). One that answered
        whatever its interests found replied to days-old threads (bots' median reply latency 30 h against the
        people's 3.7 h); one that answered with the share of all the people's replies in that window (right for a
        forum whose posts it meets at random ages) came too soon (1.6 h) and opened threads instead, and the
        timing family told its accounts apart more often (two-sample 0.67 against 0.61, two seeds each)."""
        if not len(self.delays):
            return True
        age = max(age_minutes, 0.0)
        waited = np.count_nonzero(self.delays >= age)
        if not waited:
            return False
        sooner = np.count_nonzero(self.delays >= age + self._looks_every(every_minutes))
        return bool(rng.random() < (waited - sooner) / waited)

    def _looks_every(self, every_minutes: float) -> float:
        """How often the bot really looks: its scans come every ``every_minutes`` but only in the hours it is around."""
        return every_minutes / max(float(np.mean(self.activity)), 0.05)

    def posts_at(self, moment: datetime) -> bool:
        return True  # the people's delays already hold their nights and absences
