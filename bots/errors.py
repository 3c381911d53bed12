"""Domain errors of the bots package."""

from __future__ import annotations

from murmur.errors import MurmurError


class RasaError(MurmurError):
    """Rasa could not be trained, started or reached: missing environment, failed training, a server that died."""
