"""Template openings for the ``splice`` and ``llm`` baselines: a question about an interest, in the persona's register.

The ``bank`` backend opens threads with real people's questions instead
(``bots/words/selection.py``); these templates ("Anyone else obsessed with X?",
tags cut from the interest's words) are what it is measured against.
"""

from __future__ import annotations

import random

from bots.personas import Persona
from bots.words.replies import Message, Opening, ReplyRequest

_TITLES = {
    "casual": ("Anyone else obsessed with {interest}?", "Help me out with {interest}", "What's your take on {interest}?",
               "Newbie question about {interest}"),
    "formal": ("A question about {interest}", "Advice sought on {interest}", "How do you approach {interest}?"),
    "technical": ("{Interest}: what does your setup look like?", "Measuring {interest}: how do you do it?",
                  "Trade-offs in {interest}?"),
}


def thread_title(persona: Persona, interest: str, rng: random.Random) -> str:
    template = rng.choice(_TITLES[persona.style.tone])
    title = template.format(interest=interest, Interest=interest[:1].upper() + interest[1:])
    return title.lower() if persona.style.lowercase else title


def interest_tags(interest: str) -> list[str]:
    words = [w.strip(",.;:()").lower() for w in interest.split()]
    return [w for w in words if len(w) > 3 and w.isalpha()][:2]


async def template_opening(generator, persona: Persona, interest: str, key: str, seed: int) -> Opening:
    """A templated title and a follow-up question written by ``generator`` as the opening post."""
    rng = random.Random(f"{seed}:open:{key}")
    request = ReplyRequest(persona, "ask_follow_up", (Message("user", interest),), key, thread_title=interest)
    reply = await generator.write(request)
    return Opening(thread_title(persona, interest, rng), reply.text.strip(), interest_tags(interest))
