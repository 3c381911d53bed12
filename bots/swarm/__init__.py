"""Swarms of persona bots against murmur's test forum (see engine.py for how a run works)."""

from bots.swarm.engine import Swarm, SwarmResult
from bots.swarm.errors import ForumStayedAway, SwarmError
from bots.swarm.spec import RunSpec, SwarmParts

__all__ = ["ForumStayedAway", "RunSpec", "Swarm", "SwarmError", "SwarmParts", "SwarmResult"]
