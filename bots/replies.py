"""ReplyGenerator: the words of a reply, for a persona and a dialogue act.

Two backends behind one interface:
- ``retrieval`` (default, offline): picks what people actually wrote in the
  most relevant threads (through the thread index) and frames it in the
  persona's voice: its openers and closers, length, register, typos, emoji
  and signature. Honest by construction: a source names a real thread.
- ``llm``: any OpenAI-compatible chat-completions endpoint (llama.cpp server,
  vLLM, Ollama), with timeouts, retries and a clear error when unreachable.

Both keep to the same rules: no template placeholders, never the persona's
previous reply in the same conversation again, and the persona's length.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from bots.library import Library, Passage
from bots.personas import Persona
from murmur.errors import MurmurError

ACTS = ("greet", "answer", "agree", "disagree", "ask_follow_up", "give_source", "welcome", "disclose",
        "stay_silent", "goodbye")


class ReplyError(MurmurError):
    """A reply could not be written (e.g. the LLM endpoint is unreachable)."""


@dataclass(frozen=True)
class Message:
    author: str  # "user" or the persona's name
    text: str


@dataclass(frozen=True)
class ReplyRequest:
    persona: Persona
    act: str
    conversation: tuple[Message, ...]
    conversation_id: str
    thread_title: str | None = None
    thread_id: int | None = None  # a forum thread the conversation is in: sources come from elsewhere

    @property
    def last_text(self) -> str:
        return next((m.text for m in reversed(self.conversation) if m.author != self.persona.name), "")


@dataclass(frozen=True)
class Reply:
    text: str  # empty for stay_silent
    act: str
    sources: tuple[int, ...] = ()  # thread ids the words came from


class ReplyGenerator(Protocol):
    name: str

    async def write(self, request: ReplyRequest) -> Reply: ...


# -- the persona's voice -----------------------------------------------------------------------------

_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "greet": {"casual": ("Hey!", "Hi there!", "Oh hey, welcome!"), "formal": ("Hello, and welcome.", "Good to meet you."),
              "technical": ("Hi!", "Hello!")},
    "agree": {"casual": ("Totally agree.", "Yes, exactly this.", "Same here."), "formal": ("I agree with you.", "Quite right."),
              "technical": ("Agreed.", "That matches what I've measured.")},
    "disagree": {"casual": ("Hmm, not so sure about that.", "I'd push back a little."),
                 "formal": ("I see it somewhat differently.", "I am not convinced, I'm afraid."),
                 "technical": ("I don't think that holds up.", "My results point the other way.")},
    "follow_up": {"casual": ("What got you into it?", "How did that work out for you?", "What have you tried so far?"),
                  "formal": ("May I ask what you have tried so far?", "What prompted the question, if I may ask?"),
                  "technical": ("What's your setup exactly?", "Which variables have you changed so far?")},
    "welcome": {"casual": ("Anytime!", "Glad it helped!", "No worries at all."), "formal": ("You are very welcome.", "My pleasure."),
                "technical": ("Happy to help.", "Glad that worked.")},
    "goodbye": {"casual": ("Catch you later!", "Bye for now!"), "formal": ("Goodbye, and all the best.", "Take care."),
                "technical": ("Bye!", "Good luck with it!")},
    "source": {"casual": ("There's a good thread on this:", "Have a look at this thread:"),
               "formal": ("You may find this discussion useful:", "A thread worth reading on this:"),
               "technical": ("Reference:", "See this thread:")},
}
_PLACEHOLDER = re.compile(r"\{[^}]*\}|<[A-Z_]+>|\[[A-Z_]+\]")


def disclosure(persona: Persona) -> str:
    """The honest answer to 'are you a bot?'."""
    return (f"Yes. I'm a bot: an automated persona called {persona.name}, part of a research test forum run "
            "with murmur. I'm not a person.")


class Voice:
    """Applies a persona's style to plain sentences, reproducibly (seeded per conversation and turn)."""

    def __init__(self, persona: Persona, rng: random.Random) -> None:
        self.persona = persona
        self.rng = rng

    def pick(self, kind: str) -> str:
        options = _PHRASES[kind][self.persona.style.tone]
        return self.rng.choice(options)

    def finish(self, parts: list[str], *, decorate: bool = True) -> str:
        style = self.persona.style
        text = " ".join(p.strip() for p in parts if p and p.strip())
        words = text.split()
        if len(words) > style.length.max_words:
            text = _cut_to_sentences(text, style.length.max_words)
        if decorate and style.typos:
            text = self._typos(text, style.typos)
        if style.lowercase:
            text = text.lower()
        if decorate and style.emoji and self.rng.random() < style.emoji:
            text = f"{text} {self.rng.choice(style.emoji_set)}"
        if decorate and style.signature:
            text = f"{text}\n{style.signature}"
        return text[: self.persona.limits.max_reply_chars].strip()

    def _typos(self, text: str, rate: float) -> str:
        words = text.split(" ")
        for i, word in enumerate(words):
            if len(word) > 4 and word.isalpha() and self.rng.random() < rate:
                j = self.rng.randrange(1, len(word) - 2)
                words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2:]  # a swapped pair of letters
        return " ".join(words)


