"""Where a caller watches or paces a swarm run without subclassing it or patching it.

A benchmark swaps in its timers when the swarm is ready and reads its state when the run ends; the demo paces
steps to the wall clock; a test takes the forum away between two steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bots.swarm.engine import Swarm


@dataclass(frozen=True)
class SwarmHooks:
    ready: Callable[[Swarm], None] | None = None  # built, before the run: e.g. wrap swarm.matcher in a timer
    step: Callable[[Swarm], Awaitable[None]] | None = None  # after every step of the clock
    turns: Callable[[int, float], None] | None = None  # after the turns of a step ran together: (turns, seconds)
    finished: Callable[[Swarm], None] | None = None  # after the run, before its result is returned
