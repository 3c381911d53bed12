"""Forum calls that wait out a forum gone away: a swarm outlives a restart of the forum it posts to.

Connection failures, timeouts and server errors (5xx) are retried with a growing pause, for up to ``wait_s``;
a refusal (4xx) is the caller's to handle at once. Every post carries an idempotency key, so a call retried
after the forum came back never doubles a post.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bots.swarm.errors import ForumStayedAway
from conversations.client import ForumClientError, ForumUnavailable

log = logging.getLogger("murmur.swarm")
T = TypeVar("T")

FORUM_WAIT_S = 600.0  # how long a forum may be gone before the run gives up
FIRST_PAUSE_S = 0.25
LONGEST_PAUSE_S = 5.0


class PatientForum:
    """Calls through to the forum, waiting it out; ``seconds`` is the time spent in calls that answered."""

    def __init__(self, wait_s: float = FORUM_WAIT_S) -> None:
        self.wait_s = wait_s
        self.seconds = 0.0

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        waited, pause = 0.0, FIRST_PAUSE_S
        while True:
            started = time.perf_counter()
            try:
                result = await call()
                self.seconds += time.perf_counter() - started
                return result
            except ForumUnavailable as exc:
                problem = str(exc)
            except ForumClientError as exc:
                if exc.status < 500:
                    raise
                problem = str(exc)
            except asyncio.TimeoutError:
                problem = "the forum did not answer in time"
            if waited >= self.wait_s:
                raise ForumStayedAway(f"{problem}; gave up after {self.wait_s:.0f} s. Start the forum again and rerun "
                                      f"with the same --run-id: posts already made are not repeated")
            log.info("%s; waiting %.1f s", problem, pause)
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, LONGEST_PAUSE_S)
