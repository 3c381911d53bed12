"""Rasa fixtures: one Rasa server started for the session's model (trained in ``tests/conftest.py``).

The server (~30 s) starts for the first test that asks for it. The server's custom actions go to a stub action server
that records what Rasa asked for and answers with the action's name; a test can answer
otherwise (e.g. forward to murmur's own action handler) with ``with action_stub.responding(fn):``
and so reuse the same Rasa server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from bots.dialogue.server import RasaServer
from bots.dialogue.training import TrainResult
from tests.conftest import RASA_BIN, TEST_EPOCHS, serve  # noqa: F401  (TEST_EPOCHS: for the tests here)


def echo_action(payload: dict[str, Any]) -> dict[str, Any]:
    """The action-server answer a stub gives: the action's name as text, and no events."""
    return {"events": [], "responses": [{"text": payload["next_action"]}]}


@dataclass
class ActionStub:
    """An action server on a free loopback port: records every call, answers with ``respond``."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    respond: Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]] = echo_action

    def actions_for(self, sender: str) -> list[str]:
        return [c["next_action"] for c in self.calls if c.get("sender_id") == sender]

    @contextlib.contextmanager
    def responding(self, respond: Callable[[dict[str, Any]], Any]) -> Iterator[ActionStub]:
        """Answer with ``respond`` inside the block, and as before after it."""
        previous, self.respond = self.respond, respond
        try:
            yield self
        finally:
            self.respond = previous




@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def action_stub() -> AsyncIterator[ActionStub]:
    stub = ActionStub()

    async def webhook(request: web.Request) -> web.Response:
        payload = await request.json()
        stub.calls.append(payload)
        answer = stub.respond(payload)
        if isinstance(answer, Awaitable):
            answer = await answer
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner, url = await serve(app)
    stub.url = f"{url}/webhook"
    yield stub
    await runner.cleanup()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rasa_server(rasa_model: TrainResult, action_stub: ActionStub) -> AsyncIterator[RasaServer]:
    """``rasa run --enable-api`` with the session's model, its actions going to ``action_stub``."""
    log_path = rasa_model.model_path.parent / "rasa-server.log"
    async with RasaServer(rasa_model.model_path, action_url=action_stub.url, rasa_bin=RASA_BIN,
                          log_path=log_path) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def forward_actions(action_stub: ActionStub):
    """Rasa's custom actions, forwarded to whichever swarm's action server is running now (as with rasa.url)."""
    target: dict[str, str] = {}
    session = aiohttp.ClientSession()

    async def forward(payload: dict) -> dict:
        async with session.post(target["url"], json=payload) as response:
            return await response.json()

    with action_stub.responding(forward):
        yield lambda url: target.__setitem__("url", url)
    await session.close()


@contextlib.asynccontextmanager
async def turns_held(engine) -> AsyncIterator[None]:
    """Every turn slot of the engine's first Rasa server taken, so that a turn started now waits mid-way until the
    block ends (a client can then hang up, or a second turn arrive, while the first is in flight)."""
    slots = engine.pool.members[0].limit
    held = 0
    while not slots.locked():
        await slots.acquire()
        held += 1
    try:
        yield
    finally:
        for _ in range(held):
            slots.release()
