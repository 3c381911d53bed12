"""Admin endpoints (admin bearer token): bot accounts, provenance, and the export with ground truth."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from conversations.appkeys import SETTINGS, STORE
from conversations.auth import require_admin
from conversations.errors import InvalidInput
from conversations.importers.jsonl import parse_thread
from conversations.models import Provenance
from conversations.requests import (
    META_KEY_PATTERN,
    NewProvenance,
    NewSyntheticAccount,
    Replay,
    check_handle,
    campaign_fields,
    check_text,
    iso_time,
    parse_body,
    read_json,
)

routes = web.RouteTableDef()


@routes.post("/api/admin/accounts")
async def create_synthetic_account(request: web.Request) -> web.Response:
    """A bot account with its persona recorded as ground truth; an existing bot handle is reused with a new token."""
    require_admin(request)
    limits = request.app[SETTINGS].limits
    body = parse_body(NewSyntheticAccount, await read_json(request, limits))
    handle = check_handle(body.handle, limits)
    display_name = check_text("display_name", handle if body.display_name is None else body.display_name, limits.handle_max_chars * 2, "handle_max_chars")
    persona = check_text("persona", body.persona, 200, "persona")
    run_id = check_text("run_id", body.run_id, 200, "run_id")
    generator = check_text("generator", body.generator, 200, "generator")
    created_at = iso_time("created_at", body.created_at) if body.created_at is not None else None
    campaign_id, role = campaign_fields(body.campaign)
    account, token, reused = await request.app[STORE].create_synthetic_account(
        handle, display_name, persona, run_id, generator, created_at, campaign_id=campaign_id, role=role)
    return web.json_response({"account": account.public(), "token": token, "reused": reused}, status=200 if reused else 201)


@routes.post("/api/admin/provenance")
async def record_provenance(request: web.Request) -> web.Response:
    require_admin(request)
    body = parse_body(NewProvenance, await read_json(request, request.app[SETTINGS].limits))
    campaign_id, role = campaign_fields(body.campaign)
    provenance = Provenance(
        persona=check_text("persona", body.persona, 200, "persona"),
        run_id=check_text("run_id", body.run_id, 200, "run_id"),
        generator=check_text("generator", body.generator, 200, "generator"),
        action=body.action,
        score=None if body.score is None else float(body.score),
        extra=body.extra,
        campaign_id=campaign_id,
        role=role,
    )
    post_id = await request.app[STORE].record_provenance(
        provenance, post_id=body.post_id, account_id=body.account_id, idempotency_key=body.idempotency_key
    )
    return web.json_response({"recorded": True, "post_id": post_id}, status=201)


@routes.post("/api/admin/replay")
async def replay(request: web.Request) -> web.Response:
    """People's posts from a corpus, entering the forum at their own times (a swarm replays them as its clock passes).

    Takes murmur JSONL thread records (a thread the forum holds gets only its new posts); answers with the events
    of what was added, in commit order, so the caller knows the new posts without reading them back.
    """
    require_admin(request)
    body = parse_body(Replay, await read_json(request, request.app[SETTINGS].limits))
    threads = [parse_thread(record, f"threads[{i}]") for i, record in enumerate(body.threads)]
    stats, events = await request.app[STORE].import_with_events(threads)
    return web.json_response({"posts_added": stats.posts_added, "posts_skipped": stats.posts_skipped,
                              "events": [event.public() for event in events]}, status=201)


@routes.put("/api/admin/meta/{key}")
async def set_meta(request: web.Request) -> web.Response:
    """A note about the forum itself (any JSON), kept with it and carried by exports (e.g. a replay's site shifts)."""
    require_admin(request)
    key = request.match_info["key"]
    if not re.fullmatch(META_KEY_PATTERN.strip("^$"), key):
        raise InvalidInput("key", "use up to 64 letters, digits, '-' or '_'")
    await request.app[STORE].set_meta(key, await read_json(request, request.app[SETTINGS].limits))
    return web.json_response({"key": key, "stored": True})


@routes.get("/api/admin/export")
async def export(request: web.Request) -> web.StreamResponse:
    """The whole forum with ground truth as NDJSON, one record a line, streamed from one consistent snapshot."""
    require_admin(request)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    records: Iterator[dict[str, Any]] = request.app[STORE].iter_export()
    try:
        while chunk := await loop.run_in_executor(None, _next_lines, records, 500):
            await response.write(chunk.encode("utf-8"))
    finally:
        await loop.run_in_executor(None, records.close)
    await response.write_eof()
    return response


def _next_lines(records: Iterator[dict[str, Any]], count: int) -> str:
    """Up to ``count`` records as NDJSON text; empty when the export is done."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in itertools.islice(records, count))
