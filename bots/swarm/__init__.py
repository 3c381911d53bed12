"""Swarms of persona bots against murmur's test forum (see engine.py for how a run works)."""

from bots.swarm.engine import Swarm, SwarmError, SwarmResult

__all__ = ["Swarm", "SwarmError", "SwarmResult"]
