"""What a swarm run is asked to be, as values: the forum it runs on, the run itself, and where its turns go.

``run_swarm`` took eighteen keywords; most travel together (a forum's address and token, a run's seed and id and
length), so they travel as these three values and a command builds them once from its options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bots.campaigns import Campaign
    from bots.swarm.replay import ReplayPlan


@dataclass(frozen=True)
class ForumAccess:
    """A murmur forum and the admin token its bots post with (the forum lock checks it is a murmur forum)."""

    url: str
    admin_token: str


@dataclass(frozen=True)
class SwarmJob:
    """The run: every field left None is the settings' own (``swarm.bots``, ``seed``, ``swarm.hours`` ...)."""

    run_id: str | None = None
    seed: int | None = None
    bots: int | None = None
    personas_dir: Path | None = None
    hours: float | None = None
    clock: str | None = None
    replay: ReplayPlan | None = None  # people's posts replayed on the swarm's clock (it must be the simulated one)
    campaign: Campaign | None = None  # accounts acting together toward one end, beside the bots (bots/campaigns.py)


@dataclass(frozen=True)
class RayTurns:
    """The turns on Ray TurnWorker actors instead of a Rasa server of the run's own: ``count`` started here (on
    the cluster at ``address``, or a local one), or ``workers`` started already (a test's, reused across runs)."""

    count: int = 0
    address: str | None = None
    workers: list[Any] | None = None

    def __post_init__(self) -> None:
        if self.workers is None and self.count < 1:
            raise ValueError("RayTurns: give count >= 1 (actors to start) or workers (actors started already)")
