"""Rasa's socket.io channel, spoken by ``murmur chat`` (python-socketio on the chat's aiohttp app).

The rasa-webchat widget, and anything else built for Rasa's socket.io channel, talks to a persona unchanged. The
client connects to ``/socket.io/`` (the persona in the query, ``?persona=NAME``, or in each message's
``customData.persona``), sends ``session_request`` and gets ``session_confirm`` with its session id (the one it
sent, so a reloaded page keeps its conversation: session persistence), then sends ``user_uttered``
``{"message", "session_id", "customData"}`` and gets ``bot_uttered`` ``{"text"}``, one per paragraph as Rasa sends
them. The chat's rules hold: the persona says it is a bot when asked, each session is held to the chat's rate, a
bad message is answered with an ``error`` event and the connection stays, one turn at a time per session, and a
client that disconnects mid-turn cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web

from bots.chat.rules import STARTING, STILL_ANSWERING, could_not_answer, message_problem, too_many
from bots.dialogue.engine import DialogueError
from bots.personas import Persona
from conversations.errors import RateLimited
from conversations.ratelimit import RateLimiter

log = logging.getLogger("murmur.chat")


class SocketIOChannel:
    """One python-socketio server for the chat app: sessions, their personas, and the turns in flight."""

    def __init__(self, personas: dict[str, Persona], settings, engine_of, cancelled) -> None:
        self.personas = personas
        self.settings = settings
        self.engine_of = engine_of
        self.cancelled = cancelled
        self.limiter = RateLimiter(settings.messages_per_minute, settings.message_burst)
        self.server = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=settings.max_frame_bytes)
        self.persona_of: dict[str, str] = {}  # socket id -> persona named when it connected
        self.turns: dict[str, asyncio.Task] = {}  # socket id -> its turn in flight
        self.server.on("connect", self.connect)
        self.server.on("session_request", self.session_request)
        self.server.on("user_uttered", self.user_uttered)
        self.server.on("disconnect", self.disconnect)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        name = (parse_qs(environ.get("QUERY_STRING", "")).get("persona") or [""])[0]
        if name and name not in self.personas:
            raise socketio.exceptions.ConnectionRefusedError(
                f"persona: unknown persona {name!r}; known: {', '.join(sorted(self.personas))}")
        self.persona_of[sid] = name
        return True

    async def session_request(self, sid: str, data: Any) -> None:
        session = data.get("session_id") if isinstance(data, dict) else None
        if not isinstance(session, str) or not session.strip():
            session = uuid.uuid4().hex
        await self.server.enter_room(sid, session)  # a reloaded page rejoins its conversation
        await self.server.emit("session_confirm", session, to=sid)

    async def _refuse(self, sid: str, message: str) -> None:
        await self.server.emit("error", {"error": message}, to=sid)

    async def user_uttered(self, sid: str, data: Any) -> None:
        if not isinstance(data, dict):
            return await self._refuse(sid, 'send {"message": "hi", "session_id": "..."} with user_uttered')
        message, session = data.get("message"), data.get("session_id") or sid
        custom = data.get("customData") or {}
        problem = message_problem("message", message, self.settings.max_chars)
        if problem:
            return await self._refuse(sid, problem)
        if not isinstance(custom, dict) or not isinstance(session, str):
            return await self._refuse(sid, "customData must be an object and session_id a string")
        name = custom.get("persona") or self.persona_of.get(sid) or ""
        persona = self.personas.get(name)
        if persona is None:
            return await self._refuse(sid, f"persona: unknown persona {name!r}; connect with ?persona=NAME or send "
                                           f"customData.persona, one of {', '.join(sorted(self.personas))}")
        try:
            self.limiter.take(session)
        except RateLimited as exc:
            return await self._refuse(sid, too_many(self.settings, exc))
        if sid in self.turns and not self.turns[sid].done():
            return await self._refuse(sid, STILL_ANSWERING)
        self.turns[sid] = asyncio.create_task(self._answer(sid, persona, f"socketio-{session}", message.strip()))

    async def _answer(self, sid: str, persona: Persona, conversation: str, text: str) -> None:
        engine = self.engine_of()
        if engine is None:
            return await self._refuse(sid, STARTING)
        try:
            turn = await engine.respond(persona, conversation, text, one_to_one=True)
        except DialogueError as exc:
            log.warning("socket.io chat turn for %s failed: %s", persona.name, exc)
            return await self._refuse(sid, could_not_answer(exc))
        for message in turn.messages:  # as Rasa's socket.io channel sends a text: a message per paragraph
            for part in (p.strip() for p in message.split("\n\n")):
                if part:
                    await self.server.emit("bot_uttered", {"text": part}, to=sid)

    async def disconnect(self, sid: str, *reason: Any) -> None:
        self.persona_of.pop(sid, None)
        turn = self.turns.pop(sid, None)
        if turn is not None and not turn.done():
            turn.cancel()  # the client left mid-reply: stop working for it
            self.cancelled.append(sid)
            with contextlib.suppress(asyncio.CancelledError):
                await turn


SOCKETIO = web.AppKey("socketio", SocketIOChannel)


def add_socketio_channel(app: web.Application, personas: dict[str, Persona], settings, engine_of, cancelled) -> None:
    """Serve Rasa's socket.io channel at /socket.io/ on the chat app."""
    channel = SocketIOChannel(personas, settings, engine_of, cancelled)
    channel.server.attach(app, socketio_path="socket.io")
    app[SOCKETIO] = channel
