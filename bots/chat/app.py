"""Chatting with one persona over a web socket, and the chat page.

``/ws/chat?persona=NAME``: the client sends ``{"text": ...}``; the server may
send ``{"typing": true}`` first, then ``{"from": persona, "text": ..., "act": ...}``.
Bad frames (not JSON, no text, too long, binary) get ``{"error": ...}`` and
the connection stays open; a client sending faster than the limit is told
so; a client that leaves mid-reply cancels its turn. The same app serves
Rasa's REST and socket.io channels (``bots.chat.rest``, ``bots.chat.socket_io``), Rasa's own web widget on
``/webchat`` (``bots.chat.webchat_page``) and Rasa's custom actions at ``/webhook``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from aiohttp import WSCloseCode, WSMsgType, web

from bots.chat.rest import add_rest_channel
from bots.chat.rules import message_problem
from bots.chat.socket_io import add_socketio_channel
from bots.chat.turns import ChatTurns, Refusal
from bots.chat.webchat_page import add_webchat_page
from bots.dialogue.actions import GENERATOR, add_action_server
from bots.dialogue.engine import DialogueEngine
from bots.personas import Persona
from bots.settings import ChatSettings
from bots.words.replies import ReplyGenerator, ready

log = logging.getLogger("murmur.chat")
HERE = Path(__file__).parent


@dataclass
class EngineSlot:
    """The DialogueEngine, set once the Rasa server (which needs this app's URL for its actions) is up."""

    engine: DialogueEngine | None = None


CHAT = web.AppKey("chat_settings", ChatSettings)
CHAT_PERSONAS = web.AppKey("chat_personas", dict)
ENGINE = web.AppKey("engine", EngineSlot)
CHAT_SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("chat_sockets", weakref.WeakSet)
TURNS = web.AppKey("turns", dict)  # the web socket's replies being worked on now, by conversation
WS_TURNS = web.AppKey("ws_turns", ChatTurns)
CANCELLED: web.AppKey[deque[str]] = web.AppKey("cancelled", deque)  # the latest turns dropped because their client left


async def chat_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "static" / "chat.html")


async def list_personas(request: web.Request) -> web.Response:
    """Every persona, those with something to draw on first; one whose interests the bank does not hold is marked,
    with the reason and the fix, rather than offered as if it could talk."""
    personas: dict[str, Persona] = request.app[CHAT_PERSONAS]
    generator = await ready(request.app[GENERATOR])  # a bank still building: wait for it (seconds)
    coverage = getattr(generator, "coverage", None)
    found = {}
    if coverage is not None:  # embeds each persona's interests once (cached), off the event loop
        found = await asyncio.to_thread(lambda: {name: coverage(p) for name, p in personas.items()})
    out = []
    for persona in personas.values():
        entry = {"name": persona.name, "display_name": persona.shown_name, "bio": persona.bio,
                 "interests": list(persona.interests), "talks": True}
        cover = found.get(persona.name)
        if cover is not None and not cover.talks:
            entry.update(talks=False, note=f"the reply bank holds nothing on {', '.join(cover.missing)}, so this persona "
                                          "has nothing to say about its interests; add threads on them with replies.bank "
                                          "in config.yml")
        out.append(entry)
    out.sort(key=lambda e: not e["talks"])
    return web.json_response({"personas": out})


async def chat_socket(request: web.Request) -> web.StreamResponse:
    """The web socket's codec: JSON frames in, ``{"typing"}`` then the reply (or ``{"error"}``) out; the guards
    are the turn-taker's (``bots.chat.turns``)."""
    turns: ChatTurns = request.app[WS_TURNS]
    try:
        persona = turns.persona(request.query.get("persona", ""))
    except Refusal as refusal:
        return web.json_response({"error": refusal.message}, status=404)
    settings = request.app[CHAT]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=settings.max_frame_bytes)
    await ws.prepare(request)
    request.app[CHAT_SOCKETS].add(ws)
    conversation = uuid.uuid4().hex
    deliveries: set[asyncio.Task] = set()  # held, so that none is collected before it has sent its frames
    try:
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                await ws.send_json({"error": "binary frames are not accepted; send JSON text like {\"text\": \"hi\"}"})
                continue
            if message.type != WSMsgType.TEXT:
                break
            text = _read_frame(message.data, settings.max_chars)
            if isinstance(text, dict):
                await ws.send_json(text)
                continue
            try:
                turn = turns.begin(conversation, persona, conversation, text)
            except Refusal as refusal:
                await ws.send_json({"error": refusal.message})
                continue
            delivery = asyncio.create_task(_deliver(ws, persona, turn))
            deliveries.add(delivery)
            delivery.add_done_callback(deliveries.discard)
    finally:
        await turns.leave(conversation)  # the client left mid-reply: stop working for it
    return ws


def _read_frame(data: str, max_chars: int) -> str | dict:
    """The text of a frame, or an error frame to send back."""
    try:
        frame = json.loads(data)
    except json.JSONDecodeError:
        return {"error": "not JSON; send {\"text\": \"your message\"}"}
    if not isinstance(frame, dict) or "text" not in frame:
        return {"error": "text: missing; send {\"text\": \"your message\"}"}
    text = frame["text"]
    problem = message_problem("text", text, max_chars)
    return {"error": problem} if problem else text.strip()


async def _deliver(ws: web.WebSocketResponse, persona: Persona, turn: asyncio.Task) -> None:
    """The turn's reply, or why there is none, as frames."""
    await ws.send_json({"typing": True})
    try:
        answer = await turn
    except asyncio.CancelledError:
        return  # the client left
    except Refusal as refusal:
        if not ws.closed:
            await ws.send_json({"error": refusal.message})
        return
    if not ws.closed:
        await ws.send_json({"from": persona.name, "text": answer.text, "act": answer.act})


def create_chat_app(settings: ChatSettings, personas: dict[str, Persona], generator: ReplyGenerator) -> web.Application:
    app = web.Application()
    app[CHAT] = settings
    app[CHAT_PERSONAS] = personas
    app[ENGINE] = EngineSlot()
    cancelled: deque[str] = deque(maxlen=1000)
    app[CHAT_SOCKETS] = weakref.WeakSet()
    app[CANCELLED] = cancelled
    app[WS_TURNS] = ChatTurns(personas, settings, lambda: app[ENGINE].engine, cancelled, "web-socket chat")
    app[TURNS] = app[WS_TURNS].in_flight

    async def close_sockets(app: web.Application) -> None:
        sockets: weakref.WeakSet[web.WebSocketResponse] = app[CHAT_SOCKETS]
        for ws in list(sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"chat shutting down")

    app.on_shutdown.append(close_sockets)
    app.router.add_get("/", chat_page)
    app.router.add_get("/api/personas", list_personas)
    app.router.add_get("/ws/chat", chat_socket)
    add_rest_channel(app, personas, settings, lambda: app[ENGINE].engine, app[CANCELLED])
    add_socketio_channel(app, personas, settings, lambda: app[ENGINE].engine, app[CANCELLED])
    add_webchat_page(app, personas)
    add_action_server(app, personas, generator)
    return app
