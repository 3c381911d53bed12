"""Accounts shaped like the people's (``swarm.population: people``): how much each posts, and what it is called.

With ``population: persona`` every bot is one persona's account and posts as its schedule allows: a dozen
accounts posting dozens of times each, where most of a forum's people post once or twice. A detector then
needs nothing but a post count. With ``people``:

- each bot's budget of posts over the run is drawn from the people of the same forum: the posts each person
  made within a window as long as the run, over every such window of the forum's history, as a whole
  distribution with its heavy tail (most post once or twice; a few post a lot). How many of those posts
  opened a thread comes with it, from the same person and window: a bot that can always open a thread but
  must find a conversation to reply to would otherwise fill its budget with new threads (two in five of the
  bots' posts, against one in five of the people's);
- a persona is a voice and a set of interests shared by many accounts, and at most one account of a persona
  posts in a thread (``JoinPolicy``);
- handles are drawn in the shape of the forum's own handles (``user`` and digits, a lowercase word with a
  number, a capitalised name ...), from a built-in word list, never a person's handle and never the persona's
  name; the display name is the handle, as it is for most people.

Every draw is seeded: the same seed gives the same accounts.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

import numpy as np

from conversations.models import parse_time

MIN_PEOPLE = 10  # fewer people than this in the forum's history and there is no distribution to draw from
_WORDS = tuple("""amber anchor apple arrow ash aspen atlas autumn badger bamboo barley basil bay beacon bear birch
bison bluff bolt bramble brook cactus canyon cedar cinder clay clover cobalt comet copper coral crane creek crow
cypress dawn delta dune echo elm ember falcon fennel fern finch fjord flint fox frost garnet ginger glade granite
harbor hazel heron hollow indigo iris ivy jade jasper juniper kestrel lark laurel lichen linden lotus lynx maple
marsh meadow mesa mint moss nettle north oak onyx orchid otter owl pebble pepper pine plover poplar quartz quill
raven reed ridge river robin rowan rye sage salt sedge shale sorrel sparrow spruce stone storm swift thistle thorn
tide timber topaz tulip vale willow wren yarrow zephyr""".split())
_NAMES = tuple("""Alex Ana Ben Cara Dan Eli Emma Finn Gus Hana Ivan Jon Kai Lea Leo Lin Mara Max Mia Nils Noor Omar
Pia Raj Rosa Sam Sara Theo Tom Uma Vera Will Yan Zoe""".split())
SHAPES = ("user_digits", "lower", "lower_digits", "lower_sep", "capital", "camel", "capital_digits")


def handle_shape(handle: str) -> str:
    """The shape of a handle, which is all that is taken from the people's: never its letters."""
    if re.fullmatch(r"user\d+", handle, re.IGNORECASE):
        return "user_digits"
    if re.fullmatch(r"[a-z]+[._-][a-z0-9]+", handle):
        return "lower_sep"
    if re.fullmatch(r"[a-z]+\d+", handle):
        return "lower_digits"
    if re.fullmatch(r"[A-Z][a-z]+\d+", handle):
        return "capital_digits"
    if re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+", handle):
        return "camel"
    if re.fullmatch(r"[A-Z][a-z]+", handle):
        return "capital"
    return "lower"


class Budget(NamedTuple):
    """One account's posts over the run, and how many of them open a thread (the rest are replies)."""

    posts: int
    openings: int


@dataclass(frozen=True)
class Population:
    """The people's posts per account within a window as long as the run, and the shapes of their handles."""

    budgets: np.ndarray  # one entry per (window, person who posted in it): that person's posts in that window
    openings: np.ndarray  # beside each budget: how many of those posts opened a thread
    shapes: dict[str, float]  # share of the people's handles of each shape
    people: int
    taken: frozenset[str]  # every person's handle, lowercased: never drawn

    @classmethod
    def of(cls, posts: Iterable[tuple[int, str, bool]], handles: Iterable[str], hours: float) -> "Population":
        """``posts``: (author id, created_at, whether it opened a thread) of every person's post; ``handles``: the
        people's handles."""
        times: dict[int, list[tuple]] = defaultdict(list)
        for author, created, opened in posts:
            times[author].append((parse_time(created), bool(opened)))
        if len(times) < MIN_PEOPLE:
            raise ValueError(f"swarm.population: people needs a forum with at least {MIN_PEOPLE} people who posted; "
                             f"this one has {len(times)}: replay or import a corpus, or use population: persona")
        first = min(t for ts in times.values() for t, _ in ts)
        width = timedelta(hours=hours)
        counts: Counter[tuple[int, int]] = Counter()
        opened_in: Counter[tuple[int, int]] = Counter()
        for author, moments in times.items():
            for moment, opened in moments:
                window = (author, int((moment - first) / width))
                counts[window] += 1
                opened_in[window] += opened
        handles = [h for h in handles if h]
        shapes = Counter(handle_shape(h) for h in handles)
        total = sum(shapes.values()) or 1
        windows = sorted(counts, key=lambda w: (counts[w], opened_in[w], w))
        return cls(np.asarray([counts[w] for w in windows], dtype=np.int64),
                   np.asarray([opened_in[w] for w in windows], dtype=np.int64), {s: shapes[s] / total for s in SHAPES},
                   len(times), frozenset(h.lower() for h in handles))

    def budget(self, rng: random.Random) -> Budget:
        """One account's posts over the run and the threads among them, drawn together from one person's window."""
        i = rng.randrange(len(self.budgets))
        return Budget(int(self.budgets[i]), int(self.openings[i]))

    def handle(self, rng: random.Random, used: set[str]) -> str:
        """A new handle in the shape of one person's, drawn by the shapes' shares; never a person's, never twice."""
        shapes = [s for s in SHAPES if self.shapes.get(s)] or ["lower_digits"]
        weights = [self.shapes.get(s, 1.0) for s in shapes]
        for _ in range(1000):
            made = _fill(rng.choices(shapes, weights)[0], rng)
            if made.lower() not in self.taken and made.lower() not in used:
                used.add(made.lower())
                return made
        raise ValueError("swarm.population: no new handle left to draw; use fewer bots")


def _fill(shape: str, rng: random.Random) -> str:
    word, other, name = rng.choice(_WORDS), rng.choice(_WORDS), rng.choice(_NAMES)
    digits = str(rng.randrange(10, 100_000))
    return {"user_digits": f"user{rng.randrange(1000, 10_000_000)}", "lower": f"{word}{other}",
            "lower_digits": f"{word}{digits}", "lower_sep": f"{word}{rng.choice('_.-')}{other}",
            "capital": f"{name}{word.capitalize()}" if rng.random() < 0.5 else name + rng.choice("sxnr"),
            "camel": f"{name}{word.capitalize()}", "capital_digits": f"{name}{digits}"}[shape]