def _cut_to_sentences(text: str, max_words: int) -> str:
    kept, count = [], 0
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        n = len(sentence.split())
        if count + n > max_words and kept:
            break
        kept.append(sentence)
        count += n
    result = " ".join(kept)
    if len(result.split()) > max_words:
        result = " ".join(result.split()[:max_words]).rstrip(",;:") + "..."
    return result


# -- retrieval ------------------------------------------------------------------------------------------


@dataclass
class _Memory:
    replies: set[str] = field(default_factory=set)
    passages: set[str] = field(default_factory=set)


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


class RetrievalGenerator:
    """Offline replies from real human text, framed in the persona's voice."""

    name = "retrieval"

    def __init__(self, library: Library, seed: int = 0) -> None:
        self.library = library
        self.seed = seed
        self._memory = ConversationMemory(_Memory)

    async def write(self, request: ReplyRequest) -> Reply:
        return await asyncio.to_thread(self._write, request)

    def _write(self, request: ReplyRequest) -> Reply:
        persona, act = request.persona, request.act
        if act not in ACTS:
            raise ReplyError(f"act: unknown dialogue act {act!r}; known: {', '.join(ACTS)}")
        memory = self._memory[(persona.name, request.conversation_id)]
        turn = sum(m.author == persona.name for m in request.conversation)
        rng = random.Random(f"{self.seed}:{persona.name}:{request.conversation_id}:{turn}:{act}")
        voice = Voice(persona, rng)
        if act == "stay_silent":
            return Reply("", act)
        if act == "disclose":
            return self._remember(memory, Reply(disclosure(persona), act))
        for attempt in range(8):  # a new draw until the reply is new in this conversation
            reply = self._compose(request, voice, memory, attempt)
            if reply.text not in memory.replies and not _PLACEHOLDER.search(reply.text):
                return self._remember(memory, reply)
        raise ReplyError(f"persona {persona.name}: nothing new left to say in conversation {request.conversation_id}")

    def _remember(self, memory: _Memory, reply: Reply) -> Reply:
        memory.replies.add(reply.text)
        return reply

    def _compose(self, request: ReplyRequest, voice: Voice, memory: _Memory, attempt: int) -> Reply:
        persona, act = request.persona, request.act
        style = persona.style
        opener = voice.rng.choice(style.openers) if style.openers and voice.rng.random() < 0.6 else ""
        closer = voice.rng.choice(style.closers) if style.closers and voice.rng.random() < 0.5 else ""
        if act in ("greet", "welcome", "goodbye"):
            line = voice.pick(act)
            topic = f"I'm mostly here for {persona.interests[0]}." if act == "greet" else ""
            return Reply(voice.finish([line, topic, closer if act != "greet" else ""]), act)
        query = " ".join(filter(None, [request.thread_title, request.last_text])) or persona.interests[0]
        passages = [p for p in self.library.passages_for(query, exclude_thread=request.thread_id)
                    if p.text not in memory.passages]
        if not passages:
            passages = [Passage(f"I keep coming back to {persona.interests[attempt % len(persona.interests)]}.", 0, "")]
        chosen = self._enough(passages[attempt:] or passages, style.length.min_words)
        memory.passages.update(p.text for p in chosen)
        body = [p.text for p in chosen]
        sources = tuple(dict.fromkeys(p.thread_id for p in chosen if p.thread_id))
        if act == "agree":
            parts = [voice.pick("agree"), opener, *body, closer]
        elif act == "disagree":
            parts = [voice.pick("disagree"), opener, *body]
        elif act == "ask_follow_up":
            parts = [opener, body[0], voice.pick("follow_up")]
        elif act == "give_source":
            cited = [p for p in chosen if p.thread_id][:1]
            reference = f'{voice.pick("source")} "{cited[0].thread_title}" (/threads/{cited[0].thread_id}).' if cited else ""
            parts = [reference, *body[:1]]
            sources = tuple(p.thread_id for p in cited)
        else:  # answer
            parts = [opener, *body, closer]
        return Reply(voice.finish(parts), act, sources)

    @staticmethod
    def _enough(passages: list[Passage], min_words: int) -> list[Passage]:
        chosen, words = [], 0
        for passage in passages:
            chosen.append(passage)
            words += len(passage.text.split())
            if words >= min_words or len(chosen) == 3:
                break
        return chosen


