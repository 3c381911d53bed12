"""Decorations: what a reader notices around a post's words, counted the same way for bots and for people.

A persona's hand-written style adds a sign-off line, a stock opener or closer, a stance lead ("I disagree:"),
a trailing emoji, all-lowercase text; people use each of these too, at their own (usually low) rate. Each
decoration here is defined on the text alone, so one definition counts both sides of the same threads and
the difference between their rates is what a reader sees. A count of people's posts that open with "Yes,"
is not a bot signal; a count ten times theirs is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DECORATIONS = ("sign_off", "opener", "closer", "stance_lead", "emoji", "lowercase", "quote")
PHRASE_WORDS = 6  # a stock opener or closer is a sentence this short at the edge of a longer post
MIN_BODY_WORDS = 8  # a post this short is all edge: it has no opener or closer of its own

_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n+")
_DASH = re.compile(r"^\s*(?:—|–|--?|~)\s*\S")
_SIGN_WORDS = re.compile(r"^\s*(?:cheers|thanks|thank you|regards|best|hth|good luck|all the best|kind regards)\b[,.!]*"
                         r"(?:\s+[A-Z][\w.'-]*){0,2}\s*$", re.IGNORECASE)
_NAME = re.compile(r"^\s*(?:[A-Z][\w'-]*\.?|[A-Z]\.)(?:\s+(?:[A-Z][\w'-]*\.?|[A-Z]\.)){0,2}\s*$")
_LEAD_WORDS = frozenset("in honestly personally frankly basically well so ok okay actually imo imho from as for "
                        "generally typically usually ooh oh hmm".split())
_STANCE = re.compile(r"^\W*(?:i (?:totally |strongly )?(?:dis)?agree|agreed|disagree|exactly|yes|yep|yeah|no|nope|"
                     r"true|false|wrong|correct|indeed|absolutely|not really|not quite|\+1)\b\s*[:!,.-]", re.IGNORECASE)


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip()]


def sign_off(text: str) -> bool:
    """A last line of its own that signs the post: a dash and a name, a name alone, or "Cheers"."""
    lines = _lines(text)
    if len(lines) < 2:
        return False
    last = lines[-1].strip()
    if len(last) > 40 or len(last.split()) > 4 or last.endswith("?"):
        return False
    return bool(_DASH.match(last) or _SIGN_WORDS.match(last) or _NAME.match(last))


def _body(text: str) -> str:
    lines = _lines(text)
    return "\n".join(lines[:-1]) if sign_off(text) else "\n".join(lines)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def opener(text: str) -> bool:
    """A short lead-in before the post's first real sentence ("Short version:", "In my experience,")."""
    body = _body(text)
    if len(body.split()) < MIN_BODY_WORDS or stance_lead(body):
        return False  # a stance lead is counted as its own decoration
    first = re.split(r"(?<=[.!?:])\s+", body.strip(), maxsplit=1)[0]
    if len(first.split()) <= PHRASE_WORDS // 2 + 1 and first.endswith((":", "!", ".")):
        return True  # "Short version:", "Ooh, good one.", "Classroom-tested:"
    clause = re.split(r"(?<=,)\s+", body.strip(), maxsplit=1)[0]
    return (clause.endswith(",") and len(clause.split()) <= 3
            and clause.split()[0].lower().strip("'\"") in _LEAD_WORDS)  # "In my experience,", "Honestly,"


def closer(text: str) -> bool:
    """A short last sentence standing after the post's point ("Hope this helps.", "Change one thing at a time.")."""
    sentences = _sentences(_without_emoji(_body(text)))
    if len(sentences) < 2 or sum(len(s.split()) for s in sentences[:-1]) < MIN_BODY_WORDS:
        return False
    last = sentences[-1]
    return len(last.split()) <= PHRASE_WORDS and not last.endswith("?") and last[-1:] in ".!"


def stance_lead(text: str) -> bool:
    """A post that opens by saying it agrees or disagrees ("I disagree:", "Yes, exactly this:", "Nope.")."""
    return bool(_STANCE.match(text))


def _is_emoji(char: str) -> bool:
    return unicodedata.category(char) == "So" or "\U0001F300" <= char <= "\U0001FAFF"


def _without_emoji(text: str) -> str:
    text = text.rstrip()
    while text and (_is_emoji(text[-1]) or text[-1] == "\ufe0f"):
        text = text[:-1].rstrip()
    return text


def emoji(text: str) -> bool:
    """A post that ends in an emoji (a pictograph or symbol other than punctuation)."""
    stripped = _body(text).rstrip()
    return bool(stripped) and _is_emoji(stripped[-1])


def lowercase(text: str) -> bool:
    """A post of some length with letters but not one capital."""
    letters = [c for c in text if c.isalpha()]
    return len(text.split()) >= 5 and bool(letters) and not any(c.isupper() for c in letters)


def quote(text: str) -> bool:
    """A post quoting what it answers, the way forums do (a "> " line)."""
    return any(line.lstrip().startswith(">") for line in _lines(text))


_TESTS = {"sign_off": sign_off, "opener": opener, "closer": closer, "stance_lead": stance_lead, "emoji": emoji,
          "lowercase": lowercase, "quote": quote}


def decorations_of(text: str) -> frozenset[str]:
    """Which decorations a post carries."""
    return frozenset(name for name, test in _TESTS.items() if test(text))


@dataclass(frozen=True)
class DecorationRates:
    """The share of posts carrying each decoration, over ``posts`` posts; and the median length in words."""

    posts: int
    rates: dict[str, float]
    median_words: float

    def gap(self, other: "DecorationRates") -> dict[str, float]:
        """This side's rate minus the other's, per decoration (points of share: 0.05 is five points)."""
        return {name: self.rates[name] - other.rates[name] for name in DECORATIONS}


def rates(texts: Iterable[str]) -> DecorationRates:
    texts = [t for t in texts if t and t.strip()]
    found = [decorations_of(t) for t in texts]
    n = len(texts)
    words = sorted(len(t.split()) for t in texts)
    return DecorationRates(n, {name: (sum(name in f for f in found) / n if n else float("nan")) for name in DECORATIONS},
                           float(words[n // 2]) if n else float("nan"))


def rates_by_site(texts: Sequence[str], sites: Sequence[str]) -> dict[str, DecorationRates]:
    """Rates per site (and over all of them, as ``"all"``)."""
    out = {"all": rates(texts)}
    for site in sorted(set(sites)):
        out[site] = rates(t for t, s in zip(texts, sites) if s == site)
    return out
