"""A persona's voice: the short phrases, openers, closers, typos, emoji and signature around its words.

Reproducible: every choice is drawn from a random generator seeded per
conversation and turn. Phrases of the persona's own (openers, closers, the
signature) are kept short: a phrase of eight words or more, said in many
posts, would be a run of words repeated across them, which is what copy
detectors look for and what no person does.
"""

from __future__ import annotations

import random
import re

from bots.words.replies import Reply

MAX_PHRASE_WORDS = 6  # an opener or closer longer than this repeats a detectable run across posts

_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "greet": {"casual": ("Hey!", "Hi there!", "Oh hey, welcome!"), "formal": ("Hello, and welcome.", "Good to meet you."),
              "technical": ("Hi!", "Hello!")},
    # Said at the start of a reply's first sentence, so the reply reads as the act (chosen on a tuning split of the
    # corpus by how often the bots' own NLU reads "phrase: first sentence" as agree or disagree). Joined to the
    # sentence, they never stand as a sentence of their own that many accounts share word for word.
    "agree": {"casual": ("Yes, exactly this:",), "formal": ("Yes, exactly this:",), "technical": ("Yes, exactly this:",)},
    "disagree": {"casual": ("I disagree:",), "formal": ("I disagree:",), "technical": ("I disagree:",)},
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
    "no_source": {"casual": ("Honestly, I don't know a good thread on that one.",),
                  "formal": ("I am afraid I do not know of a good discussion of that.",),
                  "technical": ("I don't have a reference for that, sorry.",)},
    "nothing_to_add": {"casual": ("Not much I can add there, to be honest. What made you wonder?",
                                  "No idea on that one, sorry. What are you working on?"),
                       "formal": ("I am afraid I have nothing useful to add on that. What prompted the question?",),
                       "technical": ("Nothing useful to add from my side. What's the context?",
                                     "Outside what I know, sorry. What are you trying to do?")},
}
# Words that may start a sentence in lowercase after an opener ending in a comma ("Honestly, the grind ...").
_LOWERABLE = set("""a an the this that these those it its there here if when while for in on at to with without
most many some any all each every one two few you your we our my they their he she his her what which who how why
after before once since because as so no yes not just only also even still usually generally often sometimes
personally basically actually really""".split())
_PLACEHOLDER = re.compile(r"\{[^}]*\}|<[A-Z_]+>|\[[A-Z_]+\]")


def _continued(text: str) -> str:
    """The sentence lowercased at its start, to follow a phrase ending in a comma or colon, when its first word may be."""
    first = re.match(r"[A-Za-z']+", text)
    if first and first.group(0).lower() in _LOWERABLE and not first.group(0).isupper():
        return text[0].lower() + text[1:]
    return text


def disclosure(persona) -> str:
    """The honest answer to 'are you a bot?'."""
    return (f"Yes. I'm a bot: an automated persona called {persona.name}, part of a research test forum run "
            "with murmur. I'm not a person.")


def short(phrase: str) -> bool:
    return len(phrase.split()) <= MAX_PHRASE_WORDS


class Voice:
    """Applies a persona's style to plain sentences, reproducibly (seeded per conversation and turn)."""

    def __init__(self, persona, rng: random.Random) -> None:
        self.persona = persona
        self.rng = rng

    def pick(self, kind: str) -> str:
        options = _PHRASES[kind][self.persona.style.tone]
        return self.rng.choice(options)

    @property
    def plain(self) -> bool:
        """The people's own register (``style: people``): words as people wrote them, nothing added."""
        return self.persona.style.source == "people"

    def frame(self, text: str, *, lead: str = "", opening: bool = True, closing: bool = True) -> list[str]:
        """One passage with, sometimes, the persona's own opener and closer; ``lead`` (an act's word) comes first."""
        if self.plain:
            return [text]
        style = self.persona.style
        openers = [o for o in style.openers if short(o)] if opening else []
        closers = [c for c in style.closers if short(c)]
        parts = []
        if lead:
            parts.append(lead)
            text = _continued(text) if lead.endswith((",", ":")) else text
        elif openers and self.rng.random() < 0.4:
            opener = self.rng.choice(openers)
            if opener.rstrip("'\"").endswith((":", ".", "!", "?", "-")):
                parts.append(opener)  # a phrase of its own ("Short version:")
            elif opener.endswith(",") and _continued(text) != text:  # "Honestly, the grind ...", never "Honestly, i"
                parts.append(opener)
                text = _continued(text)
            # an opener that needs its own continuation ("Have a look at") fits no one else's sentence: left out
        parts.append(text)
        if closing and closers and self.rng.random() < 0.3:
            parts.append(self.rng.choice(closers))
        return parts

    def finish(self, parts: list[str], *, decorate: bool = True, max_words: int | None = None) -> str:
        """The parts as one post in the persona's style, cut at a sentence end past ``max_words`` (its length)."""
        style = self.persona.style
        text = " ".join(p.strip() for p in parts if p and p.strip())
        limit = style.length.max_words if max_words is None else max_words
        if len(text.split()) > limit:
            text = cut_to_sentences(text, limit)
        if self.plain:
            return text[: self.persona.limits.max_reply_chars].strip()
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


def social_reply(voice: Voice, act: str) -> Reply:
    """Greetings, thanks and goodbyes: short formulas in the persona's register, as people use them."""
    persona = voice.persona
    extra = f"I'm mostly here for {persona.interests[0]}." if act == "greet" else ""
    return Reply(voice.finish([voice.pick(act), extra]), act)


def cut_to_sentences(text: str, max_words: int) -> str:
    parts = re.split(r"(?<=[.!?])(\s+)", text)  # sentences, each followed by the space that ended it
    result, count = "", 0
    for i in range(0, len(parts), 2):
        n = len(parts[i].split())
        if count + n > max_words and result:
            break
        result += (parts[i - 1] if i else "") + parts[i]  # a paragraph break stays one
        count += n
    if len(result.split()) > max_words:
        result = " ".join(result.split()[:max_words]).rstrip(",;:") + "..."
    return result


def has_placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER.search(text))


def strip_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub("", text)
