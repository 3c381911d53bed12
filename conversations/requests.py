"""Reading and checking request input: every problem becomes an InvalidInput naming the field and the fix."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError

from conversations.errors import InvalidInput, OverLimit, TooLarge
from conversations.models import format_time, parse_time
from conversations.settings import ForumLimits
from core.validation import explain

M = TypeVar("M", bound=BaseModel)


def _whole(value: Any) -> Any:
    """JSON's integers: 7 and 7.0 alike (JSON Schema's "integer"), never true, "7" or 7.5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE_MAX = 2**63 - 1  # the largest id or count either engine stores (SQLite INTEGER, PostgreSQL BIGINT)
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole), Field(le=WHOLE_MAX)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewAccount(_Body):
    handle: StrictStr = Field(description="unique name, letters, digits, '-', '_' or '.'")
    display_name: StrictStr | None = Field(None, description="shown next to posts; defaults to the handle")


class NewThread(_Body):
    title: StrictStr
    body: StrictStr = Field(description="the opening post")
    tags: list[StrictStr] = Field(default_factory=list, max_length=5)


class NewPost(_Body):
    body: StrictStr
    parent_id: WholeNumber | None = Field(None, description="the post this replies to; omit to reply to the thread")


class CampaignPart(_Body):
    """Which campaign an account or post serves, and its role there (bots.campaigns): ground truth only."""

    id: StrictStr = Field(min_length=1, max_length=200)
    role: Literal["driver", "amplifier"]


def campaign_fields(campaign: CampaignPart | None) -> tuple[str | None, str | None]:
    """The (campaign_id, role) the ground-truth tables keep: both None for a bot that acts alone."""
    return (None, None) if campaign is None else (campaign.id, campaign.role)


class NewSyntheticAccount(NewAccount):
    persona: StrictStr
    run_id: StrictStr
    generator: StrictStr
    created_at: StrictStr | None = None  # a swarm on a simulated clock dates the account in its own time
    campaign: CampaignPart | None = Field(None, description="the campaign the account serves (ground truth)")


class Replay(_Body):
    threads: list[Any] = Field(min_length=1)  # murmur JSONL thread records (conversations/importers/jsonl.py)


def iso_time(field: str, raw: str) -> str:
    """An ISO-8601 time in the forum's one text form, or an InvalidInput naming the field."""
    try:
        return format_time(parse_time(raw))
    except ValueError:
        raise InvalidInput(field, f"must be an ISO-8601 time such as 2026-11-26T09:30:00Z, got {raw[:40]!r}") from None


class NewProvenance(_Body):
    persona: StrictStr
    run_id: StrictStr
    generator: StrictStr
    action: StrictStr | None = None
    score: StrictFloat | StrictInt | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    post_id: WholeNumber | None = Field(None, description="the post, if it exists already")
    account_id: WholeNumber | None = Field(None, description="with idempotency_key: record ahead of the post")
    idempotency_key: StrictStr | None = None
    campaign: CampaignPart | None = Field(None, description="the campaign the post serves (ground truth)")




async def read_json(request: web.Request, limits: ForumLimits) -> Any:
    """The request body as JSON: over forum.limits.body_max_bytes a TooLarge (413), bad syntax an InvalidInput."""
    if request.content_length is not None and request.content_length > limits.body_max_bytes:
        raise TooLarge("body", f"{request.content_length} bytes is over the limit of {limits.body_max_bytes}; send less")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge("body", f"over the limit of {limits.body_max_bytes} bytes; send less") from None
    if not raw.strip():
        raise InvalidInput("body", "empty; send a JSON object")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"not valid JSON ({exc}); send a JSON object") from None


def parse_body(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidInput("body", f"must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, problem = explain(exc.errors()[0], model, unknown_fix="remove it; it is not part of this request",
                                 fix="see /api/openapi.json for the request's schema").field_problem()
        raise InvalidInput(field or "body", problem) from None


# What /api/openapi.json declares for every text field is what these checks enforce, so the two never disagree.
TEXT_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"  # something besides whitespace, and no NUL character
HANDLE_PATTERN = r"^[A-Za-z0-9_.-]+$"  # ASCII only: JSON Schema's \w would mean ASCII to some readers, Unicode to others
HANDLE_MIN_CHARS = 3
META_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # the name of a note about the forum (PUT /api/admin/meta/{key})
_HANDLE = re.compile(HANDLE_PATTERN)


def _setting(name: str) -> str | None:
    """Where a limit comes from, when it is one of forum.limits (persona, tags and the like have fixed limits)."""
    return f"from forum.limits.{name}" if name in ForumLimits.model_fields else None


def check_text(field: str, value: str, max_chars: int, setting: str) -> str:
    """Hold a text field to its limit as sent (422 over it), then strip it; nothing is silently cut."""
    if len(value) > max_chars:
        raise OverLimit(field, len(value), max_chars, _setting(setting))
    text = value.strip()
    if not text:
        raise InvalidInput(field, "must not be empty")
    if "\x00" in text:  # PostgreSQL cannot store it, and no reader wants it: the same answer on both engines
        raise InvalidInput(field, "contains a NUL character (\\u0000); remove it")
    return text


def check_handle(handle: str, limits: ForumLimits) -> str:
    if len(handle) > limits.handle_max_chars:
        raise OverLimit("handle", len(handle), limits.handle_max_chars, _setting("handle_max_chars"))
    if len(handle) < HANDLE_MIN_CHARS or not _HANDLE.fullmatch(handle):
        raise InvalidInput("handle", "use 3 or more ASCII letters, digits, '-', '_' or '.', and no spaces")
    return handle


def query_int(request: web.Request, name: str, default: int | None, minimum: int = 0,
              maximum: int = WHOLE_MAX) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, f"must be a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        bound = f"between {minimum} and {maximum}" if maximum != WHOLE_MAX else f"at least {minimum}"
        raise InvalidInput(name, f"must be {bound}, got {raw[:40]}")
    return value


def path_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, f"must be a whole number, got {raw!r}") from None
    if value > WHOLE_MAX:
        raise InvalidInput(name, f"must be at most {WHOLE_MAX}, got {raw[:40]}")
    return value


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 200):
        raise InvalidInput("Idempotency-Key", "must be 1 to 200 characters")
    return key


SIMULATED_TIME_HEADER = "Murmur-Simulated-Time"


def simulated_time(request: web.Request) -> datetime | None:
    """The ``Murmur-Simulated-Time`` header (ISO-8601), which a swarm on a simulated clock sends with each post."""
    raw = request.headers.get(SIMULATED_TIME_HEADER)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise InvalidInput(SIMULATED_TIME_HEADER, f"must be an ISO-8601 time such as 2026-11-26T09:30:00Z, got {raw[:40]!r}") from None
