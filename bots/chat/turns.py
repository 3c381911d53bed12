"""One turn-taker for every chat channel: the guards of a turn, in one order, whatever carries the words.

A channel (the web socket, Rasa's REST channel, Rasa's socket.io channel) is a codec around ``ChatTurns``: it reads
its frames, JSON or events into a persona and a message, and writes the turn's messages, or a refusal, back in its
own shape. The guards, checked in this order, and the refusal each gives:

1. an unknown persona (``UNKNOWN_PERSONA``);
2. the chat's rate, per conversation (``TOO_MANY``, with the seconds to wait);
3. a turn of the same client already in flight (``STILL_ANSWERING``);
4. the dialogue engine not started yet (``STARTING``);
5. Rasa failing mid-turn (``FAILED``, raised by the turn itself);
6. a client that leaves mid-turn: ``leave`` cancels its turn and records its conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, MutableSequence

from bots.chat.rules import STARTING, STILL_ANSWERING, could_not_answer, too_many
from bots.dialogue.engine import DialogueEngine, DialogueError, Turn
from bots.personas import Persona
from bots.settings import ChatSettings
from conversations.errors import RateLimited
from conversations.ratelimit import RateLimiter
from core.errors import MurmurError

log = logging.getLogger("murmur.chat")

UNKNOWN_PERSONA, TOO_MANY, BUSY, NOT_STARTED, FAILED = "unknown_persona", "too_many", "busy", "not_started", "failed"
GUARDS = (UNKNOWN_PERSONA, TOO_MANY, BUSY, NOT_STARTED, FAILED)  # in the order they are checked


class Refusal(MurmurError):
    """A turn that is not taken, or failed: which guard said no (one of GUARDS), and what to tell the client."""

    def __init__(self, guard: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.guard = guard
        self.message = message
        self.retry_after = retry_after


class ChatTurns:
    """The turns of one channel: its personas, its rate limiter, and its clients' turns in flight (by client key)."""

    def __init__(self, personas: dict[str, Persona], settings: ChatSettings,
                 engine_of: Callable[[], DialogueEngine | None], cancelled: MutableSequence[str],
                 channel: str = "chat") -> None:
        self.personas = personas
        self.settings = settings
        self.engine_of = engine_of
        self.cancelled = cancelled  # the conversations of turns cancelled because their client left (shared)
        self.channel = channel
        self.limiter = RateLimiter(settings.messages_per_minute, settings.message_burst)
        self.in_flight: dict[str, asyncio.Task[Turn]] = {}  # client key -> its turn being worked on now
        self._conversation_of: dict[str, str] = {}

    def persona(self, name: str, how: str = "known:") -> Persona:
        """Guard 1: the persona a client named; ``how`` says, in the channel's terms, how to name a known one."""
        persona = self.personas.get(name)
        if persona is None:
            raise Refusal(UNKNOWN_PERSONA, f"persona: unknown persona {name!r}; {how} {', '.join(sorted(self.personas))}")
        return persona

    def begin(self, key: str, persona: Persona, conversation: str, text: str, *, rate_key: str | None = None
              ) -> asyncio.Task[Turn]:
        """Guards 2-4, then the turn, running: a task whose result is Rasa's turn (guard 5 raises ``Refusal`` from it).

        ``key`` is the client (one turn at a time each), ``rate_key`` what the rate is counted on (the key when
        not given), ``conversation`` the Rasa conversation the turn belongs to."""
        try:
            self.limiter.take(rate_key or key)
        except RateLimited as exc:
            raise Refusal(TOO_MANY, too_many(self.settings, exc), exc.retry_after) from exc
        current = self.in_flight.get(key)
        if current is not None and not current.done():
            raise Refusal(BUSY, STILL_ANSWERING)
        engine = self.engine_of()
        if engine is None:
            raise Refusal(NOT_STARTED, STARTING)
        task = asyncio.create_task(self._respond(engine, persona, conversation, text))
        self.in_flight[key], self._conversation_of[key] = task, conversation
        task.add_done_callback(lambda done: self._finished(key, done))
        return task

    async def _respond(self, engine: DialogueEngine, persona: Persona, conversation: str, text: str) -> Turn:
        try:
            return await engine.respond(persona, conversation, text, one_to_one=True)
        except DialogueError as exc:
            log.warning("%s turn for %s failed: %s", self.channel, persona.name, exc)
            raise Refusal(FAILED, could_not_answer(exc)) from exc

    def _finished(self, key: str, task: asyncio.Task[Turn]) -> None:
        if self.in_flight.get(key) is task:
            del self.in_flight[key], self._conversation_of[key]

    async def leave(self, key: str) -> bool:
        """Guard 6: the client is gone; its turn in flight, if any, stops and its conversation is recorded.
        Whether there was one to stop."""
        task = self.in_flight.get(key)
        if task is None or task.done():
            return False
        conversation = self._conversation_of[key]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Refusal):
            await task
        self._finished(key, task)  # gone from the turns in flight before the cancellation is on record
        self.cancelled.append(conversation)
        return True
