"""The swarm's clocks: simulated (hours of forum life in minutes, reproducible) and wall (live demos).

Both tell the time as an aware UTC datetime and wait until a moment. The
simulated clock never sleeps: it jumps to the next moment something is due,
so a run's timing depends only on its seed and inputs, never on how fast the
machine is.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    simulated: bool

    def now(self) -> datetime: ...

    async def wait_until(self, moment: datetime) -> None: ...


class SimulatedClock:
    simulated = True

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    async def wait_until(self, moment: datetime) -> None:
        self._now = max(self._now, moment)
        await asyncio.sleep(0)  # let other tasks (the event follower) run between steps


class WallClock:
    simulated = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def wait_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)
