"""Rasa's custom actions, served by murmur's own aiohttp app (the action-server protocol).

Rasa POSTs ``{next_action, sender_id, tracker, domain, version}``; we answer
200 with ``{"events": [], "responses": [...]}``, or 400 with
``{"error", "action_name"}`` to reject an action. Every custom action is a
dialogue act (``action_agree`` -> ``agree``); its words come from the
ReplyGenerator, for the persona named in the message's metadata, with the
conversation so far taken from the tracker.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from typing import Any

from aiohttp import web

from bots.words.acts import chat_reading
from bots.personas import Persona
from bots.words.replies import ACTS, Message, ReplyError, ReplyGenerator, ReplyRequest

log = logging.getLogger("murmur.bots")
ACTION_PREFIX = "action_"

PERSONAS = web.AppKey("personas", dict)
GENERATOR = web.AppKey("generator", ReplyGenerator)
ACTION_TIMINGS = web.AppKey("action_timings", deque)  # the latest generation times, for benchmarks


def _reject(action: str, message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message, "action_name": action}, status=status)


# Rasa's intent payload ("/greet", '/inform{"x": 1}'): what a widget's button or initPayload sends, not words.
INTENT_PAYLOAD = re.compile(r"^/\w+(\{.*\})?(@[0-9.]+)?$", re.DOTALL)


def conversation_from(tracker: dict[str, Any], persona: str) -> tuple[Message, ...]:
    """The user's and the bot's messages, in order, from the tracker's events (intent payloads are not messages)."""
    messages = []
    for event in tracker.get("events") or []:
        text = event.get("text")
        if not text:
            continue
        if event.get("event") == "user":
            if INTENT_PAYLOAD.match(text.strip()):
                continue
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            messages.append(Message("user", text, intent if isinstance(intent, str) else None))
        elif event.get("event") == "bot":
            messages.append(Message(persona, text))
    return tuple(messages)


async def handle_action(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return _reject("", "body: not valid JSON; Rasa sends {next_action, sender_id, tracker, domain}")
    if not isinstance(payload, dict):
        return _reject("", "body: must be a JSON object")
    action = payload.get("next_action")
    tracker = payload.get("tracker")
    if not isinstance(action, str) or not isinstance(tracker, dict):
        return _reject(str(action or ""), "next_action and tracker are required")
    act = action.removeprefix(ACTION_PREFIX)
    if not action.startswith(ACTION_PREFIX) or act not in ACTS:
        return _reject(action, f"no such action; murmur serves {', '.join(ACTION_PREFIX + a for a in ACTS)}")
    metadata = (tracker.get("latest_message") or {}).get("metadata") or {}
    persona: Persona | None = request.app[PERSONAS].get(metadata.get("persona"))
    if persona is None:
        return _reject(action, f"metadata.persona: unknown persona {metadata.get('persona')!r}")
    conversation = conversation_from(tracker, persona.name)
    one_to_one = bool(metadata.get("one_to_one"))
    if one_to_one and conversation and conversation[-1].author == "user" \
            and chat_reading(conversation[-1].text, conversation[-1].intent) == "ask_question":
        # face to face, a question of the person's own gets an answer, however the NLU read it; a question about
        # the persona being a bot is never read so (bots.words.acts.chat_reading), so it is always disclosed
        act = "answer"
    started = time.perf_counter()
    try:
        reply = await request.app[GENERATOR].write(ReplyRequest(
            persona=persona, act=act, conversation=conversation,
            conversation_id=str(metadata.get("conversation") or payload.get("sender_id")),
            thread_title=metadata.get("thread_title"), thread_id=metadata.get("thread_id"),
            thread_opening=metadata.get("thread_opening"), one_to_one=one_to_one,
            claim=metadata.get("claim", True) is not False))
    except ReplyError as exc:
        log.warning("action %s for %s failed: %s", action, persona.name, exc)
        return _reject(action, str(exc), status=500)
    request.app[ACTION_TIMINGS].append(time.perf_counter() - started)
    custom = reply.custom()
    responses = [{"text": reply.text, "custom": custom}] if reply.text else [{"custom": custom}]
    return web.json_response({"events": [], "responses": responses})


def add_action_server(app: web.Application, personas: dict[str, Persona], generator: ReplyGenerator) -> None:
    """Serve the custom actions at POST /webhook on this app."""
    app[PERSONAS] = personas
    app[GENERATOR] = generator
    app[ACTION_TIMINGS] = deque(maxlen=100_000)
    app.router.add_post("/webhook", handle_action)
