"""The lock that keeps bots on a murmur test forum: loopback unless the user says otherwise, and the target must
answer as a murmur forum. Every command that posts as bots passes through it; it is never loosened for realism."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from murmur.errors import MurmurError


def check_forum_url(url: str, allow_remote: bool) -> str:
    """Loopback unless the user says otherwise: the swarm is for a test forum on this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MurmurError(f"--forum: {url!r} is not an http(s) URL of a murmur forum, e.g. http://127.0.0.1:8765")
    try:
        loopback = all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP))
    except (socket.gaierror, ValueError):
        raise MurmurError(f"--forum: cannot resolve {parts.hostname!r}; is the forum's address right?") from None
    if not loopback and not allow_remote:
        raise MurmurError(f"--forum: {parts.hostname} is not this machine; bots post only to a murmur test forum you run. "
                          "Serve one with `murmur forum`, or pass --allow-remote for your own forum on another host")
    return url.rstrip("/")


async def require_murmur_forum(client) -> None:
    """The target must be a murmur test forum (its own OpenAPI says so), never anything else."""
    from conversations.client import ForumClientError, ForumUnavailable

    try:
        spec = await client.request("GET", "/api/openapi.json")
    except (ForumClientError, ForumUnavailable, ValueError) as exc:
        raise MurmurError(f"--forum: no murmur forum answers at {client.base_url} ({exc}); start one with `murmur forum`") from None
    if not isinstance(spec, dict) or spec.get("info", {}).get("title") != "murmur test forum":
        raise MurmurError(f"--forum: {client.base_url} is not a murmur test forum; the swarm posts only to one")
