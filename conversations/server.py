"""The forum's aiohttp application: ``create_app(forum settings)``.

Resources (the store, the event hub) are opened in ``cleanup_ctx`` and the
event sockets are closed on shutdown. Domain errors become JSON ``{"error"}``
bodies with their status code, in one middleware.
"""

from __future__ import annotations

import logging
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import WSCloseCode, web

from conversations import admin, api, openapi, pages
from conversations.appkeys import ADMIN_TOKEN, HUB, POST_LIMITER, SIMULATED_POST_LIMITER, SETTINGS, SOCKETS, STORE
from conversations.errors import ForumError, RateLimited
from conversations.events import EventHub
from conversations.ratelimit import RateLimiter
from conversations.store import ForumStore
from conversations.settings import ADMIN_TOKEN_ENV, ForumSettings

log = logging.getLogger("murmur.forum")


def _error_response(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, object] = {"error": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def errors_as_json(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        response = await handler(request)
    except RateLimited as exc:
        return _error_response(exc.status, str(exc), headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    except ForumError as exc:
        return _error_response(exc.status, str(exc), getattr(exc, "field", None))
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        hint = {404: "no such route; see /api/openapi.json", 405: f"{request.method} is not allowed here; see /api/openapi.json",
                413: "request body too large; send less"}.get(exc.status, exc.reason)
        kept = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None  # a 405 says what is allowed (RFC 9110)
        return _error_response(exc.status, f"{request.method} {request.path}: {hint}", headers=kept)
    return response


def _admin_token(forum: ForumSettings) -> str:
    if forum.admin_token:
        return forum.admin_token
    token = secrets.token_urlsafe(24)
    log.warning("no admin token configured; this run's admin token is %s (set %s to fix one)", token, ADMIN_TOKEN_ENV)
    return token


def create_app(forum: ForumSettings, *, db: Path | str | None = None, admin_token: str | None = None) -> web.Application:
    """The forum app from its own settings section; ``db`` and ``admin_token`` override it (the CLI's --db, tests)."""
    app = web.Application(middlewares=[errors_as_json], client_max_size=forum.limits.body_max_bytes)
    app[SETTINGS] = forum
    app[ADMIN_TOKEN] = admin_token or _admin_token(forum)
    app[HUB] = EventHub(forum.events.queue_size)
    app[POST_LIMITER] = RateLimiter(forum.limits.posts_per_minute, forum.limits.post_burst)
    app[SIMULATED_POST_LIMITER] = RateLimiter(forum.limits.posts_per_minute, forum.limits.post_burst)
    app[SOCKETS] = weakref.WeakSet()
    store = ForumStore(db or forum.location(), synchronous=forum.sqlite_synchronous)

    async def open_store(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        store.on_event = app[HUB].publish
        app[STORE] = store
        yield
        store.on_event = None
        await store.close()

    async def close_sockets(app: web.Application) -> None:
        for ws in list(app[SOCKETS]):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"forum shutting down")

    app.cleanup_ctx.append(open_store)
    app.on_shutdown.append(close_sockets)
    app.add_routes(api.routes)
    app.add_routes(admin.routes)
    app.add_routes(openapi.routes)
    app.add_routes(pages.routes)
    return app


