"""What a bot's turn wrote, and the post waiting to be made from it: typed, so no key is misspelt on the way.

A turn (phase 2) ends in a ``Written``: the act, the words, and the choices offered to claim in decision order.
Once claimed and given its delay it becomes a ``PendingPost`` on the swarm's queue, posted in phase 1 of a later
step with its provenance recorded first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bots.swarm.forum_view import ThreadState


@dataclass(frozen=True)
class Option:
    """One offered reply or opening, in the shape ``ReplyGenerator.claim`` reads (its ``source``)."""

    text: str
    source: dict[str, Any] | None = None
    title: str | None = None  # an opening's; None for a reply
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Written:
    """A turn's outcome: empty ``text`` means the bot stays silent (``reason`` says why, where known)."""

    act: str
    text: str
    parent_id: int | None = None  # the post a reply answers
    title: str | None = None  # an opening's title and tags
    tags: tuple[str, ...] = ()
    source: dict[str, Any] | None = None  # the bank's record of the words: ground truth, never public
    sources: tuple[int, ...] = ()  # forum threads the words were taken from (splice)
    reason: str | None = None
    options: tuple[Option, ...] = ()  # choices to claim in decision order; the first free one is posted

    def taking(self, option: Option) -> "Written":
        """This outcome with the claimed option's words (and an opening's title and tags), its choices spent."""
        return replace(self, text=option.text, source=option.source, options=(),
                       title=self.title if option.title is None else option.title,
                       tags=self.tags if option.tags is None else option.tags)

    def silent(self, reason: str) -> "Written":
        return replace(self, text="", reason=reason, options=())


@dataclass(frozen=True)
class PendingPost:
    """A post due at a later step: what was written, where it goes, and why the bot joined."""

    written: Written
    thread: ThreadState | None  # None: the post opens a new thread
    score: float
    interest: str
    campaign: bool = False  # an on-goal post of a campaign account: its ground truth carries campaign and role
