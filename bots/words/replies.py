"""What a reply is, and the one interface every way of writing one shares.

Three backends write replies behind ``ReplyGenerator``:
- ``bank`` (default, ``bots/words/selection.py``): response selection, one whole
  human reply from the reply bank (held apart from the forum), chosen for
  the post it answers and adapted to the persona;
- ``splice`` (``bots/words/splice.py``): the earlier baseline, sentences from the
  forum's own threads framed in the persona's voice, kept to compare against;
- ``llm`` (``bots/words/llm.py``): any OpenAI-compatible chat-completions server.

A generator may offer next-best replies (``alternatives``) instead of taking
its first choice, so a caller that runs turns concurrently can claim them in
its own, reproducible order (``claim``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import MurmurError

ACTS = ("greet", "answer", "agree", "disagree", "ask_follow_up", "give_source", "welcome", "disclose",
        "stay_silent", "goodbye")


class ReplyError(MurmurError):
    """A reply could not be written (e.g. the LLM endpoint is unreachable)."""


@dataclass(frozen=True)
class Message:
    author: str  # "user" or the persona's name
    text: str
    intent: str | None = None  # what the NLU read in it (a user's message, from Rasa's tracker), when known


@dataclass(frozen=True)
class ReplyRequest:
    persona: Any  # bots.personas.Persona
    act: str
    conversation: tuple[Message, ...]
    conversation_id: str
    thread_title: str | None = None
    thread_id: int | None = None  # a forum thread the conversation is in: sources come from elsewhere
    thread_opening: str | None = None  # the thread's opening post, when the conversation is a forum thread
    one_to_one: bool = False  # a chat with a person, who must never get nothing back
    claim: bool = True  # False: offer alternatives and let the caller claim one (see ReplyGenerator.claim)

    @property
    def last_text(self) -> str:
        return next((m.text for m in reversed(self.conversation) if m.author != self.persona.name), "")


@dataclass(frozen=True)
class Reply:
    text: str  # empty when the persona stays silent
    act: str
    sources: tuple[int, ...] = ()  # forum thread ids the words came from (splice)
    source: dict[str, Any] | None = None  # where the words came from (bank): recorded as ground truth, never shown
    reason: str | None = None  # why there is no text, or why it is brief
    alternatives: tuple[Reply, ...] = ()  # the choice and the next best, for a caller that claims

    def custom(self) -> dict[str, Any]:
        """The JSON the action server hands Rasa (and Rasa hands back) with the text."""
        return {"act": self.act, "sources": list(self.sources), "source": self.source, "reason": self.reason,
                "alternatives": [{"text": a.text, "source": a.source} for a in self.alternatives]}


@dataclass(frozen=True)
class Opening:
    """A new thread a bot starts: a title, the opening post, tags, and where it came from."""

    title: str
    body: str
    tags: list[str]
    source: dict[str, Any] | None = None
    alternatives: tuple[Opening, ...] = ()

    @staticmethod
    def offer(options: Sequence[Opening]) -> Opening | None:
        if not options:
            return None
        first = options[0]
        return Opening(first.title, first.body, first.tags, first.source, tuple(options))


class ReplyGenerator(Protocol):
    name: str

    async def write(self, request: ReplyRequest) -> Reply: ...

    async def open_thread(self, persona: Any, interest: str, key: str) -> Opening | None: ...

    def claim(self, options: Sequence[Any]) -> Any | None:
        """The first of ``options`` (replies or openings) still free to use, now taken; None if none is."""
        ...

    def observe(self, texts: Sequence[str]) -> int:
        """Posts now in the forum (people's and bots'): words that repeat them are never used."""
        ...

    def claimed(self) -> dict[str, set[int]]:
        """What is taken, by kind: a copy of the generator in another process adopts it to write the same."""
        ...

    def adopt(self, claimed: Mapping[str, Sequence[int]]) -> None:
        """Take as used what another copy of this generator (a swarm's coordinator) holds as taken."""
        ...


class FirstChoice:
    """claim/observe for generators with nothing to reserve: the first option is always free."""

    def claim(self, options: Sequence[Any]) -> Any | None:
        return options[0] if options else None

    def observe(self, texts: Sequence[str]) -> int:
        return 0

    def claimed(self) -> dict[str, set[int]]:
        return {}

    def adopt(self, claimed: Mapping[str, Sequence[int]]) -> None:
        return None


class ConversationMemory(OrderedDict):
    """What each (persona, conversation) has said; the least recently used conversations are forgotten past a bound."""

    def __init__(self, factory: type, limit: int = 10_000) -> None:
        super().__init__()
        self._factory = factory
        self._limit = limit

    def __missing__(self, key: tuple[str, str]):
        value = self[key] = self._factory()
        while len(self) > self._limit:
            self.popitem(last=False)
        return value

    def __getitem__(self, key: tuple[str, str]):
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value


class PendingGenerator:
    """A generator still being built (a Future), standing in for it where only ``write`` can come before it is done:
    the action server Rasa calls, which is started first so that Rasa's start overlaps the bank's build."""

    name = "pending"

    def __init__(self, built: Awaitable[ReplyGenerator]) -> None:
        self._built = built

    async def ready(self) -> ReplyGenerator:
        return await self._built

    async def write(self, request: ReplyRequest) -> Reply:
        return await (await self._built).write(request)

    async def open_thread(self, persona: Any, interest: str, key: str) -> Opening | None:
        return await (await self._built).open_thread(persona, interest, key)


async def ready(generator: ReplyGenerator | PendingGenerator) -> ReplyGenerator:
    """The generator itself, once built (a ``PendingGenerator`` is waited for)."""
    return await generator.ready() if isinstance(generator, PendingGenerator) else generator
