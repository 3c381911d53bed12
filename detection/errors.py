"""Errors of the detection package: each names the file (or database) and the problem."""

from __future__ import annotations

from core.errors import MurmurError


class DetectionError(MurmurError):
    """Base of the detection package's domain errors."""


class DatasetError(DetectionError):
    """A dataset that cannot be evaluated as it is: a missing file, a wrong schema, labels that do not fit."""


class ExportError(DetectionError):
    """A forum database that cannot be exported."""


class UnknownDetector(DetectionError):
    """A detector name that is not registered, or one the dataset lacks the columns for."""
