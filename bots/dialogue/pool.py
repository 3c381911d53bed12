"""RasaPool: several Rasa servers behind one face, each conversation kept on one of them.

One Rasa server runs one turn at a time, so chat and swarms add servers for throughput. The pool starts N
``rasa run`` processes on free loopback ports (``rasa.servers``), or takes the URLs of servers run elsewhere
(``rasa.urls``).

- **Routing** is rendezvous hashing of the Rasa sender id (``persona:conversation``): every conversation ranks
  the servers by a stable hash, and goes to the first of its ranking that is up. So a conversation's turns, and its
  tracker, stay on one server; new conversations spread evenly; losing or adding a server moves only the
  conversations whose first choice it was.
- **Shared trackers.** The servers the pool starts share one SQL tracker store (a SQLite file), so any of them can
  go on with any conversation from its whole history.
- **A server that dies** is marked down the moment its process exits or a call to it cannot connect. Its
  conversations go on with the next server in their ranking, reading their history from the shared store, and
  the pool starts a replacement; once that is up, they move back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bots.errors import RasaError
from bots.dialogue.server import RasaServer

log = logging.getLogger("murmur.rasa")

WATCH_EVERY_S = 1.0  # how often the pool looks for servers whose process ended


def ranking(sender: str, slots: int) -> list[int]:
    """The servers (0 .. slots-1) in the order this sender tries them: rendezvous hashing, stable across runs."""
    def weight(slot: int) -> bytes:
        return hashlib.blake2b(f"{slot}\0{sender}".encode("utf-8"), digest_size=8).digest()

    return sorted(range(slots), key=weight, reverse=True)


@dataclass(eq=False)
class Member:
    """One server of the pool: where it answers, whether it is up, and what it has done."""

    slot: int
    server: RasaServer
    up: bool = True
    restarts: int = 0
    turns: int = 0
    senders: set[str] = field(default_factory=set)
    limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def name(self) -> str:
        return f"rasa #{self.slot + 1}"


class RasaPool:
    """Use as ``async with RasaPool.managed(...) as pool`` (or ``.external(urls)``); ``pool.member_for(sender)``."""

    def __init__(self, servers: list[RasaServer], *, concurrency: int = 4,
                 replace: Callable[[int, int], RasaServer] | None = None, tracker_store: Path | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        if not servers:
            raise RasaError("a Rasa pool needs at least one server")
        self.members = [Member(slot, server, limit=asyncio.Semaphore(concurrency)) for slot, server in enumerate(servers)]
        self.concurrency = concurrency
        self.tracker_store = tracker_store
        self._replace = replace  # (slot, restart number) -> a new server for that slot; None: never restarted
        self._echo = echo or log.info
        self._watcher: asyncio.Task | None = None
        self._restarting: dict[int, asyncio.Task] = {}

    @classmethod
    def managed(cls, model: Path, *, count: int, action_url: str, rasa_bin: Path, log_dir: Path,
                ready_timeout_s: float, concurrency: int = 4, echo: Callable[[str], None] | None = None) -> RasaPool:
        """``count`` servers murmur starts (and restarts), sharing one tracker store when there are several."""
        log_dir = Path(log_dir)
        # one file per murmur process: a chat and a swarm with the same model folder keep their conversations apart
        store = log_dir / f"trackers-{os.getpid()}.sqlite" if count > 1 else None

        def server(slot: int, restart: int = 0) -> RasaServer:
            name = "rasa-server" if count == 1 else f"rasa-server-{slot + 1}"
            suffix = f".restart-{restart}" if restart else ""
            return RasaServer(model, action_url=action_url, rasa_bin=rasa_bin, log_path=log_dir / f"{name}{suffix}.log",
                              ready_timeout_s=ready_timeout_s, tracker_store=store)

        return cls([server(slot) for slot in range(count)], concurrency=concurrency, replace=server,
                   tracker_store=store, echo=echo)

    @classmethod
    def external(cls, urls: list[str], *, concurrency: int = 4, echo: Callable[[str], None] | None = None) -> RasaPool:
        """Servers run elsewhere: waited for, never started, stopped or replaced (their tracker store is theirs)."""
        return cls([RasaServer.external(url) for url in urls], concurrency=concurrency, echo=echo)

    # -- lifecycle --------------------------------------------------------------------------------------

    async def __aenter__(self) -> RasaPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.tracker_store is not None:
            self.tracker_store.parent.mkdir(parents=True, exist_ok=True)
            self.tracker_store.unlink(missing_ok=True)  # a file left by a process that had this pid: not ours
        results = await asyncio.gather(*(m.server.start() for m in self.members), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]
        self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        tasks = [t for t in [self._watcher, *self._restarting.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watcher = None
        self._restarting.clear()
        await asyncio.gather(*(m.server.stop() for m in self.members), return_exceptions=True)
        if self.tracker_store is not None:
            self.tracker_store.unlink(missing_ok=True)  # the conversations end with the process

    # -- routing ----------------------------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def candidates(self, sender: str) -> list[Member]:
        """The servers that are up, in this sender's order (all of them, in order, if none is up)."""
        ranked = [self.members[slot] for slot in ranking(sender, len(self.members))]
        return [m for m in ranked if m.up] or ranked

    def member_for(self, sender: str) -> Member:
        return self.candidates(sender)[0]

    def any_url(self) -> str:
        """A server that is up, for work that belongs to no conversation (reading texts with the NLU)."""
        return next((m for m in self.members if m.up), self.members[0]).url

    def mark_down(self, member: Member, why: str) -> None:
        """A server that cannot be reached: its conversations go to the next in their ranking; restart it."""
        if not member.up:
            return
        member.up = False
        live = sum(m.up for m in self.members)
        self._echo(f"{member.name} at {member.url} is down ({why}); its conversations go on with the other "
                   f"{live} server{'s' if live != 1 else ''}" + ("; starting a replacement" if self._can_restart(member) else ""))
        if self._can_restart(member) and member.slot not in self._restarting:
            self._restarting[member.slot] = asyncio.create_task(self._restart(member))

    def _can_restart(self, member: Member) -> bool:
        return self._replace is not None and member.server.managed

    async def _watch(self) -> None:
        """Notices a managed server whose process ended, before any conversation runs into it."""
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            for member in self.members:
                code = member.server.exit_code
                if member.up and code is not None:
                    self.mark_down(member, f"its process exited with {code}")

    async def _restart(self, member: Member) -> None:
        assert self._replace is not None
        try:
            while True:
                await member.server.stop()
                replacement = self._replace(member.slot, member.restarts + 1)
                try:
                    await replacement.start()
                except RasaError as exc:
                    self._echo(f"{member.name}: the replacement did not start ({str(exc).splitlines()[0]}); retrying")
                    await replacement.stop()
                    await asyncio.sleep(5)
                    continue
                member.server, member.restarts, member.up = replacement, member.restarts + 1, True
                self._echo(f"{member.name} is back at {member.url} (restart {member.restarts}); "
                           "its conversations return to it with their history")
                return
        finally:
            self._restarting.pop(member.slot, None)

    async def wait_up(self, timeout_s: float) -> None:
        """Until every server is up again (tests, and a run that should not end on a restarting pool)."""
        async with asyncio.timeout(timeout_s):
            while not all(m.up for m in self.members):
                await asyncio.sleep(0.2)

    # -- telling the user --------------------------------------------------------------------------------

    def describe(self) -> list[str]:
        """One line per server: where it answers, its process and log, and what it has done."""
        lines = []
        for m in self.members:
            where = (f"pid {m.server.pid}, log {m.server.log_path}" if m.server.managed
                     else "run elsewhere")
            state = "up" if m.up else "down"
            lines.append(f"{m.name}: {m.url} ({where}); {state}, {len(m.senders)} conversations, {m.turns} turns"
                         + (f", {m.restarts} restarts" if m.restarts else ""))
        return lines

    def summary(self) -> str:
        shared = (f"; trackers shared in {self.tracker_store}" if self.tracker_store
                  else "" if len(self.members) == 1 else "; trackers kept by each server")
        return (f"Rasa pool: {len(self.members)} server{'s' if len(self.members) != 1 else ''}, "
                f"{self.concurrency} turns in flight to each; each conversation stays on one server (stable hash)"
                + shared)
