"""Campaign files: accounts that act together toward one end, as coordinated inauthentic behaviour does.

A campaign takes a side on one stance topic, aims at an audience (personas, interests), and runs a number of
accounts in two roles: ``driver`` accounts open threads or give first replies on the topic, ``amplifier`` accounts
follow a driver's post within ``synchrony.delay_s`` (give or take ``jitter_s``) and reply to it. A share of each
account's activity stays off-goal, as people's does.

A campaign never writes persuasion of its own: its words are the reply bank's human replies that already take its
side (the stance reader says which). Every campaign post and account carries ``campaign_id`` and ``role`` in the
forum's ground-truth tables, never in the public API, so a coordination detector can be scored against it.

Files are validated as strictly as persona files: an unknown key, a role that does not exist or an empty audience
is an error naming the file, the key and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import MurmurError
from core.validation import explain

ROLES = ("driver", "amplifier")
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CampaignError(MurmurError):
    """A campaign file or entry that cannot be used."""

    exit_code = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Goal(_Strict):
    """The side the campaign pushes: a stance topic (as persona files write them) and which side of it."""

    topic: str = Field(min_length=3, description="a stance topic, e.g. 'pressurised portafilter baskets'")
    side: Literal["pro", "con"]
    promote_thread: int | None = Field(None, ge=1, description="a forum thread the drivers reply in first")


class Audience(_Strict):
    """Whom the campaign aims at: the personas the platform expects in a thread (its anticipation ranks them), or
    the interests a thread is about. A thread's site is not something the forum shows, so it cannot aim by site."""

    personas: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()
    top_k: int = Field(3, ge=1, le=50, description="a persona counts for a thread when the anticipation ranks it in "
                                                  "the thread's top k")

    @model_validator(mode="after")
    def _someone(self) -> "Audience":
        if not self.personas and not any(i.strip() for i in self.interests):
            raise ValueError("the audience is empty; give personas (whom the platform expects in a thread) or "
                             "interests (what a thread is about)")
        return self


class Synchrony(_Strict):
    """How soon an amplifier follows a driver's post, in forum seconds."""

    delay_s: float = Field(120.0, gt=0, le=7 * 86400)
    jitter_s: float = Field(30.0, ge=0, le=7 * 86400)
    followers: int | None = Field(None, ge=1, description="amplifiers that follow each driver post, drawn from those "
                                                          "that can still post (default: all of them)")


class Campaign(_Strict):
    """One campaign: its goal, audience, accounts, roles and timing."""

    id: str = Field(description="the campaign_id its posts and accounts carry in the ground truth")
    goal: Goal
    audience: Audience
    accounts: int = Field(20, ge=2, le=1000)
    roles: dict[Literal["driver", "amplifier"], float] = Field(
        default_factory=lambda: {"driver": 0.2, "amplifier": 0.8},  # type: ignore[arg-type]
        description="each role's share of the accounts; every role gets at least one account")
    synchrony: Synchrony = Synchrony(delay_s=120.0, jitter_s=30.0, followers=None)
    organic_share: float = Field(0.3, ge=0, lt=1, description="share of each account's activity that is off-goal")
    personas: tuple[str, ...] = Field((), description="the personas the accounts speak as (default: the audience's "
                                                      "personas, else every persona of the run)")
    active_hours: float = Field(72.0, gt=0, description="a target thread has a post this recent (forum hours)")

    @model_validator(mode="after")
    def _shape(self) -> "Campaign":
        if not CAMPAIGN_ID.match(self.id):
            raise ValueError(f"id: {self.id!r} is not a campaign id; use letters, digits, '.', '_' or '-' (64 at most)")
        if set(self.roles) != set(ROLES):
            missing = ", ".join(r for r in ROLES if r not in self.roles)
            raise ValueError(f"roles: give a share for every role ({missing} missing)")
        if any(share <= 0 for share in self.roles.values()):
            raise ValueError("roles: every share is above 0")
        return self

    def role_counts(self) -> dict[str, int]:
        """How many accounts each role gets: in proportion to its share, at least one each."""
        total = sum(self.roles.values())
        drivers = min(self.accounts - 1, max(1, round(self.accounts * self.roles["driver"] / total)))
        return {"driver": drivers, "amplifier": self.accounts - drivers}

    def roles_in_order(self) -> list[str]:
        """The role of account 0, 1, ...: the drivers first."""
        counts = self.role_counts()
        return ["driver"] * counts["driver"] + ["amplifier"] * counts["amplifier"]


def campaign_problems(error: ValidationError, where: str) -> str:
    """Every problem of a campaign as lines naming ``where``, the key and the fix."""
    lines = []
    for e in error.errors():
        loc = tuple(e.get("loc") or ())
        if e["type"] == "literal_error" and loc[:1] == ("roles",) and len(loc) > 1:
            lines.append(f"{where}: roles: {e.get('input')!r} is not a role; the roles are {', '.join(ROLES)}")
            continue
        lines.append(explain(e, Campaign).line(where))
    return "\n".join(dict.fromkeys(lines))


def parse_campaign(data: object, where: str) -> Campaign:
    if not isinstance(data, dict):
        raise CampaignError(f"{where}: a campaign is a mapping with id, goal, audience, accounts, ...")
    try:
        return Campaign.model_validate(data)
    except ValidationError as exc:
        raise CampaignError(campaign_problems(exc, where)) from None


def load_campaign(file: Path) -> Campaign:
    """A campaign file (YAML), validated strictly."""
    file = Path(file)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CampaignError(f"{file}: no campaign file here; give the path of a campaign YAML file") from None
    except yaml.YAMLError as exc:
        raise CampaignError(f"{file}: not valid YAML ({exc})") from None
    return parse_campaign(data, str(file))
