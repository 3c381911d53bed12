"""Errors of the index package."""

from __future__ import annotations

from core.errors import MurmurError


class IndexFailure(MurmurError):
    """Base of the index's domain errors."""


class EmptyText(IndexFailure):
    """A text to embed is empty or only whitespace."""


class UnknownThread(IndexFailure):
    """A thread id the index (or the forum) does not hold."""


class IndexFileError(IndexFailure):
    """An index file that cannot be used: corrupt, or built with another model. The fix is a rebuild."""


class ModelUnavailable(IndexFailure):
    """The embedding model package is not installed."""


class UnknownPersona(IndexFailure):
    """A persona name the matcher was not given."""


class AnswerFitError(IndexFailure):
    """An answer-fit model that cannot be trained or read: too few pairs, or a damaged file."""
