"""Persona files: who a bot is, how it writes, when it is active, and its limits.

One YAML file per persona in ``bots/personas/``. Files are validated strictly:
an unknown key, a wrong type or a bad value is an error naming the file, the
key and the fix, so a typo never silently changes a bot's behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from index.matching import PersonaProfile
from core.errors import MurmurError
from core.validation import explain


SHIPPED_PERSONAS = Path(__file__).resolve().parent / "personas"  # two per seed-thread topic
CORPUS_PERSONAS = Path(__file__).resolve().parent / "corpus_personas"  # written for the shipped corpus's sites


class PersonaError(MurmurError):
    """A persona file that cannot be used."""

    exit_code = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stance(_Strict):
    """A position on a topic: the bot agrees with talk in favour of it ('for') or pushes back ('against')."""

    topic: str = Field(min_length=3)
    position: Literal["for", "against"]
    because: str | None = None


class Length(_Strict):
    min_words: int = Field(8, ge=1)
    max_words: int = Field(80, ge=5)

    @model_validator(mode="after")
    def _ordered(self) -> "Length":
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) is more than max_words ({self.max_words})")
        return self


class Style(_Strict):
    """How the persona writes.

    ``source: people`` (or ``style: people`` in a persona file) writes in the people's own register: the
    bank's human words as they were written, with none of the phrases below added (no sign-off, opener,
    closer, stance lead, emoji, slips or lowercasing), because a bank reply already carries the people's own
    decorations at the people's own rate (``detection/decorations.py`` measures both). An act is then carried
    by the reply chosen, never by a lead phrase. ``source: persona`` (the default for hand-written files) adds
    the phrases as written. Tone still picks the words of greetings and thanks.
    """

    source: Literal["persona", "people"] = "persona"
    tone: Literal["casual", "formal", "technical"] = "casual"
    length: Length = Length()
    typos: float = Field(0.0, ge=0, le=0.2, description="chance per word of a small slip")
    emoji: float = Field(0.0, ge=0, le=1, description="chance per reply of a trailing emoji")
    emoji_set: tuple[str, ...] = ("🙂", "👍", "😅")
    signature: str | None = Field(None, max_length=40)
    openers: tuple[str, ...] = Field((), description="the persona's own ways to start a reply")
    closers: tuple[str, ...] = Field((), description="and to end one")
    lowercase: bool = False


class Schedule(_Strict):
    """When the persona is around."""

    timezone: str = "UTC"
    active_hours: tuple[int, int] = (8, 22)
    posts_per_day: int = Field(10, ge=0, le=500)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'") from None
        return value

    @field_validator("active_hours")
    @classmethod
    def _hours(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not all(0 <= h <= 24 for h in value) or value[0] == value[1]:
            raise ValueError("give [start, end] hours between 0 and 24, e.g. [8, 22] (a range may wrap midnight)")
        return value


class Limits(_Strict):
    """What the persona will not exceed, whatever the matcher says."""

    max_posts_per_thread: int = Field(3, ge=1)
    min_minutes_between_posts: float = Field(5.0, ge=0)
    max_reply_chars: int = Field(1200, ge=50)


class Persona(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,39}$")
    display_name: str | None = None
    bio: str = Field(min_length=10)
    interests: tuple[str, ...] = Field(min_length=1)
    stance: tuple[Stance, ...] = ()
    style: Style = Style()
    schedule: Schedule = Schedule()
    limits: Limits = Limits()
    disclose_when_asked: bool = True

    @field_validator("style", mode="before")
    @classmethod
    def _people_style(cls, value: object) -> object:
        if value == "people":
            return {"source": "people"}
        if isinstance(value, str):
            raise ValueError(f"style: {value!r}; write `style: people`, or a mapping with tone, length, ...")
        return value

    @property
    def in_peoples_voice(self) -> bool:
        """Whether the persona writes in the people's own register (``style: people``)."""
        return self.style.source == "people"

    @field_validator("interests")
    @classmethod
    def _phrases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not i.strip() for i in value):
            raise ValueError("every interest must be a non-empty phrase")
        return value

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name

    def profile(self) -> PersonaProfile:
        """What the matcher needs."""
        return PersonaProfile(self.name, self.interests, self.bio)


def load_persona(file: Path) -> Persona:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PersonaError(f"{file}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise PersonaError(f"{file}: a persona file is a mapping with name, bio, interests, ...")
    try:
        persona = Persona.model_validate(data)
    except ValidationError as exc:
        raise PersonaError("\n".join(explain(e, Persona).line(str(file)) for e in exc.errors())) from None
    if persona.name != file.stem:
        raise PersonaError(f"{file}: name: '{persona.name}' differs from the file name; rename one so they match")
    return persona


def load_personas(folder: Path) -> list[Persona]:
    """Every persona in a folder (``*.yml``), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PersonaError(f"{folder}: no persona folder here; set bots.personas_dir or pass --personas")
    personas = [load_persona(f) for f in sorted(folder.glob("*.yml"))]
    if not personas:
        raise PersonaError(f"{folder}: no persona files (*.yml) here")
    return personas
