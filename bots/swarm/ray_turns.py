"""Phase 2 of a swarm on Ray: the turns run on worker actors, the decisions and the posts stay with the coordinator.

A ``TurnWorker`` is a Ray actor that owns everything a turn needs: its own Rasa server (or ``rasa.servers`` of them,
as a pool), murmur's action server for them on its loopback, the embedding model, and a reply generator with its
bank or library. The coordinator (the ``Swarm``, in the process that runs ``murmur swarm --ray``) keeps phase 1,
which is cheap, sequential and deterministic, and posts what the turns wrote.

``RayDialogue`` is the swarm's ``Dialogue``. It sends every conversation's turns to one worker, by the same stable
hash as the Rasa pool, so the conversation's tracker stays on that worker's Rasa server. With each turn go the
replies claimed so far: claims are made by the coordinator, in decision order, and a worker writes from the same
bank state the single process would, so the same seed and inputs give the same run on 1 worker or 3. A turn whose
worker died goes to the next worker of its ranking; the coordinator posts it under the same idempotency key
either way, so nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from bots.dialogue.actions import add_action_server
from bots.dialogue.engine import DialogueEngine, DialogueError, StanceReader, Turn
from bots.dialogue.pool import RasaPool, ranking
from bots.personas import Persona
from bots.words.replies import ReplyGenerator

log = logging.getLogger("murmur.swarm")


@dataclass
class WorkerBase:
    """What a worker builds once, in its own process: personas, the embedder and where its Rasa model is."""

    personas: dict[str, Persona]
    embedder: Any
    model: Path
    rasa_bin: Path
    log_dir: Path
    ready_timeout_s: float
    concurrency: int
    servers: int = 1
    label_acts: Callable[[ReplyGenerator, str], Awaitable[None]] | None = None  # the bank's acts, read by its Rasa


class CurrentGenerator:
    """The action server's generator: the run's own, set when the worker is prepared for a run."""

    name = "current"

    def __init__(self) -> None:
        self.current: ReplyGenerator | None = None

    def generator(self) -> ReplyGenerator:
        if self.current is None:
            raise DialogueError("this turn worker has no reply generator yet; call prepare() first")
        return self.current

    async def write(self, request: Any) -> Any:
        return await self.generator().write(request)


class TurnWorker:
    """A Ray actor (``ray.remote(TurnWorker)``): a Rasa server, an action server and a reply generator."""

    def __init__(self, slot: int, build: Callable[[], WorkerBase]) -> None:
        self.slot = slot
        self._build = build
        self.base: WorkerBase | None = None
        self.pool: RasaPool | None = None
        self.engine: DialogueEngine | None = None
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self.turns = 0

    async def start(self) -> dict[str, Any]:
        """Build the parts and start the servers; where they run, for the coordinator to tell the user."""
        self.base = base = await asyncio.to_thread(self._build)
        self._app = web.Application()
        self._current = CurrentGenerator()
        # the generator comes with each run (prepare); the action server only ever calls its write()
        add_action_server(self._app, base.personas, cast(ReplyGenerator, self._current))
        self._runner = web.AppRunner(self._app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        action_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/webhook"
        self.pool = RasaPool.managed(base.model, count=base.servers, action_url=action_url, rasa_bin=base.rasa_bin,
                                     log_dir=base.log_dir / f"worker-{self.slot + 1}", ready_timeout_s=base.ready_timeout_s,
                                     concurrency=base.concurrency, echo=log.info)
        await self.pool.start()
        self.engine = DialogueEngine(self.pool, StanceReader(base.embedder), concurrency=base.concurrency)
        return {"slot": self.slot, "host": socket.gethostname(), "pid": os.getpid(), "rasa": self.pool.urls,
                "action_url": action_url}

    async def prepare(self, make_generator: Callable[[Any], ReplyGenerator]) -> str:
        """A run's reply generator (its bank leaves out the run's forum), built here from the shared caches."""
        assert self.base is not None and self._app is not None and self.pool is not None
        generator = await asyncio.to_thread(make_generator, self.base.embedder)
        if self.base.label_acts is not None:
            await self.base.label_acts(generator, self.pool.any_url())
        self._current.current = generator
        return generator.name

    async def respond(self, persona: str, conversation_id: str, text: str, claimed: dict[str, list[int]],
                      options: dict[str, Any]) -> dict[str, Any]:
        """One turn, written from the bank state the coordinator sent (``claimed``: what it holds as taken)."""
        assert self.base is not None and self.engine is not None
        if claimed:
            self._current.generator().adopt(claimed)
        turn = await self.engine.respond(self.base.personas[persona], conversation_id, text, **options)
        self.turns += 1
        return dataclasses.asdict(turn)

    async def turn_count(self) -> int:
        return self.turns

    async def processes(self) -> dict[str, Any]:
        """This worker's process and its Rasa servers' (each leads its own process group): to pin or measure them."""
        return {"worker": os.getpid(), "rasa": [m.server.pid for m in self.pool.members] if self.pool else []}

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.close()
        if self.pool is not None:
            await self.pool.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.base is not None and hasattr(self.base.embedder, "close"):
            self.base.embedder.close()


class WorkerGone(DialogueError):
    """Every worker a turn could go to has died."""


class RayDialogue:
    """The swarm's Dialogue over Ray TurnWorker actors; a conversation's turns go to one worker."""

    def __init__(self, workers: list[Any], generator: ReplyGenerator, *, died: tuple[type[BaseException], ...]) -> None:
        if not workers:
            raise DialogueError("a Ray swarm needs at least one turn worker")
        self.workers = list(workers)
        self.generator = generator  # the coordinator's: it claims replies, and says what is taken
        self.alive = [True] * len(workers)
        self.turns = [0] * len(workers)
        self._died = died  # the exceptions that mean a worker is gone (ray.exceptions.RayActorError)
        self._sent: list[dict[str, set[int]]] = [{} for _ in workers]  # what each worker was told is taken

    def _news_for(self, slot: int) -> dict[str, list[int]]:
        """The replies taken since this worker last heard: the coordinator's claims and the forum's own posts."""
        news = {}
        for kind, taken in self.generator.claimed().items():
            sent = self._sent[slot].setdefault(kind, set())
            fresh = taken - sent
            if fresh:
                news[kind] = sorted(fresh)
                sent |= fresh
        return news

    async def respond(self, persona: Persona, conversation_id: str, text: str, *, session: str = "",
                      **options: Any) -> Turn:
        sender = f"{persona.name}:{conversation_id}" + (f"~{session}" if session else "")
        for slot in ranking(sender, len(self.workers)):
            if not self.alive[slot]:
                continue
            news = self._news_for(slot)
            try:
                data = await self.workers[slot].respond.remote(persona.name, conversation_id, text, news,
                                                               {**options, "session": session})
            except self._died as exc:
                self.alive[slot] = False
                self._sent[slot] = {}
                log.warning("turn worker %d died (%s); its turns go to the next worker", slot + 1,
                            str(exc).splitlines()[0][:200])
                continue
            self.turns[slot] += 1
            data["sources"] = tuple(data.get("sources") or ())
            data["alternatives"] = tuple(tuple(a) for a in data.get("alternatives") or ())
            data["messages"] = tuple(data.get("messages") or ())
            return Turn(**data)
        raise WorkerGone("every Ray turn worker has died; see the Ray logs (/tmp/ray/session_latest/logs)")

    def describe(self) -> list[str]:
        return [f"turn worker #{slot + 1}: {'up' if up else 'died'}, {turns} turns"
                for slot, (up, turns) in enumerate(zip(self.alive, self.turns))]
