"""What a one-to-one conversation is about, now: the topic follows the conversation, not its first message.

A forum thread has a title; a chat has only its messages. Taking the first one as the title made a persona mute
after "hi there": every later question was judged against a greeting and failed the topic guard. Here social
turns (greetings, thanks, goodbyes, "are you a bot", small talk, a widget's intent payload) never set the topic;
each substantive message does, weighted toward the latest. A follow-up ("why?", "and for a moka pot?") keeps the
topic it follows; a change of subject (a message of its own far from the topic so far) starts a new one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from bots.words.replies import Message
from index.answer_fit import content_words

# The NLU's intents for turns that carry no subject (bots/dialogue/rasa/domain.yml).
SOCIAL_INTENTS = frozenset({"greet", "thank", "goodbye", "ask_if_bot", "off_topic"})
SOCIAL_MAX_WORDS = 8  # an intent read as social on a longer message is taken for words, not a greeting
_SOCIAL = re.compile(
    r"^\W*(?:(?:hi|hello|hey|hiya|yo|howdy|greetings|good (?:morning|afternoon|evening)|thanks?(?: you)?|"
    r"thx|ty|cheers|bye|goodbye|see you|ok(?:ay)?|cool|great|nice|lol|how are you(?: doing)?|how's it going|"
    r"what's up|sup|are you (?:a )?(?:bot|human|person|real)|there|everyone|all|folks|mate|so much|a lot)\b\W*)+$",
    re.IGNORECASE)
FOLLOW_UP_WORDS = 6  # a message this short may continue the topic it follows ("why?", "and for a moka pot?")
# A short message continues the topic when it opens like a follow-up, points back ("is it worth it?") or names
# hardly anything (a lone "decaf?"); a short one with a subject of its own ("Process size on UNIX?") does not.
_CONTINUES = re.compile(
    r"^\W*(?:and|but|or|so|then|also|even|really|same|what about|how about|what if|why|how so|how come|"
    r"is that|does that|would that|is it|does it|would it)\b", re.IGNORECASE)
_POINTS_BACK = re.compile(r"\b(?:it|this|that|these|those|they|them|there|one|ones)\b", re.IGNORECASE)
# Intents of messages about what was said before ("where can I read more about this?", "I disagree"): they keep the
# topic, and count for less in it than a message with a subject of its own.
REFERRING_INTENTS = frozenset({"ask_for_source", "agree", "disagree"})
REFERRING_WEIGHT = 0.2
NEW_SUBJECT = 0.3  # a longer message less similar than this to the topic so far starts a topic of its own
DECAY = 0.5  # each earlier substantive message of the topic counts half as much as the one after it
WINDOW = 4  # substantive messages a topic is made of, at most


def is_social(message: Message) -> bool:
    """A turn that says hello, thanks, goodbye or asks what the persona is, rather than talking about something."""
    text = message.text.strip()
    if not text:
        return True
    if message.intent in SOCIAL_INTENTS and len(text.split()) <= SOCIAL_MAX_WORDS:
        return True
    return bool(_SOCIAL.match(text))


def refers_back(message: Message) -> bool:
    """A follow-up: about what was said before rather than a subject of its own ("why?", "and for a moka pot?",
    "where can I read more about this?"). A short question naming its own subject is not one."""
    if message.intent in REFERRING_INTENTS:
        return True
    text = message.text
    if len(text.split()) > FOLLOW_UP_WORDS:
        return False
    return bool(_CONTINUES.match(text) or _POINTS_BACK.search(text)) or len(content_words(text)) < 2


def substantive(conversation: Sequence[Message], persona: str) -> list[Message]:
    """The other side's messages that carry a subject, in order."""
    return [m for m in conversation if m.author != persona and not is_social(m)]


def focus(messages: Sequence[Message]) -> str:
    """The message being answered, with the one before it when it is a follow-up ("why?")."""
    if len(messages) > 1 and refers_back(messages[-1]):
        return f"{messages[-2].text}\n{messages[-1].text}"
    return messages[-1].text


def topic_vector(embed, messages: Sequence[Message]) -> np.ndarray | None:
    """The current topic of ``messages`` (substantive, in order) as one normalised vector; None when there are none.

    ``embed`` maps texts to normalised vectors (an Embedder's ``embed``).
    """
    if not messages:
        return None
    recent = list(messages[-WINDOW:])
    vectors = embed([m.text[:1200] for m in recent])
    follows = [refers_back(m) and len(recent) > 1 for m in recent]
    start = 0  # where the current topic begins among ``recent``
    for i in range(1, len(recent)):
        if not follows[i] and float(vectors[i] @ _weighted(vectors[start:i], follows[start:i])) < NEW_SUBJECT:
            start = i
    return _weighted(vectors[start:], follows[start:])


def _weighted(vectors: np.ndarray, follows: Sequence[bool]) -> np.ndarray:
    """Latest first: a message with a subject counts DECAY times the one after it; a follow-up counts
    REFERRING_WEIGHT of where it stands, and does not push the messages before it further back."""
    weights = np.empty(len(vectors), dtype=np.float32)
    current = 1.0
    for i in range(len(vectors) - 1, -1, -1):
        weights[i] = current * (REFERRING_WEIGHT if follows[i] else 1.0)
        if not follows[i]:
            current *= DECAY
    combined = (weights[:, None] * vectors).sum(axis=0)
    return combined / np.linalg.norm(combined)
