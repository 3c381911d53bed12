"""Every guard of a chat turn, through every channel: the web socket, Rasa's REST channel and Rasa's socket.io channel.

One turn-taker (bots/chat/turns.py) owns the guards; each channel only carries them in its own shape. Real parts: the
chat app on a loopback port, each channel's real client, the session's Rasa server (a turn held mid-way by taking its
slots) and, for a failing Rasa, a loopback port nothing listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

import aiohttp
import pytest

from bots.chat.app import CANCELLED, ENGINE, WS_TURNS, create_chat_app
from bots.chat.rest import REST_TURNS
from bots.chat.rules import STARTING, STILL_ANSWERING
from bots.chat.socket_io import SOCKETIO
from bots.chat.turns import GUARDS
from bots.dialogue.engine import DialogueEngine, StanceReader
from bots.personas import load_personas
from bots.words.library import Library
from bots.words.splice import SpliceGenerator
from murmur.config import ChatSettings
from tests.bots.conftest import turns_held
from tests.conftest import ROOT, serve

SESSION = pytest.mark.asyncio(loop_scope="session")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the first case may start the session's Rasa server
PERSONA = "stargazer"
CHANNELS = ("web socket", "REST", "socket.io")


class Refused(Exception):
    """The channel refused to open a conversation (the handshake or the connection)."""


@dataclass
class Client:
    """One client of one channel: ``send`` starts a message and returns its outcome as ("reply" | "error", text,
    the HTTP status where the channel has one)."""

    channel: str
    url: str
    persona: str
    http: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)
    pending: list[asyncio.Task] = field(default_factory=list)

    async def open(self) -> Client:
        if self.channel == "web socket":
            try:
                self.ws = await self.http.ws_connect(f"{self.url}/ws/chat?persona={self.persona}")
            except aiohttp.WSServerHandshakeError as exc:
                raise Refused(str(exc.status)) from exc
            self.frames: asyncio.Queue = asyncio.Queue()
            self.pending.append(asyncio.create_task(self._read_frames()))
        elif self.channel == "socket.io":
            import socketio

            self.sio = socketio.AsyncClient(reconnection=False)
            self.events: asyncio.Queue = asyncio.Queue()
            for event in ("bot_uttered", "error"):
                self.sio.on(event, (lambda name: lambda data: self.events.put_nowait((name, data)))(event))
            try:
                await self.sio.connect(f"{self.url}?persona={self.persona}", transports=["websocket"],
                                       socketio_path="socket.io")
            except socketio.exceptions.ConnectionError as exc:
                raise Refused(str(exc)) from exc
        return self

    async def _read_frames(self) -> None:
        async for message in self.ws:
            frame = message.json()
            if not frame.get("typing"):
                self.frames.put_nowait(frame)

    async def start(self, text: str) -> None:
        """Send a message and do not wait for its outcome (a turn to hold mid-way)."""
        if self.channel == "web socket":
            await self.ws.send_json({"text": text})
        elif self.channel == "socket.io":
            await self.sio.emit("user_uttered", {"message": text, "session_id": "table"})
        else:
            self.send(text)

    def send(self, text: str) -> asyncio.Task:
        task = asyncio.create_task(self._send(text))
        self.pending.append(task)
        return task

    async def _send(self, text: str) -> tuple[str, str, int | None]:
        if self.channel == "web socket":
            await self.ws.send_json({"text": text})
            frame = await self.frames.get()
            return ("error", frame["error"], None) if "error" in frame else ("reply", frame["text"], None)
        if self.channel == "REST":
            async with self.http.post(f"{self.url}/webhooks/rest/webhook?persona={self.persona}",
                                      json={"sender": "table", "message": text}) as response:
                body = await response.json()
                if response.status != 200:
                    return "error", body["error"], response.status
                return "reply", " ".join(m["text"] for m in body), response.status
        await self.sio.emit("user_uttered", {"message": text, "session_id": "table"})
        kind, data = await self.events.get()
        return ("error", data["error"], None) if kind == "error" else ("reply", data["text"], None)

    async def close(self) -> None:
        """The client goes away: a REST client hangs up its requests, the others close their connection."""
        if self.channel == "web socket" and hasattr(self, "ws"):
            await self.ws.close()
        if self.channel == "socket.io" and hasattr(self, "sio"):
            await self.sio.disconnect()
        for task in self.pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await task
        await self.http.close()


def _turns(app, channel: str):
    return {"web socket": app[WS_TURNS], "REST": app[REST_TURNS], "socket.io": app[SOCKETIO].chat_turns}[channel]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _until(condition, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_the_table_covers_every_guard():
    assert set(GUARDS) | {"leave"} == {case for case, _ in CASES}


CASES = [(guard, channel) for guard in ("unknown_persona", "too_many", "busy", "not_started", "failed", "leave")
         for channel in CHANNELS]


@SESSION
@pytest.mark.parametrize(("guard", "channel"), CASES)
async def test_each_guard_holds_on_each_channel(guard, channel, rasa_server, embedder):
    personas = {p.name: p for p in load_personas(ROOT / "bots" / "personas")}
    limits = {"messages_per_minute": 1, "message_burst": 1} if guard == "too_many" else {}
    app = create_chat_app(ChatSettings(**limits), personas, SpliceGenerator(Library.from_seed(embedder)))
    engine = None
    if guard in ("busy", "leave"):
        engine = DialogueEngine(rasa_server.url, StanceReader(embedder))
    elif guard == "failed":
        engine = DialogueEngine(f"http://127.0.0.1:{_closed_port()}", StanceReader(embedder), timeout_s=5)
    app[ENGINE].engine = engine
    runner, url = await serve(app)
    client = Client(channel, url, "nobody" if guard == "unknown_persona" else PERSONA)
    turns = _turns(app, channel)
    try:
        if guard == "unknown_persona":
            if channel == "REST":  # a request, not a connection: refused with its status and the field
                kind, message, status = await (await client.open()).send("hello")
                assert (kind, status) == ("error", 404) and message.startswith("persona: unknown persona 'nobody'")
            else:
                with pytest.raises(Refused):
                    await client.open()
            return
        await client.open()
        if guard == "too_many":
            first = await client.send("hello")
            assert first[0] == "error" and first[1] == STARTING  # let through by the rate, and no engine yet
            kind, message, status = await client.send("hello again")
            assert kind == "error" and message.startswith("too many messages") and status in (None, 429)
        elif guard == "not_started":
            assert await client.send("hello") == ("error", STARTING, 503 if channel == "REST" else None)
        elif guard == "failed":
            kind, message, status = await client.send("hello")
            assert kind == "error" and message.startswith("the bot could not answer") and status in (None, 502)
            assert not turns.in_flight
        else:
            async with turns_held(engine):  # the first turn waits mid-way
                await client.start("what telescope for a beginner?")
                await _until(lambda: turns.in_flight)
                if guard == "busy":
                    kind, message, status = await client.send("and for the planets?")
                    assert kind == "error" and message.endswith(STILL_ANSWERING) and status in (None, 409)
                    assert len(turns.in_flight) == 1  # the first turn goes on
                else:
                    before = len(app[CANCELLED])
                    await client.close()
                    await _until(lambda: len(app[CANCELLED]) > before)
                    assert len(app[CANCELLED]) == before + 1 and not turns.in_flight
    finally:
        await client.close()
        if engine is not None:
            await engine.close()
        await runner.cleanup()
