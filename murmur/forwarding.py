"""One Rasa server for many runs: its custom actions go here, and on to whichever run's action server is current.

run_swarm starts an action server per run and reports its URL through
``on_action_url`` (as with a Rasa server of your own, rasa.url): point the
forwarder there. The forward is one more loopback hop per action; its time
is recorded, so a benchmark can split Rasa's share into Rasa itself and
murmur's action server (the reply's words).
"""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from murmur.serving import start_site

MIB = 1024 ** 2


class ActionForwarder:
    """``async with ActionForwarder() as forwarder``: ``forwarder.url`` for Rasa's endpoints, ``point_at`` a run."""

    def __init__(self) -> None:
        self.target = ""
        self.seconds = 0.0
        self.calls = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def point_at(self, url: str) -> None:
        self.target = url

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        started = time.perf_counter()
        assert self._session is not None
        async with self._session.post(self.target, data=body, headers={"Content-Type": "application/json"}) as answer:
            data = await answer.read()
            status = answer.status
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return web.Response(body=data, status=status, content_type="application/json")

    async def __aenter__(self) -> ActionForwarder:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        app = web.Application(client_max_size=64 * MIB)
        app.router.add_post("/webhook", self._webhook)
        self._runner, port = await start_site(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
