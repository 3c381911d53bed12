"""The ``splice`` backend, kept as the baseline the reply bank is measured against.

It finds the sentences nearest the conversation in the forum's own threads
(through the thread index) and frames a few of them in the persona's voice.
Its replies splice sentences from several people's posts, and quote the
forum back to itself: exactly the artifacts the ``bank`` backend removes
(``bench/realism.py`` measures both, side by side).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from bots.words.library import Library, Passage
from bots.words.replies import ACTS, ConversationMemory, FirstChoice, Opening, Reply, ReplyError, ReplyRequest
from bots.words.titles import template_opening
from bots.words.voice import Voice, disclosure, has_placeholder, social_reply


@dataclass
class _Memory:
    replies: set[str] = field(default_factory=set)
    passages: set[str] = field(default_factory=set)


class SpliceGenerator(FirstChoice):
    """Offline replies spliced from the forum's human sentences, framed in the persona's voice."""

    name = "splice"

    def __init__(self, library: Library, seed: int = 0) -> None:
        self.library = library
        self.seed = seed
        self._memory = ConversationMemory(_Memory)

    async def write(self, request: ReplyRequest) -> Reply:
        return await asyncio.to_thread(self._write, request)

    async def open_thread(self, persona, interest: str, key: str) -> Opening | None:
        return await template_opening(self, persona, interest, key, self.seed)

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
            if reply.text not in memory.replies and not has_placeholder(reply.text):
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
            return social_reply(voice, act)
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


