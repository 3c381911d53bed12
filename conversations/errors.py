"""Errors the forum raises; the HTTP layer maps each to a status code."""

from __future__ import annotations

from core.errors import MurmurError


class ForumError(MurmurError):
    """Base of the forum's domain errors."""

    status = 400


class InvalidInput(ForumError):
    """A request or record is malformed; ``field`` names what to fix."""

    status = 400

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


class TooLarge(InvalidInput):
    """The request body is over forum.limits.body_max_bytes: 413, the one status for a body too large to read."""

    status = 413


class OverLimit(InvalidInput):
    """A text field over its length limit: 422, since the body was read and is well-formed; the message names the
    field, its length and its limit."""

    status = 422

    def __init__(self, field: str, length: int, limit: int, setting: str | None = None) -> None:
        where = f" ({setting})" if setting else ""
        super().__init__(field, f"is {length} characters, over the limit of {limit}{where}; "
                                f"shorten it to {limit} or fewer")
        self.limit = limit


class Inconsistent(InvalidInput):
    """Well-formed input that does not fit what the forum holds (a parent that is not there, a person's account
    given as a bot's): 409, since the request is right by its schema."""

    status = 409


class Unauthorized(ForumError):
    status = 401


class Forbidden(ForumError):
    status = 403


class NotFound(ForumError):
    status = 404


class Conflict(ForumError):
    status = 409


class RateLimited(ForumError):
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreError(ForumError):
    """The database cannot be used as it is (e.g. written by a newer murmur)."""

    status = 500


class NotAForum(ForumError):
    """A path given as a forum database is missing, is not a murmur forum, or has another schema version."""
