"""The domain errors, under the name the CLI and users know; they live in ``core.errors``."""

from core.errors import ConfigError, MurmurError

__all__ = ["ConfigError", "MurmurError"]
