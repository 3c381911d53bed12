"""Bots: one account each, a persona each (several bots may share one), and what each has done.

The state here is what the join policy reads: posts per local day, the last
post, the threads a bot is in, and whether a post of its is still on its way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bots.personas import Persona

HANDLE_MAX = 40


@dataclass
class Bot:
    name: str  # also its forum handle
    persona: Persona
    account_id: int = 0
    token: str = ""
    last_post_at: datetime | None = None
    busy_until: datetime | None = None  # a reply is being written and will be posted then
    posts_by_day: Counter[date] = field(default_factory=Counter)
    posts_by_thread: Counter[int] = field(default_factory=Counter)
    posts_made: int = 0  # numbers its idempotency keys
    failures: int = 0

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.persona.schedule.timezone))

    def awake(self, moment: datetime) -> bool:
        return active_at(self.persona, moment)

    def posts_today(self, moment: datetime) -> int:
        return self.posts_by_day[self.local(moment).date()]

    def count_post(self, moment: datetime, thread_id: int) -> None:
        self.posts_by_day[self.local(moment).date()] += 1
        self.posts_by_thread[thread_id] += 1
        self.last_post_at = moment


def active_at(persona: Persona, moment: datetime) -> bool:
    """Whether ``moment`` falls in the persona's active hours, in its own time zone (a span may wrap midnight)."""
    start, end = persona.schedule.active_hours
    hour = moment.astimezone(ZoneInfo(persona.schedule.timezone)).hour
    return start <= hour < end if start < end else hour >= start or hour < end


def make_bots(personas: list[Persona], count: int) -> list[Bot]:
    """``count`` bots over the personas in turn: the first bot of a persona is named after it, the rest numbered."""
    if not personas:
        return []
    bots = []
    for i in range(count):
        persona = personas[i % len(personas)]
        copy = i // len(personas)
        suffix = f"-{copy + 1}" if copy else ""
        bots.append(Bot(persona.name[: HANDLE_MAX - len(suffix)] + suffix, persona))
    return bots
