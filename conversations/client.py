"""ForumClient: what bots (and tests, and scripts) use to read, post and follow events over HTTP.

Errors come back as ForumClientError carrying the server's status and its
``error`` message. ``follow`` yields events forever, reconnecting with
``?since=`` after a drop or an outage so nothing is missed or repeated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from core.errors import MurmurError

log = logging.getLogger("murmur.client")


class ForumClientError(MurmurError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"forum answered {status}: {message}")
        self.status = status
        self.message = message


class ForumUnavailable(MurmurError):
    """The forum cannot be reached."""


def _post_headers(idempotency_key: str | None, at: str | None) -> dict[str, str]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return headers | ({"Murmur-Simulated-Time": at} if at else {})


class ForumClient:
    def __init__(self, base_url: str, token: str | None = None, *, session: aiohttp.ClientSession | None = None,
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._own_session = session is None
        self._session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    async def __aenter__(self) -> "ForumClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def with_token(self, token: str) -> "ForumClient":
        """The same connection pool, acting as another account."""
        return ForumClient(self.base_url, token, session=self._session)

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                      token: str | None = None, headers: dict[str, str] | None = None) -> Any:
        all_headers = dict(headers or {})
        if token or self.token:
            all_headers["Authorization"] = f"Bearer {token or self.token}"
        try:
            async with self._session.request(method, self.base_url + path, json=json, params=params, headers=all_headers) as response:
                data = await response.json(content_type=None)
                if response.status >= 400:
                    raise ForumClientError(response.status, (data or {}).get("error", response.reason or ""))
                return data
        except aiohttp.ClientConnectionError as exc:
            raise ForumUnavailable(f"forum at {self.base_url} is unreachable: {exc}") from exc

    # -- public API ------------------------------------------------------------------------

    async def create_account(self, handle: str, display_name: str | None = None) -> dict[str, Any]:
        body = {"handle": handle} | ({"display_name": display_name} if display_name else {})
        return await self.request("POST", "/api/accounts", json=body)

    async def list_threads(self, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        return await self.request("GET", "/api/threads", params={"limit": limit, "offset": offset})

    async def get_thread(self, thread_id: int) -> dict[str, Any]:
        return await self.request("GET", f"/api/threads/{thread_id}")

    async def search(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        return (await self.request("GET", "/api/threads/search", params={"q": text, "limit": limit}))["threads"]

    async def create_thread(self, title: str, body: str, tags: list[str] | None = None,
                            idempotency_key: str | None = None, at: str | None = None) -> dict[str, Any]:
        """Open a thread; ``at`` is a simulated time (bot accounts only)."""
        return await self.request("POST", "/api/threads", json={"title": title, "body": body, "tags": tags or []},
                                  headers=_post_headers(idempotency_key, at))

    async def reply(self, thread_id: int, body: str, parent_id: int | None = None,
                    idempotency_key: str | None = None, at: str | None = None) -> dict[str, Any]:
        """Reply to a thread; ``at`` is a simulated time (bot accounts only)."""
        payload: dict[str, Any] = {"body": body} | ({"parent_id": parent_id} if parent_id is not None else {})
        headers = _post_headers(idempotency_key, at)
        return (await self.request("POST", f"/api/threads/{thread_id}/posts", json=payload, headers=headers))["post"]

    # -- admin API ---------------------------------------------------------------------------

    async def create_bot_account(self, handle: str, persona: str, run_id: str, generator: str,
                                 display_name: str | None = None, created_at: str | None = None, *,
                                 campaign_id: str | None = None, role: str | None = None) -> dict[str, Any]:
        """A bot account; ``created_at`` dates a new one in simulated time (it must not come after its first post);
        ``campaign_id`` and ``role`` put it in a campaign (ground truth only)."""
        body = {"handle": handle, "persona": persona, "run_id": run_id, "generator": generator}
        body |= {"campaign": {"id": campaign_id, "role": role}} if campaign_id else {}
        body |= {"display_name": display_name} if display_name else {}
        body |= {"created_at": created_at} if created_at else {}
        return await self.request("POST", "/api/admin/accounts", json=body)

    async def replay(self, threads: list[dict[str, Any]]) -> dict[str, Any]:
        """People's posts (murmur JSONL thread records) entering at their own times; the events of what was added."""
        return await self.request("POST", "/api/admin/replay", json={"threads": threads})

    async def set_meta(self, key: str, value: Any) -> dict[str, Any]:
        return await self.request("PUT", f"/api/admin/meta/{key}", json=value)

    async def record_provenance(self, **fields: Any) -> dict[str, Any]:
        return await self.request("POST", "/api/admin/provenance", json=fields)

    # -- events --------------------------------------------------------------------------------

    async def follow(self, since: int | None = None, *, retry_s: float = 0.5, max_retry_s: float = 10.0) -> AsyncIterator[dict[str, Any]]:
        """Every committed event after ``since`` (or from now), forever; survives drops and restarts of the forum."""
        last = since
        delay = retry_s
        while True:
            params = {} if last is None else {"since": last}
            try:
                async with self._session.ws_connect(self.base_url + "/api/events", params=params, heartbeat=30) as ws:
                    delay = retry_s
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        event = message.json()
                        if event.get("type") == "hello":
                            last = event["latest_seq"] if last is None else last
                            continue
                        if "seq" in event and event["seq"] > (last or 0):
                            last = event["seq"]
                            yield event
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.info("event socket lost (%s); reconnecting with since=%s in %.1f s", exc, last, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry_s)
