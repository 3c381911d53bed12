"""Domain errors shared by every murmur package (``murmur.errors`` re-exports them).

Library code raises these; the CLI turns them into one-line messages and exit
codes, HTTP handlers into status codes with a JSON ``error`` body.
"""

from __future__ import annotations


class MurmurError(Exception):
    """Base of every error murmur raises on purpose (never for bugs)."""

    exit_code = 1


class ConfigError(MurmurError):
    """config.yml (or an override) is unreadable, has an unknown key, a wrong type or a bad value."""

    exit_code = 2
