"""The public REST API under /api/ and the event web socket.

Everything here is what any participant sees; none of it reads ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from conversations.appkeys import HUB, POST_LIMITER, SETTINGS, SIMULATED_POST_LIMITER, SOCKETS, STORE
from conversations.auth import current_account
from conversations.errors import Forbidden, InvalidInput
from conversations.events import SubscriberDropped
from conversations.requests import (
    NewAccount,
    NewPost,
    NewThread,
    check_handle,
    check_text,
    idempotency_key,
    parse_body,
    path_id,
    query_int,
    read_json,
    simulated_time,
)
from conversations.models import Account, format_time, parse_time

routes = web.RouteTableDef()
REPLAY_BATCH = 500


async def _spend_post_token(request: web.Request, account: Account) -> str | None:
    """Rate-limit a post; returns its simulated time when a bot on a simulated clock sends one.

    Only accounts the admin created as bots may set a simulated time; their
    limits are then counted in simulated time, so a day of forum life can run
    in minutes under the same per-account limits.
    """
    moment = simulated_time(request)
    if moment is None:
        request.app[POST_LIMITER].take(account.id)
        return None
    if not await request.app[STORE].is_synthetic(account.id):
        raise Forbidden("Murmur-Simulated-Time: only bot accounts made with the admin token may set a post's time; drop the header")
    if moment < parse_time(account.created_at):
        raise InvalidInput("Murmur-Simulated-Time", f"{format_time(moment)} is before the account was made "
                                                    f"({account.created_at}); a post cannot predate its account")
    request.app[SIMULATED_POST_LIMITER].take(account.id, now=moment.timestamp())
    return format_time(moment)


@routes.post("/api/accounts")
async def create_account(request: web.Request) -> web.Response:
    limits = request.app[SETTINGS].limits
    body = parse_body(NewAccount, await read_json(request, limits))
    handle = check_handle(body.handle, limits)
    display_name = check_text("display_name", handle if body.display_name is None else body.display_name, limits.handle_max_chars * 2, "handle_max_chars")
    account, token = await request.app[STORE].create_account(handle, display_name)
    return web.json_response({"account": account.public(), "token": token}, status=201)


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    return web.json_response({"account": (await current_account(request)).public()})


@routes.get("/api/threads")
async def list_threads(request: web.Request) -> web.Response:
    limits = request.app[SETTINGS].limits
    limit = query_int(request, "limit", 20, 1, limits.page_size_max)
    offset = query_int(request, "offset", 0, 0)
    threads, total = await request.app[STORE].list_threads(limit, offset)
    next_offset = offset + len(threads) if offset + len(threads) < total else None
    return web.json_response(
        {"threads": [t.public() for t in threads], "total": total, "limit": limit, "offset": offset, "next_offset": next_offset}
    )


@routes.post("/api/threads")
async def create_thread(request: web.Request) -> web.Response:
    limits = request.app[SETTINGS].limits
    account = await current_account(request)
    key = idempotency_key(request)
    body = parse_body(NewThread, await read_json(request, limits))
    title = check_text("title", body.title, limits.title_max_chars, "title_max_chars")
    text = check_text("body", body.body, limits.post_max_chars, "post_max_chars")
    tags = [check_text(f"tags.{i}", tag, 40, "tags").lower() for i, tag in enumerate(body.tags)]
    at = await _spend_post_token(request, account)
    thread, post, created = await request.app[STORE].create_thread(account, title, text, tags, key, at=at)
    return web.json_response({"thread": thread.public(), "post": post.public()}, status=201 if created else 200)


@routes.get("/api/threads/search")
async def search_threads(request: web.Request) -> web.Response:
    limits = request.app[SETTINGS].limits
    text = request.query.get("q", "")
    if not text.strip():
        raise InvalidInput("q", "give some text to search for, e.g. /api/threads/search?q=espresso")
    check_text("q", text, limits.title_max_chars, "title_max_chars")
    limit = query_int(request, "limit", 20, 1, limits.page_size_max)
    hits = await request.app[STORE].search_threads(text, limit)
    return web.json_response({"query": text, "threads": [{**t.public(), "score": round(s, 4)} for t, s in hits]})


@routes.get("/api/threads/{thread_id}")
async def read_thread(request: web.Request) -> web.Response:
    thread, posts = await request.app[STORE].get_thread(path_id(request, "thread_id"))
    return web.json_response({"thread": thread.public(), "posts": [p.public() for p in posts]})


@routes.post("/api/threads/{thread_id}/posts")
async def reply(request: web.Request) -> web.Response:
    limits = request.app[SETTINGS].limits
    thread_id = path_id(request, "thread_id")
    account = await current_account(request)
    key = idempotency_key(request)
    body = parse_body(NewPost, await read_json(request, limits))
    text = check_text("body", body.body, limits.post_max_chars, "post_max_chars")
    at = await _spend_post_token(request, account)
    post, created = await request.app[STORE].create_post(account, thread_id, text, body.parent_id, key, at=at)
    return web.json_response({"post": post.public()}, status=201 if created else 200)


@routes.get("/api/posts/{post_id}")
async def read_post(request: web.Request) -> web.Response:
    post = await request.app[STORE].get_post(path_id(request, "post_id"))
    return web.json_response({"post": post.public()})


@routes.get("/api/events")
async def events(request: web.Request) -> web.WebSocketResponse:
    """Web socket: ``hello``, then (with ``?since=N``) every event after N, then live events as committed."""
    store, hub = request.app[STORE], request.app[HUB]
    since = query_int(request, "since", None, 0)
    subscription = hub.subscribe()  # before reading the backlog, so nothing committed in between is missed
    try:
        latest = await store.latest_seq()
        if since is not None and since > latest:
            raise InvalidInput("since", f"{since} is ahead of the latest event ({latest}); reconnect with since={latest} or less")
        ws = web.WebSocketResponse(heartbeat=request.app[SETTINGS].events.heartbeat_s)
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        reader = asyncio.create_task(_drain_incoming(ws))
        try:
            await ws.send_json({"type": "hello", "latest_seq": latest})
            last = latest if since is None else since
            while since is not None:
                backlog = await store.events_since(last, REPLAY_BATCH)
                for event in backlog:
                    await ws.send_json(event.public())
                    last = event.seq
                if len(backlog) < REPLAY_BATCH:
                    break
            await _forward_live(ws, subscription, last, reader)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return ws
    finally:
        hub.unsubscribe(subscription)


async def _forward_live(ws: web.WebSocketResponse, subscription, last: int, reader: asyncio.Task) -> None:
    while not ws.closed and not reader.done():
        items = subscription.ready()  # under load the queue holds a run of events: send it without waiting
        if not items:  # idle: wait for the next event, or for the client to leave
            getter = asyncio.ensure_future(subscription.next())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError, SubscriberDropped):
                    await getter
                return
            try:
                items = [getter.result()]
            except SubscriberDropped:
                await ws.send_json({"type": "dropped", "resume_since": last,
                                    "error": f"fell behind; reconnect with ?since={last}"})
                await ws.close(code=4000, message=b"subscriber fell behind")
                return
        for seq, text in items:
            if seq > last:
                await ws.send_str(text)
                last = seq


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    """The socket is one-way; reading it only notices the client leaving."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    """Ready check: the store answers, and the latest event sequence number."""
    return web.json_response({"ok": True, "latest_seq": await request.app[STORE].latest_seq(),
                              "subscribers": request.app[HUB].subscriber_count})
