"""DialogueEngine: a persona's side of a conversation, decided by the Rasa server.

Each (persona, conversation) pair is its own Rasa conversation (sender id
``persona:conversation``). Before each message the persona's stance toward
it is set as the ``stance`` slot, so Rasa's policies choose between agreeing,
disagreeing and asking; Rasa then calls murmur's action server, which writes
the words. Calls are bounded per server: one Rasa server runs turns one at a
time, so more concurrency only queues inside it; a pool of servers
(``bots.dialogue.pool``) runs as many turns at once as it has servers.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp

from bots.personas import Persona
from bots.dialogue.pool import Member, RasaPool
from bots.dialogue.stance import TOPIC_THRESHOLD as STANCE_THRESHOLD  # noqa: F401 - importable as before
from bots.dialogue.stance import StanceReader
from core.errors import MurmurError

MAX_TRACKED_CONVERSATIONS = 10_000


class DialogueError(MurmurError):
    """The Rasa server failed or could not be reached."""


class ServerGone(DialogueError):
    """A Rasa server could not be connected to (or dropped the connection): its pool sends the turn elsewhere."""


@dataclass(frozen=True)
class Turn:
    act: str
    messages: tuple[str, ...]  # the texts as Rasa sent them, one per response
    sources: tuple[int, ...]
    seconds: float
    source: dict[str, Any] | None = None  # where the words came from (the bank's record): ground truth only
    reason: str | None = None  # why the persona said nothing (or little)
    alternatives: tuple[tuple[str, dict[str, Any] | None], ...] = ()  # (text, source) choices to claim in order

    @property
    def text(self) -> str:
        """The whole turn as one text (the web-socket chat and the forum show it so)."""
        return "\n".join(self.messages)


def _field(value: Any, path: str, kinds: tuple[type, ...], expected: str, where: str) -> Any:
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise DialogueError(f"{where} sent {path} = {value!r:.80}, expected {expected}; is its action endpoint "
                            "murmur's /webhook, and the Rasa project murmur's own (`murmur train`)?")
    return value


def parse_turn(messages: Any, where: str, sender: str, seconds: float = 0.0) -> Turn:
    """A turn from what Rasa's REST webhook answered: read in this one place, with the field named when it is wrong.

    The words are the messages' texts; the act, the bank's record and the choices come in the ``custom`` payload
    that murmur's action server adds to every turn.
    """
    messages = _field(messages, "the reply", (list,), "a list of messages", where)
    for n, message in enumerate(messages):
        _field(message, f"message[{n}]", (dict,), "an object", where)
        if message.get("text") is not None:
            _field(message["text"], f"message[{n}].text", (str,), "text", where)
    texts = tuple(m["text"] for m in messages if m.get("text"))
    custom = next((m["custom"] for m in messages if isinstance(m.get("custom"), dict)), None)
    if custom is None:
        raise DialogueError(f"{where} ran no murmur action for {sender}; "
                            "is its action endpoint pointing at murmur's /webhook?")
    act = _field(custom.get("act", "unknown"), "custom.act", (str,), "the act's name", where)
    sources = _field(custom.get("sources") or [], "custom.sources", (list, tuple), "a list of thread ids", where)
    for n, thread in enumerate(sources):
        _field(thread, f"custom.sources[{n}]", (int,), "a thread id", where)
    source = custom.get("source")
    if source is not None:
        _field(source, "custom.source", (dict,), "the bank's record (an object)", where)
    reason = custom.get("reason")
    if reason is not None:
        _field(reason, "custom.reason", (str,), "a reason's name", where)
    alternatives = []
    for n, option in enumerate(_field(custom.get("alternatives") or [], "custom.alternatives", (list, tuple),
                                      "a list of choices", where)):
        _field(option, f"custom.alternatives[{n}]", (dict,), "an object with text and source", where)
        text = _field(option.get("text") or "", f"custom.alternatives[{n}].text", (str,), "text", where)
        chosen = option.get("source")
        if chosen is not None:
            _field(chosen, f"custom.alternatives[{n}].source", (dict,), "the bank's record (an object)", where)
        alternatives.append((text, chosen))
    return Turn(act, texts, tuple(sources), seconds, source, reason, tuple(alternatives))


class DialogueEngine:
    """Turns over one Rasa server (a URL) or a pool of them; each conversation stays on its pool member."""

    def __init__(self, rasa: str | RasaPool, stance: StanceReader, *, concurrency: int = 4, timeout_s: float = 60.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.pool = rasa if isinstance(rasa, RasaPool) else RasaPool.external([rasa.rstrip("/")], concurrency=concurrency)
        self.stance = stance
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._own_session = session is None
        self._session = session
        self._last_stance: OrderedDict[str, tuple[str, str]] = OrderedDict()  # sender -> (server url, stance), bounded

    @property
    def rasa_url(self) -> str:
        return self.pool.any_url()

    def _remember_stance(self, sender: str, url: str, stance: str) -> None:
        self._last_stance[sender] = (url, stance)
        self._last_stance.move_to_end(sender)
        while len(self._last_stance) > MAX_TRACKED_CONVERSATIONS:
            self._last_stance.popitem(last=False)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _post(self, url: str, path: str, payload: Any) -> Any:
        try:
            async with self._http().post(url + path, json=payload) as response:
                if response.status >= 400:
                    raise DialogueError(f"rasa at {url} answered {response.status} to {path}: "
                                        f"{(await response.text())[:300]}")
                return await response.json(content_type=None)
        except aiohttp.ClientConnectionError as exc:
            raise ServerGone(f"rasa at {url} is unreachable ({exc!r}); start it with `murmur train` and "
                             "a chat or swarm command, or set rasa.url in config.yml") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DialogueError(f"rasa at {url} failed ({exc!r})") from None

    async def _turn_on(self, member: Member, sender: str, stance: str, text: str, metadata: dict) -> Any:
        async with member.limit:
            if self._last_stance.get(sender, (member.url, "neutral")) != (member.url, stance) or stance != "neutral":
                # neutral is the slot's initial value: most turns need no extra call (a quarter of a turn's time);
                # a conversation that moved to another server has its slot set there anew
                await self._post(member.url, f"/conversations/{sender}/tracker/events?include_events=NONE",
                                 [{"event": "slot", "name": "stance", "value": stance}])
            self._remember_stance(sender, member.url, stance)
            messages = await self._post(member.url, "/webhooks/rest/webhook",
                                        {"sender": sender, "message": text, "metadata": metadata})
        member.turns += 1
        member.senders.add(sender)
        return messages

    async def respond(self, persona: Persona, conversation_id: str, text: str, *, thread_title: str | None = None,
                      thread_id: int | None = None, thread_opening: str | None = None, one_to_one: bool = False,
                      claim: bool = True, session: str = "") -> Turn:
        """The persona's next turn after ``text``: Rasa picks the act, the action server writes the words.

        ``session`` keeps Rasa's memory of this conversation apart from an earlier process's with the same id
        (a swarm rerun with the same run id), without changing the words, which are seeded by ``conversation_id``.
        """
        sender = f"{persona.name}:{conversation_id}" + (f"~{session}" if session else "")
        stance = await asyncio.to_thread(self.stance.stance, persona, text)
        metadata = {"persona": persona.name, "conversation": conversation_id, "thread_title": thread_title,
                    "thread_id": thread_id, "thread_opening": thread_opening, "one_to_one": one_to_one, "claim": claim}
        started = time.perf_counter()
        gone = DialogueError("the Rasa pool has no server to send the turn to; start one, or set rasa.url")
        for member in self.pool.candidates(sender):  # the conversation's server; the next one if it is gone
            try:
                messages = await self._turn_on(member, sender, stance, text, metadata)
                break
            except ServerGone as exc:
                gone = exc
                self.pool.mark_down(member, "a turn could not reach it")
        else:
            raise gone
        return parse_turn(messages, f"rasa at {member.url}", sender, time.perf_counter() - started)
