"""The ``llm`` backend: replies from any OpenAI-compatible chat-completions server (llama.cpp, vLLM, Ollama).

Timeouts, retries and a clear error when the server is unreachable. The model
gets the persona and the act; the persona's length and the rule never to
repeat a reply in one conversation are applied to what comes back.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp

from bots.words.replies import ACTS, ConversationMemory, FirstChoice, Opening, Reply, ReplyError, ReplyRequest
from bots.words.titles import template_opening
from bots.words.voice import Voice, disclosure, strip_placeholders

_ACT_INSTRUCTIONS = {
    "greet": "Greet the person briefly.", "answer": "Answer the question helpfully.",
    "agree": "Agree with the last message and add something of your own.",
    "disagree": "Politely disagree with the last message and say why.",
    "ask_follow_up": "Ask one follow-up question.", "give_source": "Point to where this is discussed, without inventing links.",
    "welcome": "Reply to their thanks briefly.", "goodbye": "Say goodbye briefly.",
}


class LLMGenerator(FirstChoice):
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

    async def open_thread(self, persona, interest: str, key: str) -> Opening | None:
        return await template_opening(self, persona, interest, key, 0)

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
                         "check replies.llm.url in config.yml or use replies.backend: bank")


def _clean(text: str) -> str:
    return strip_placeholders(text or "").strip()
