"""Bots: one account each, a persona each (several bots may share one), and what each has done.

The state here is what the join policy reads: posts per local day, the last
post, the threads a bot is in, and whether a post of its is still on its way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from bots.personas import Persona
from bots.swarm.population import Budget
from bots.swarm.timing import PersonaTiming, Timing

HANDLE_MAX = 40
DEFAULT_DELAY = (3.0, 40.0)


@dataclass
class Bot:
    name: str  # also its forum handle
    persona: Persona
    timing: Timing = None  # type: ignore[assignment]  # set by make_bots
    account_id: int = 0  # 0 until the account is made, just before the bot's first post
    token: str = ""
    last_post_at: datetime | None = None
    busy_until: datetime | None = None  # a reply is being written and will be posted then
    posts_by_day: Counter[date] = field(default_factory=Counter)
    posts_by_thread: Counter[int] = field(default_factory=Counter)
    posts_made: int = 0  # numbers its idempotency keys
    budget: int | None = None  # posts over the whole run (swarm.population: people); None: the schedule's only
    openings: int | None = None  # of those, the threads it opens; the rest are replies (None: no such split)
    opened: int = 0  # threads opened so far
    failures: int = 0
    campaign: str | None = None  # the campaign it belongs to (ground truth only: nothing public shows it)
    role: str | None = None  # its role there: "driver" or "amplifier"

    def awake(self, moment: datetime) -> bool:
        return self.timing.awake(moment)

    def day(self, moment: datetime) -> date:
        return self.timing.day(moment)

    def posts_today(self, moment: datetime) -> int:
        return self.posts_by_day[self.day(moment)]

    @property
    def posts_in_run(self) -> int:
        return sum(self.posts_by_thread.values())

    def may_open(self) -> bool:
        """Whether the bot's budget holds a thread still to open."""
        return self.openings is None or self.opened < self.openings

    def replies_left_share(self) -> float:
        """The share of the bot's replies still to make (1.0 without a budget): who of a persona's accounts answers."""
        if self.budget is None:
            return 1.0
        replies = self.budget - (self.openings or 0)
        return (replies - (self.posts_in_run - self.opened)) / replies if replies > 0 else 0.0

    def may_reply(self) -> bool:
        """Whether the bot's budget holds a reply still to make (its openings are kept for threads)."""
        return self.openings is None or self.budget is None or self.posts_in_run - self.opened < self.budget - self.openings

    def count_post(self, moment: datetime, thread_id: int) -> None:
        self.posts_by_day[self.day(moment)] += 1
        self.posts_by_thread[thread_id] += 1
        self.last_post_at = moment


def active_at(persona: Persona, moment: datetime) -> bool:
    """Whether ``moment`` falls in the persona's active hours, in its own time zone (a span may wrap midnight)."""
    return PersonaTiming(persona, DEFAULT_DELAY).awake(moment)


def make_bots(personas: list[Persona], count: int,
              timing: Callable[[str, Persona], Timing] | None = None,
              accounts: Callable[[int], tuple[str, Budget]] | None = None) -> list[Bot]:
    """``count`` bots over the personas in turn: the first bot of a persona is named after it, the rest numbered.

    ``timing(name, persona)`` gives each bot its behaviour (default: the persona's schedule); ``accounts(i)``, where
    given, the i-th bot's handle and budget of posts (and openings among them) over the run instead
    (``swarm.population: people``).
    """
    if not personas:
        return []
    timing = timing or (lambda name, persona: PersonaTiming(persona, DEFAULT_DELAY))
    bots = []
    for i in range(count):
        persona = personas[i % len(personas)]
        budget = None
        if accounts is not None:
            name, budget = accounts(i)
        else:
            copy = i // len(personas)
            suffix = f"-{copy + 1}" if copy else ""
            name = persona.name[: HANDLE_MAX - len(suffix)] + suffix
        bots.append(Bot(name, persona, timing(name, persona), budget=budget.posts if budget else None,
                        openings=budget.openings if budget else None))
    return bots
