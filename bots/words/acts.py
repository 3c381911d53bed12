"""Which dialogue act each bank reply performs, so a ``disagree`` turn picks a reply that disagreed.

Two readers behind one table:
- ``by_rasa``: the bots' own Rasa NLU model (``/model/parse``) reads each
  reply as it would be posted. It is the same reader that turns a person's
  message into an intent, so a reply chosen as ``agree`` reads as agreement
  to the model that measures act fit. Labels are cached on disk by model and
  text, so a bank is labelled once per model.
- ``by_cues``: agreement and disagreement phrases and the question mark,
  offline, for when no Rasa server is at hand (and as the baseline the NLU
  labels are compared with in ``bench/realism.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from bots.words.adapt import is_question, passage, question
from bots.errors import RasaError
from bots.words.shipped_acts import ShippedLabels

if TYPE_CHECKING:
    from bots.words.bank import BankReply, ReplyBank

# A reply is labelled as it would be posted for an act: agreement or disagreement in its opening sentence(s), up to
# STATEMENT_WORDS (short, so that the act is what the reply is read as), a follow-up as the question it asks.
STATEMENT_WORDS = (5, 25)
QUESTION_WORDS = 80
_WANTED = {"agree": "agree", "disagree": "disagree", "ask_follow_up": "ask_question"}
_AGREE = re.compile(r"^(?:\+1|agreed|exactly|yes|yep|true|indeed|right|absolutely|definitely|same here)\b|"
                    r"\b(?:i agree|i totally agree|good point|great point|you(?:'re| are) right|that'?s right|spot on|"
                    r"well said|this is correct|great answer|nice answer|good answer)\b", re.IGNORECASE)
_DISAGREE = re.compile(r"\b(?:i disagree|not true|i don'?t think|i do not think|that'?s not|this is not|"
                       r"that is not|not really|i doubt|on the contrary|that doesn'?t|this doesn'?t|wrong|"
                       r"not necessarily|not at all|i'?m not sure that|i am not sure that|disagree)\b", re.IGNORECASE)


# What a message names when it asks for something to read ("is there a paper on this?"): the NLU takes some
# opinion questions for source requests ("what do you think about decaf?"), which name none of these.
_TO_READ = re.compile(r"\b(?:source|sources|link|links|read|reading|paper|papers|study|studies|reference|references|docs|"
                      r"documentation|book|books|article|articles|cite|citation|evidence|proof|research)\b", re.IGNORECASE)


# Words that ask for something to read, beyond the names of the things (_TO_READ).
_WHERE_TO_READ = re.compile(r"\b(?:where (?:can|could|would|should|do|might) (?:i|we|one) (?:read|find|learn|look|check)|"
                            r"written down|point me|look (?:it|that|this) up|more on (?:this|that))\b", re.IGNORECASE)
_ASKS = re.compile(r"^\W*(?:(?:so|and|but|ok|okay|honestly|in your (?:opinion|view)|quick question)\W+)?(?:how|what|what's|whats|why|when|where|which|who|whose|is|are|was|were|do|does|did|can|could|"
                   r"should|would|will|has|have|any|anyone)\b", re.IGNORECASE)
_GREETING_HEAD = re.compile(r"^\W*(?:hi|hello|hey|heya|hiya|yo|howdy|greetings|good (?:morning|afternoon|evening))\b\W*",
                            re.IGNORECASE)
# Small talk asks nothing about a subject: "hi there, anyone home?", "hey, how's it going today".
_SMALL_TALK = re.compile(r"\b(?:how(?:'s| is| are)? (?:it going|you|u|things|your day|life|everything)|how have you been|"
                         r"anyone (?:home|there|around|about|here)|(?:are )?you (?:around|there|up|free)|"
                         r"got a (?:minute|sec|second|moment)|what'?s up|whats up|sup|bye)\b", re.IGNORECASE)
# Intents whose rule gives no answer (bots/dialogue/rasa/data/rules.yml) though a person can ask a question in their words.
_NOT_AN_ANSWER = frozenset({"greet", "agree", "disagree", "share_opinion", "off_topic", "thank", "goodbye",
                            "nlu_fallback", "ask_if_bot"})


# Words that ask about the one spoken to (or this chat), which a question about bots in general lacks.
_ABOUT_YOU = re.compile(r"\b(?:you|your|you're|youre|yourself|u|ur|this|these|here|am i|me|human|real person|alive|"
                        r"sentient|talking|chatting|speaking|typing|writing|replying)\b", re.IGNORECASE)
ASKS_ABOUT_YOU_WORDS = 6  # a message this short that reads as "are you a bot?" is taken as asking it


def asks_if_you_are_a_bot(text: str) -> bool:
    """Whether an ``ask_if_bot`` reading asks about the persona itself ("are you a bot?", "am I talking to a
    person?", "bot?"), not about bots in general ("Is it ethical to build a chatbot for Stack Exchange?")."""
    return len(text.split()) <= ASKS_ABOUT_YOU_WORDS or bool(_ABOUT_YOU.search(text))


def asks_to_read(text: str) -> bool:
    """Whether a message asks for something to read (a source, a link, a paper), not for an answer."""
    return bool(_TO_READ.search(text) or _WHERE_TO_READ.search(text))


def asks_a_question(text: str) -> bool:
    """A message that asks something in its own words: it ends with a question mark or opens like a question,
    once any greeting before it is set aside ("hi! how do I descale a gaggia")."""
    rest = _GREETING_HEAD.sub("", text, count=1).strip()
    if len(rest.split()) < 3 or (len(rest.split()) <= 8 and _SMALL_TALK.search(rest)):
        return False  # "hi there?", "really?", "why?", "how's it going?": no question of its own
    return is_question(rest) or bool(_ASKS.match(rest))


def chat_reading(text: str, intent: str | None) -> str | None:
    """The intent a one-to-one chat acts on: the NLU's, except where a person asked a question of their own.

    The NLU is trained for forum posts, and the swarm's readings depend on it as it is; face to face, a
    question read as a greeting, an agreement or a source request would get a greeting, a follow-up or a
    citation back, never the answer asked for. So a question gets an answer unless it asks for something to
    read, or it agrees or disagrees in so many words. A question about the persona being a bot ("are you a
    bot?", in any words that address it) is never read otherwise; one about bots in general is a question.
    """
    if intent == "ask_if_bot" and (asks_if_you_are_a_bot(text) or not asks_a_question(text)):
        return intent
    if not asks_a_question(text):
        return intent
    head = " ".join(text.split()[:25])
    if intent == "ask_for_source":
        return intent if asks_to_read(text) else "ask_question"
    if intent in ("agree", "disagree") and (_AGREE.search(head) or _DISAGREE.search(head)):
        return intent
    return "ask_question" if intent in _NOT_AN_ANSWER else intent


def wanted_label(act: str) -> str | None:
    """The NLU intent a reply must read as to perform ``act`` (None: any statement will do)."""
    return _WANTED.get(act)


def cue_label(text: str) -> str:
    if is_question(text):
        return "ask_question"
    head = " ".join(text.split()[:25])
    if _DISAGREE.search(head):
        return "disagree"
    if _AGREE.search(head):
        return "agree"
    return "share_opinion"


SHIPPED = ShippedLabels()  # one per process: read and checked once, on first use
KINDS = ("statement", "question")  # a reply is posted as a statement (its first passage) or as the question it asks


def labelled_texts(text: str) -> dict[str, str]:
    """What of a reply would be posted, as a statement and as a follow-up question (where it has either)."""
    out = {}
    statement = passage(text, *STATEMENT_WORDS)
    if statement is not None and not is_question(statement.text):
        out["statement"] = statement.text
    asked = question(text, QUESTION_WORDS)
    if asked is not None:
        out["question"] = asked.text
    return out


class ActLabels:
    """(reply id, kind) -> intent, and how it was read."""

    def __init__(self, labels: dict[tuple[int, str], str], how: str) -> None:
        self.labels = labels
        self.how = how

    def label(self, reply_id: int, kind: str = "statement") -> str | None:
        return self.labels.get((reply_id, kind))

    def counts(self) -> Counter[str]:
        return Counter(f"{kind}:{intent}" for (_, kind), intent in self.labels.items())

    @classmethod
    def by_cues(cls, bank: ReplyBank) -> ActLabels:
        return cls({(reply.id, kind): cue_label(text) for reply in bank.replies
                    for kind, text in labelled_texts(reply.text).items()}, "cues")

    @classmethod
    async def by_rasa(cls, replies: Sequence[BankReply], rasa_url: str, *, cache_path: Path | None,
                      concurrency: int = 4, progress: Callable[[int], None] | None = None,
                      shipped: ShippedLabels | None = SHIPPED) -> ActLabels:
        """Every reply read by the Rasa server's NLU as it would be posted, from the cache when this model read it,
        else from the shipped labels when they are this model's (``bots/words/shipped_acts.py``; None: never).

        Only the replies' texts are read (a ``BankSource``'s will do), so labelling may run while the bank embeds.
        """
        texts = {(reply.id, kind): text for reply in replies for kind, text in labelled_texts(reply.text).items()}
        model = await model_of(rasa_url.rstrip("/"))
        cache = _LabelCache(cache_path, model)
        try:
            labels = cache.get_many(texts)
            if shipped is not None and len(labels) < len(texts):
                labels |= shipped.get_many(model, {key: text for key, text in texts.items() if key not in labels})
            missing = [(key, text) for key, text in texts.items() if key not in labels]
            if progress is not None:
                progress(len(texts) - len(missing))
            fresh = await _parse_all(rasa_url.rstrip("/"), missing, concurrency, progress)
            cache.put_many({texts[key]: label for key, label in fresh.items()})
        finally:
            cache.close()
        return cls(labels | fresh, "rasa-nlu")


async def read_texts(rasa_url: str, texts: Sequence[str], *, concurrency: int = 4,
                     progress: Callable[[int], None] | None = None) -> tuple[str, dict[str, str]]:
    """(the server's model, text -> intent) for every text, read by the Rasa server's NLU now (no cache)."""
    url = rasa_url.rstrip("/")
    model = await model_of(url)
    unique = list(dict.fromkeys(texts))
    read = await _parse_all(url, list(enumerate(unique)), concurrency, progress)
    return model, {unique[i]: intent for i, intent in read.items()}


async def model_of(url: str) -> str:
    """The loaded model's file name: labels are cached per model."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.get(f"{url}/status") as response:
                data = await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        raise RasaError(f"rasa at {url} did not say which model it runs ({exc!r}); is it running with --enable-api?") from None
    model = data.get("model_file") if isinstance(data, dict) else None
    if not model:
        raise RasaError(f"rasa at {url} has no model loaded; train one with `murmur train`")
    return str(model)


async def parse_all(url: str, items: Sequence[tuple[Hashable, str]], concurrency: int,
                    progress: Callable[[int], None] | None = None) -> dict[Hashable, dict]:
    """key -> the Rasa server's whole ``/model/parse`` answer for each (key, text), ``concurrency`` at a time."""
    limit = asyncio.Semaphore(concurrency)
    out: dict[Hashable, dict] = {}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def parse(key: Hashable, text: str) -> None:
            async with limit:
                try:
                    async with session.post(f"{url}/model/parse", json={"text": text}) as response:
                        if response.status != 200:
                            raise RasaError(f"rasa at {url} answered {response.status} to /model/parse; "
                                            "is it a Rasa server with --enable-api?")
                        data = await response.json(content_type=None)
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    raise RasaError(f"rasa at {url} could not read {text[:60]!r} ({exc!r}); is it running?") from None
            out[key] = data if isinstance(data, dict) else {}
            if progress is not None:
                progress(1)

        await asyncio.gather(*(parse(i, t) for i, t in items))
    return out


def intent_of(parsed: dict) -> str:
    """The intent a ``/model/parse`` answer reads (``nlu_fallback`` when it names none)."""
    return (parsed.get("intent") or {}).get("name") or "nlu_fallback"


async def _parse_all(url: str, items: list[tuple[tuple[int, str], str]], concurrency: int,
                     progress: Callable[[int], None] | None) -> dict[tuple[int, str], str]:
    return {key: intent_of(parsed) for key, parsed in (await parse_all(url, items, concurrency, progress)).items()}


class _LabelCache:
    """(model, text) -> intent in SQLite; ``path=None`` keeps nothing."""

    def __init__(self, path: Path | None, model: str) -> None:
        self.model = model
        self._conn = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path))
            self._conn.execute("CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, intent TEXT NOT NULL)")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model}\0{text}".encode("utf-8")).hexdigest()

    def get_many(self, texts: dict[tuple[int, str], str]) -> dict[tuple[int, str], str]:
        if self._conn is None or not texts:
            return {}
        keys = {self._key(t): i for i, t in texts.items()}
        found: dict[tuple[int, str], str] = {}
        items = list(keys)
        for start in range(0, len(items), 500):
            chunk = items[start:start + 500]
            rows = self._conn.execute(f"SELECT key, intent FROM labels WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            for key, intent in rows:
                found[keys[key]] = intent
        return found

    def put_many(self, labels: dict[str, str]) -> None:
        if self._conn is None or not labels:
            return
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?)",
                                   [(self._key(t), intent) for t, intent in labels.items()])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
