"""Fakes for what a test is not about, behind the same protocols as the real parts.

A swarm test about the join policy, the clock, replay or provenance does not need Rasa to pick an act:
``FakeDialogue`` answers every turn with one act and asks the generator for the words, as murmur's action
server does, and hands its answer through the same ``parse_turn`` as Rasa's. ``FakeGenerator`` writes short
numbered texts with a ground-truth ``source``, and claims each of them once, as the reply bank does. The real
Rasa server and the real generators stay in the end-to-end tests (a swarm, a chat per channel, the demo).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from bots.dialogue.engine import DialogueError, Turn, parse_turn
from bots.personas import Persona
from bots.words.replies import Message, Opening, Reply, ReplyGenerator, ReplyRequest


class FakeGenerator:
    """A ReplyGenerator whose words are made up from the request: deterministic, and each one claimed once."""

    name = "fake"

    def __init__(self, silent_for: Sequence[str] = ()) -> None:
        self.silent_for = set(silent_for)  # personas that never find anything to say
        self.used: set[int] = set()

    def _number(self, key: str) -> int:
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")

    async def write(self, request: ReplyRequest) -> Reply:
        if request.persona.name in self.silent_for:
            return Reply("", request.act, reason="nothing_relevant_to_say")
        number = self._number(f"{request.conversation_id}:{len(request.conversation)}")
        text = f"On {request.thread_title or 'this'}: {request.act} ({request.persona.name}, #{number % 10_000})"
        options = tuple(Reply(f"{text}{' again' * n}", request.act, source={"fake": number + n}) for n in range(2))
        return Reply(options[0].text, request.act, source=options[0].source,
                     alternatives=() if request.claim else options)

    async def open_thread(self, persona: Any, interest: str, key: str) -> Opening | None:
        if persona.name in self.silent_for:
            return None
        number = self._number(key)
        first = Opening(f"A question on {interest}", f"What do people think about {interest}? (#{number % 10_000})",
                        [interest.split()[0]], {"fake": number})
        return Opening.offer([first])

    def claim(self, options: Sequence[Any]) -> Any | None:
        for option in options:
            number = (option.source or {}).get("fake")
            if number is None:
                return option
            if number not in self.used:
                self.used.add(number)
                return option
        return None

    def observe(self, texts: Sequence[str]) -> int:
        return 0  # its words are made up: nothing the forum says can be among them

    def claimed(self) -> dict[str, set[int]]:
        return {"fake": set(self.used)}

    def adopt(self, claimed: Mapping[str, Sequence[int]]) -> None:
        self.used |= set(claimed.get("fake", ()))


class FakeDialogue:
    """The swarm's Dialogue without Rasa: one act for every turn (or a failure, for the tests of failing turns)."""

    def __init__(self, generator: ReplyGenerator, act: str = "answer", fail_for: Sequence[str] = ()) -> None:
        self.generator = generator
        self.act = act
        self.fail_for = set(fail_for)  # personas whose turns raise, as a Rasa server that fails would

    async def respond(self, persona: Persona, conversation_id: str, text: str, *, thread_title: str | None = None,
                      thread_id: int | None = None, thread_opening: str | None = None, claim: bool = True,
                      session: str = "") -> Turn:
        if persona.name in self.fail_for:
            raise DialogueError(f"the fake dialogue fails every turn of {persona.name}")
        reply = await self.generator.write(ReplyRequest(persona, self.act, (Message("user", text),), conversation_id,
                                                        thread_title, thread_id, thread_opening, claim=claim))
        messages = [{"text": reply.text, "custom": reply.custom()}] if reply.text else [{"custom": reply.custom()}]
        return parse_turn(messages, "the fake dialogue", f"{persona.name}:{conversation_id}")