# -- llm ------------------------------------------------------------------------------------------------

_ACT_INSTRUCTIONS = {
    "greet": "Greet the person briefly.", "answer": "Answer the question helpfully.",
    "agree": "Agree with the last message and add something of your own.",
    "disagree": "Politely disagree with the last message and say why.",
    "ask_follow_up": "Ask one follow-up question.", "give_source": "Point to where this is discussed, without inventing links.",
    "welcome": "Reply to their thanks briefly.", "goodbye": "Say goodbye briefly.",
}


class LLMGenerator:
    """Replies from an OpenAI-compatible chat-completions endpoint."""

    name = "llm"

    def __init__(self, url: str, model: str, *, timeout_s: float = 30.0, retries: int = 2, api_key: str | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.api_key = api_key
        self._session = session
        self._previous = ConversationMemory(set)

    async def write(self, request: ReplyRequest) -> Reply:
        persona, act = request.persona, request.act
        if act == "stay_silent":
            return Reply("", act)
        if act == "disclose":
            return Reply(disclosure(persona), act)
        if act not in _ACT_INSTRUCTIONS:
            raise ReplyError(f"act: unknown dialogue act {act!r}; known: {', '.join(ACTS)}")
        previous = self._previous[(persona.name, request.conversation_id)]
        text = ""
        for _ in range(3):
            text = _clean(await self._complete(self._messages(request, previous)))
            if text and text not in previous:
                break
        voice = Voice(persona, random.Random(f"{persona.name}:{request.conversation_id}:{len(previous)}"))
        text = voice.finish([text], decorate=False)
        if not text or text in previous:
            raise ReplyError(f"llm at {self.url} gave an empty or repeated reply for {persona.name}")
        previous.add(text)
        return Reply(text, act)

    def _messages(self, request: ReplyRequest, previous: set[str]) -> list[dict[str, str]]:
        persona = request.persona
        style = persona.style
        system = (f"You are {persona.shown_name}, a forum participant. {persona.bio} Interests: "
                  f"{'; '.join(persona.interests)}. Write in a {style.tone} register, "
                  f"{style.length.min_words}-{style.length.max_words} words, plain text. {_ACT_INSTRUCTIONS[request.act]}"
                  " If anyone sincerely asks whether you are a bot or an AI, say that you are.")
        if previous:
            system += " Do not repeat anything you said before."
        messages = [{"role": "system", "content": system}]
        for message in request.conversation[-12:]:
            messages.append({"role": "assistant" if message.author == persona.name else "user", "content": message.text})
        return messages

    async def _complete(self, messages: list[dict[str, str]]) -> str:
        session = self._session or aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        payload = {"model": self.model, "messages": messages, "temperature": 0.8, "max_tokens": 300}
        last_error: Exception | None = None
        try:
            for attempt in range(self.retries + 1):
                try:
                    async with session.post(f"{self.url}/v1/chat/completions", json=payload, headers=headers,
                                            timeout=self.timeout) as response:
                        if response.status >= 500 or response.status == 429:
                            last_error = ReplyError(f"llm at {self.url} answered {response.status}")
                        elif response.status >= 400:
                            raise ReplyError(f"llm at {self.url} refused the request ({response.status}: "
                                             f"{(await response.text())[:200]}); check replies.llm.model in config.yml")
                        else:
                            data = await response.json(content_type=None)
                            try:
                                return data["choices"][0]["message"]["content"]
                            except (KeyError, IndexError, TypeError):
                                raise ReplyError(f"llm at {self.url} answered without choices[0].message.content; "
                                                 "is it an OpenAI-compatible chat-completions server?") from None
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    last_error = exc
                if attempt < self.retries:
                    await asyncio.sleep(0.2 * 2 ** attempt)
        finally:
            if self._session is None:
                await session.close()
        raise ReplyError(f"llm at {self.url} unreachable after {self.retries + 1} tries ({last_error!r}); "
                         "check replies.llm.url in config.yml or use replies.backend: retrieval")


def _clean(text: str) -> str:
    return _PLACEHOLDER.sub("", text or "").strip()
