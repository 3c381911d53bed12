"""Domain errors of the bots package."""

from __future__ import annotations

from core.errors import MurmurError


class RasaError(MurmurError):
    """Rasa could not be trained, started or reached: missing environment, failed training, a server that died."""


class BankError(MurmurError):
    """The reply bank cannot be used: a missing, empty or unreadable bank file, or one the forum already holds."""

    exit_code = 2
