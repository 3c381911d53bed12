"""Titles for the threads bots open: a question about one of the persona's interests, in its register."""

from __future__ import annotations

import random

from bots.personas import Persona

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
