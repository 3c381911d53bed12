"""Typed state of the forum app (aiohttp ``AppKey``s), shared by its handler modules."""

from __future__ import annotations

import weakref

from aiohttp import web

from conversations.events import EventHub
from conversations.ratelimit import RateLimiter
from conversations.store import ForumStore
from conversations.settings import ForumSettings

SETTINGS = web.AppKey("settings", ForumSettings)
STORE = web.AppKey("store", ForumStore)
HUB = web.AppKey("hub", EventHub)
POST_LIMITER = web.AppKey("post_limiter", RateLimiter)
SIMULATED_POST_LIMITER = web.AppKey("simulated_post_limiter", RateLimiter)  # the same limits, in simulated time
ADMIN_TOKEN = web.AppKey("admin_token", str)
SOCKETS = web.AppKey("sockets", weakref.WeakSet)  # open event sockets, closed on shutdown
