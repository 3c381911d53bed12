"""What a swarm is made of and what one run of it is: two bundles instead of twenty loose parameters.

``SwarmParts`` are the working parts, shared or built by the caller (the dialogue, the generator, the embedder,
the thread index and the matcher over it); ``RunSpec`` is what makes one run this run (its seed, id and log, how
many bots for how long on which clock, and what is drawn from the forum's people).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bots.campaigns import Campaign
from bots.dialogue.engine import Turn
from bots.personas import Persona
from bots.swarm.campaign import CampaignWords
from bots.swarm.population import Population
from bots.swarm.replay import ReplayPlan
from bots.swarm.timing import PeopleTiming
from bots.words.replies import ReplyGenerator
from index.embedder import Embedder
from index.matching import Matcher
from index.threads import ThreadIndex


class Dialogue(Protocol):
    """What the swarm needs of bots.dialogue.engine.DialogueEngine (or of bots.testing.FakeDialogue)."""

    async def respond(self, persona: Persona, conversation_id: str, text: str, *, thread_title: str | None = None,
                      thread_id: int | None = None, thread_opening: str | None = None, claim: bool = True,
                      session: str = "") -> Turn: ...


@dataclass(frozen=True)
class SwarmParts:
    dialogue: Dialogue
    generator: ReplyGenerator
    embedder: Embedder
    index: ThreadIndex
    matcher: Matcher  # over ``index``: the swarm upserts the threads it sees there, the matcher reads them
    campaign_words: CampaignWords | None = None  # a campaign's words: the bank's replies on its side


@dataclass(frozen=True)
class RunSpec:
    seed: int
    run_id: str
    log_path: Path
    bots: int | None = None  # None: swarm.bots
    hours: float | None = None  # None: swarm.hours (a replay runs to its plan's end)
    clock: str | None = None  # "simulated" or "wall"; None: swarm.clock
    replay: ReplayPlan | None = None  # the people's posts, replayed at their own times beside the bots
    people: PeopleTiming | None = None  # the people's behaviour (swarm.behaviour: fitted)
    population: Population | None = None  # the people's accounts (swarm.population: people)
    campaign: Campaign | None = None  # accounts that act together toward one end, beside the bots
