"""Rasa's REST channel, spoken by ``murmur chat``: clients built for Rasa talk to a persona unchanged.

``POST /webhooks/rest/webhook?persona=NAME`` with ``{"sender": ..., "message": ...}`` (the persona may also come in
``metadata.persona``) is answered, as Rasa's own REST channel answers, with ``[{"recipient_id": sender, "text": ...}]``.
A sender is one conversation: its turns keep their Rasa history. The rules of the web-socket chat hold here too: a
persona says it is a bot when asked (Rasa's ``ask_if_bot`` leads to ``action_disclose``), each sender is held to the
chat's rate, a bad request gets a JSON error naming the field, one turn at a time per sender, and a client that hangs
up mid-turn cancels it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from bots.chat.rules import message_problem
from bots.chat.turns import BUSY, FAILED, NOT_STARTED, TOO_MANY, UNKNOWN_PERSONA, ChatTurns, Refusal
from bots.personas import Persona

PATH = "/webhooks/rest/webhook"
SENDER_MAX_CHARS = 200
GONE_CHECK_S = 0.05  # how often a waiting turn looks whether its client hung up (aiohttp has no callback)

REST_TURNS = web.AppKey("rest_turns", ChatTurns)
REST_BUSY = web.AppKey("rest_busy", dict)  # "persona:sender" with a turn in flight, and the turn


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _read(raw: bytes, max_chars: int) -> dict[str, Any] | str:
    """The request's {sender, message, metadata}, or the problem with it."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return 'body: not JSON; send {"sender": "your-id", "message": "hi"}'
    if not isinstance(body, dict):
        return 'body: must be a JSON object like {"sender": "your-id", "message": "hi"}'
    sender, message = body.get("sender"), body.get("message")
    metadata = {} if body.get("metadata") is None else body["metadata"]
    if not isinstance(sender, str) or not sender.strip() or len(sender) > SENDER_MAX_CHARS:
        return f"sender: give a non-empty string of up to {SENDER_MAX_CHARS} characters (one per conversation)"
    problem = message_problem("message", message, max_chars)
    if problem:
        return problem
    if not isinstance(metadata, dict):
        return "metadata: must be a JSON object"
    assert isinstance(message, str)  # message_problem refuses anything else
    return {"sender": sender.strip(), "message": message.strip(), "metadata": metadata}


async def _unless_gone(request: web.Request, turn: asyncio.Task) -> bool:
    """Wait for the turn; whether it finished before the client hung up."""
    while not turn.done():
        await asyncio.wait({turn}, timeout=GONE_CHECK_S)
        transport = request.transport
        if not turn.done() and (transport is None or transport.is_closing()):
            return False
    return True


STATUS = {UNKNOWN_PERSONA: 404, TOO_MANY: 429, BUSY: 409, NOT_STARTED: 503, FAILED: 502}  # a refusal as HTTP


def _refused(refusal: Refusal) -> web.Response:
    message = f"sender: {refusal.message}" if refusal.guard == BUSY else refusal.message
    headers = ({"Retry-After": str(max(1, round(refusal.retry_after)))} if refusal.retry_after is not None else None)
    return _error(STATUS[refusal.guard], message, headers)


def rest_webhook(turns: ChatTurns) -> Any:
    """The channel's codec: a JSON request in, Rasa's REST answer (or a JSON error with its status) out; the guards
    are the turn-taker's (``bots.chat.turns``)."""
    settings = turns.settings

    async def handle(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > settings.max_frame_bytes:
            return _error(413, f"body: {request.content_length} bytes is over the limit of {settings.max_frame_bytes}")
        body = _read(await request.read(), settings.max_chars)
        if isinstance(body, str):
            return _error(400, body)
        sender = body["sender"]
        try:
            persona = turns.persona(request.query.get("persona") or body["metadata"].get("persona") or "",
                                    "give ?persona= one of")
            key = f"{persona.name}:{sender}"
            turn = turns.begin(key, persona, f"rest-{sender}", body["message"])
            if not await _unless_gone(request, turn):
                await turns.leave(key)
                return _error(499, "the client left before the reply")  # nobody reads it
            reply = turn.result()
        except Refusal as refusal:
            return _refused(refusal)
        return web.json_response([{"recipient_id": sender, "text": text} for text in reply.messages if text])

    return handle


def add_rest_channel(app: web.Application, personas: dict[str, Persona], settings, engine_of, cancelled) -> None:
    """Serve Rasa's REST channel on the chat app."""
    turns = ChatTurns(personas, settings, engine_of, cancelled, "REST chat")
    app[REST_TURNS] = turns
    app[REST_BUSY] = turns.in_flight
    app.router.add_post(PATH, rest_webhook(turns))
