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
import uuid
from typing import Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web

from bots.chat.rules import message_problem
from bots.chat.turns import ChatTurns, Refusal
from bots.personas import Persona


class SocketIOChannel:
    """The channel's codec on one python-socketio server: events in, ``bot_uttered`` (or ``error``) out, and the
    persona each connection named; the guards are the turn-taker's (``bots.chat.turns``)."""

    def __init__(self, personas: dict[str, Persona], settings, engine_of, cancelled) -> None:
        self.settings = settings
        self.chat_turns = ChatTurns(personas, settings, engine_of, cancelled, "socket.io chat")
        self.server = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=settings.max_frame_bytes)
        self.persona_of: dict[str, str] = {}  # socket id -> persona named when it connected
        self.turns = self.chat_turns.in_flight  # socket id -> its turn in flight
        self._deliveries: set[asyncio.Task] = set()  # held, so that none is collected before it has emitted
        self.server.on("connect", self.connect)
        self.server.on("session_request", self.session_request)
        self.server.on("user_uttered", self.user_uttered)
        self.server.on("disconnect", self.disconnect)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        name = (parse_qs(environ.get("QUERY_STRING", "")).get("persona") or [""])[0]
        if name:
            try:
                self.chat_turns.persona(name)
            except Refusal as refusal:
                raise socketio.exceptions.ConnectionRefusedError(refusal.message) from refusal
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
        assert isinstance(message, str)  # message_problem refuses anything else
        try:
            persona = self.chat_turns.persona(custom.get("persona") or self.persona_of.get(sid) or "",
                                              "connect with ?persona=NAME or send customData.persona, one of")
            turn = self.chat_turns.begin(sid, persona, f"socketio-{session}", message.strip(), rate_key=session)
        except Refusal as refusal:
            return await self._refuse(sid, refusal.message)
        delivery = asyncio.create_task(self._deliver(sid, turn))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    async def _deliver(self, sid: str, turn: asyncio.Task) -> None:
        try:
            answer = await turn
        except asyncio.CancelledError:
            return  # the client left
        except Refusal as refusal:
            return await self._refuse(sid, refusal.message)
        for message in answer.messages:  # as Rasa's socket.io channel sends a text: a message per paragraph
            for part in (p.strip() for p in message.split("\n\n")):
                if part:
                    await self.server.emit("bot_uttered", {"text": part}, to=sid)

    async def disconnect(self, sid: str, *reason: Any) -> None:
        self.persona_of.pop(sid, None)
        await self.chat_turns.leave(sid)  # the client left mid-reply: stop working for it


SOCKETIO = web.AppKey("socketio", SocketIOChannel)


def add_socketio_channel(app: web.Application, personas: dict[str, Persona], settings, engine_of, cancelled) -> None:
    """Serve Rasa's socket.io channel at /socket.io/ on the chat app."""
    channel = SocketIOChannel(personas, settings, engine_of, cancelled)
    channel.server.attach(app, socketio_path="socket.io")
    app[SOCKETIO] = channel
