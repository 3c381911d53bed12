"""A Swarm wired as ``run_swarm`` wires it (real forum, index, matcher and embedding model), with the dialogue and
the words faked (bots.testing): for the tests of the engine's policy, clock, replay and provenance."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bots.personas import Persona
from bots.swarm import RunSpec, Swarm, SwarmParts, SwarmResult
from bots.swarm.forum_view import load_threads, people_posts
from bots.swarm.replay import ReplayPlan
from bots.swarm.timing import PeopleTiming
from bots.testing import FakeDialogue, FakeGenerator
from conversations.client import ForumClient
from index.build import add_threads, new_index
from index.matching import Matcher
from murmur.assembly import hold_before
from murmur.config import Settings
from tests.conftest import ADMIN_TOKEN


async def fake_swarm_run(settings: Settings, url: str, embedder, run_id: str, personas: list[Persona], *,
                         dialogue=None, generator=None, replay: ReplayPlan | None = None, hours: float = 8.0,
                         bots: int = 8, campaign=None, campaign_words=None) -> SwarmResult:
    generator = generator or FakeGenerator()
    async with ForumClient(url, ADMIN_TOKEN) as admin:
        if replay is not None:
            await hold_before(admin, replay, progress=False)
        threads, latest_seq = await load_threads(admin)
        index = new_index(settings.index, embedder)
        await asyncio.to_thread(add_threads, index, embedder, [threads[i].text() for i in sorted(threads)])
        matcher = Matcher(embedder, index, [p.profile() for p in personas])
        parts = SwarmParts(dialogue or FakeDialogue(generator), generator, embedder, index, matcher,
                           campaign_words=campaign_words)
        spec = RunSpec(settings.seed, run_id, Path(settings.swarm.log_dir) / f"{run_id}.jsonl", bots=bots,
                       hours=hours, replay=replay, people=PeopleTiming.of(people_posts(threads, {})), campaign=campaign)
        swarm = Swarm(admin, personas, threads, latest_seq, parts=parts, spec=spec, settings=settings.swarm,
                      progress=False)
        return await swarm.run()
