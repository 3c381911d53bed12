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
    status = 413


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
