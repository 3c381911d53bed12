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
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from bots.chat.rules import STARTING, STILL_ANSWERING, could_not_answer, message_problem, too_many
from bots.dialogue.engine import DialogueError
from bots.personas import Persona
from conversations.errors import RateLimited
from conversations.ratelimit import RateLimiter

log = logging.getLogger("murmur.chat")

PATH = "/webhooks/rest/webhook"
SENDER_MAX_CHARS = 200
GONE_CHECK_S = 0.05  # how often a waiting turn looks whether its client hung up (aiohttp has no callback)

REST_LIMITER = web.AppKey("rest_limiter", RateLimiter)
REST_BUSY = web.AppKey("rest_busy", set)  # senders with a turn in flight


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
    return {"sender": sender.strip(), "message": message.strip(), "metadata": metadata}


async def _unless_gone(request: web.Request, turn: asyncio.Task) -> bool:
    """Wait for the turn; cancel it if the client hangs up first. Whether the turn finished."""
    while not turn.done():
        await asyncio.wait({turn}, timeout=GONE_CHECK_S)
        transport = request.transport
        if not turn.done() and (transport is None or transport.is_closing()):
            turn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await turn
            return False
    return True


def rest_webhook(personas: dict[str, Persona], settings, engine_of, cancelled) -> Any:
    """The channel's handler over the chat app's personas, settings, engine and record of cancelled turns."""

    async def handle(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > settings.max_frame_bytes:
            return _error(413, f"body: {request.content_length} bytes is over the limit of {settings.max_frame_bytes}")
        body = _read(await request.read(), settings.max_chars)
        if isinstance(body, str):
            return _error(400, body)
        name = request.query.get("persona") or body["metadata"].get("persona") or ""
        persona = personas.get(name)
        if persona is None:
            return _error(404, f"persona: unknown persona {name!r}; give ?persona= one of {', '.join(sorted(personas))}")
        sender = body["sender"]
        try:
            request.app[REST_LIMITER].take(f"{persona.name}:{sender}")
        except RateLimited as exc:
            return _error(429, too_many(settings, exc), {"Retry-After": str(max(1, round(exc.retry_after)))})
        engine = engine_of()
        if engine is None:
            return _error(503, STARTING)
        busy = request.app[REST_BUSY]
        key = f"{persona.name}:{sender}"
        if key in busy:
            return _error(409, f"sender: {STILL_ANSWERING}")
        busy.add(key)
        conversation = f"rest-{sender}"
        turn = asyncio.create_task(engine.respond(persona, conversation, body["message"], one_to_one=True))
        try:
            if not await _unless_gone(request, turn):
                cancelled.append(conversation)
                return _error(499, "the client left before the reply")  # nobody reads it
            reply = turn.result()
        except DialogueError as exc:
            log.warning("REST chat turn for %s failed: %s", persona.name, exc)
            return _error(502, could_not_answer(exc))
        finally:
            busy.discard(key)
        return web.json_response([{"recipient_id": sender, "text": text} for text in reply.messages if text])

    return handle


def add_rest_channel(app: web.Application, personas: dict[str, Persona], settings, engine_of, cancelled) -> None:
    """Serve Rasa's REST channel on the chat app."""
    app[REST_LIMITER] = RateLimiter(settings.messages_per_minute, settings.message_burst)
    app[REST_BUSY] = set()
    app.router.add_post(PATH, rest_webhook(personas, settings, engine_of, cancelled))
