"""The swarm's domain errors: the CLI turns them into messages, a caller can tell them apart."""

from core.errors import MurmurError


class SwarmError(MurmurError):
    """A swarm run cannot go on (e.g. the forum stayed away too long)."""


class ForumStayedAway(SwarmError):
    """The forum did not come back within the wait: the run stops, and a rerun with its run id goes on."""
