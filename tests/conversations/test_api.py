"""REST round trips against a real forum on a loopback port."""

from __future__ import annotations

import pytest

from conversations.client import ForumClientError
from tests.conftest import ADMIN_TOKEN


async def test_account_thread_reply_round_trip(forum):
    alice = await forum.account("alice")
    bob = await forum.account("bob")
    created = await alice.create_thread("Best grinder under 200?", "Looking for burr grinders.", tags=["Espresso"])
    thread_id = created["thread"]["id"]
    assert created["thread"]["tags"] == ["espresso"]
    assert created["post"]["author"]["handle"] == "alice"

    first_reply = await bob.reply(thread_id, "Hand grinders are great value.")
    nested = await alice.reply(thread_id, "Which one?", parent_id=first_reply["id"])
    assert nested["parent_id"] == first_reply["id"]

    data = await forum.anonymous.get_thread(thread_id)
    assert [p["body"] for p in data["posts"]] == ["Looking for burr grinders.", "Hand grinders are great value.", "Which one?"]
    assert data["thread"]["post_count"] == 3
    assert data["thread"]["last_activity_at"] == nested["created_at"]
    me = await bob.request("GET", "/api/me")
    assert me["account"]["handle"] == "bob"


async def test_threads_listed_by_newest_activity_and_paginated(forum):
    alice = await forum.account("alice")
    ids = [(await alice.create_thread(f"thread {i}", "body"))["thread"]["id"] for i in range(5)]
    await alice.reply(ids[0], "bump")  # the oldest thread now has the newest activity
    page = await forum.anonymous.list_threads(limit=2)
    assert [t["id"] for t in page["threads"]] == [ids[0], ids[4]]
    assert page["total"] == 5 and page["next_offset"] == 2
    rest = await forum.anonymous.list_threads(limit=10, offset=2)
    assert [t["id"] for t in rest["threads"]] == [ids[3], ids[2], ids[1]]
    assert rest["next_offset"] is None


async def test_search_finds_threads_by_title_and_reply_text(forum):
    alice = await forum.account("alice")
    espresso = (await alice.create_thread("Channeling in my espresso puck", "Shots run fast."))["thread"]["id"]
    bread = (await alice.create_thread("Sourdough starter smells odd", "Is it dead?"))["thread"]["id"]
    await alice.reply(bread, "Feed it twice a day with rye flour.")
    assert [t["id"] for t in await forum.anonymous.search("espresso puck")] == [espresso]
    assert [t["id"] for t in await forum.anonymous.search("rye")] == [bread]
    assert await forum.anonymous.search("telescope") == []
    # FTS syntax in user input is treated as words, not as a query language
    assert await forum.anonymous.search('espresso" OR NEAR(') == []


async def test_idempotency_key_returns_the_original_post(forum):
    alice = await forum.account("alice")
    thread = await alice.create_thread("Idempotent", "first", idempotency_key="t-1")
    again = await alice.create_thread("Idempotent", "first", idempotency_key="t-1")
    assert again["thread"]["id"] == thread["thread"]["id"]
    one = await alice.reply(thread["thread"]["id"], "reply", idempotency_key="r-1")
    two = await alice.reply(thread["thread"]["id"], "reply", idempotency_key="r-1")
    assert one["id"] == two["id"]
    data = await forum.anonymous.get_thread(thread["thread"]["id"])
    assert data["thread"]["post_count"] == 2 and len(data["posts"]) == 2
    with pytest.raises(ForumClientError) as info:
        await alice.create_thread("Other", "x", idempotency_key="r-1")
    assert info.value.status == 409


async def test_rate_limit_per_account(tmp_path, database):
    from tests.conftest import make_settings, start_forum, stop_forum

    running = await start_forum(tmp_path, make_settings(limits={"posts_per_minute": 1, "post_burst": 2}), db=database)
    try:
        alice = await running.account("alice")
        bob = await running.account("bob")
        thread = (await alice.create_thread("t", "b"))["thread"]["id"]
        await alice.reply(thread, "one")
        status, headers, body = await _raw(running, "POST", f"/api/threads/{thread}/posts", {"body": "two"}, alice.token)
        assert status == 429 and "too fast" in body["error"] and int(headers["Retry-After"]) >= 1
        await bob.reply(thread, "another account is not limited")  # the limit is per account
        assert (await running.anonymous.get_thread(thread))["thread"]["post_count"] == 3
    finally:
        await stop_forum(running)


async def _raw(forum, method, path, body=None, token=None, data=None, headers=None):
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    async with forum.anonymous._session.request(method, forum.url + path, json=body, data=data, headers=all_headers) as response:
        return response.status, response.headers, await response.json(content_type=None)


@pytest.fixture
async def seeded(forum):
    alice = await forum.account("alice")
    thread = await alice.create_thread("A thread", "Its opening post")
    other = await alice.create_thread("Another thread", "Elsewhere")
    return forum, alice, thread["thread"]["id"], other["post"]["id"]


BAD_REQUESTS = [
    # (method, path template, json body, raw data, auth, expected status, words in the error)
    ("POST", "/api/threads", None, b"{not json", "alice", 400, ["body", "not valid JSON"]),
    ("POST", "/api/threads", None, b"", "alice", 400, ["body", "empty"]),
    ("POST", "/api/threads", [1, 2], None, "alice", 400, ["body", "JSON object"]),
    ("POST", "/api/threads", {"body": "no title"}, None, "alice", 400, ["title", "required"]),
    ("POST", "/api/threads", {"title": 5, "body": "x"}, None, "alice", 400, ["title", "string"]),
    ("POST", "/api/threads", {"title": "t", "body": "a\u0000b"}, None, "alice", 400, ["body", "NUL"]),
    ("POST", "/api/threads", {"title": "   ", "body": "x"}, None, "alice", 400, ["title", "empty"]),
    ("POST", "/api/threads", {"title": "x" * 201, "body": "x"}, None, "alice", 422,
     ["title", "201 characters", "limit of 200", "forum.limits.title_max_chars"]),
    ("POST", "/api/threads", {"title": "t", "body": "x", "tags": ["x" * 41]}, None, "alice", 422, ["tags.0", "limit of 40"]),
    ("POST", "/api/threads", {"title": "t", "body": "x", "extra": 1}, None, "alice", 400, ["extra", "remove it"]),
    ("POST", "/api/threads", {"title": "t", "body": "x"}, None, None, 401, ["Authorization", "Bearer"]),
    ("POST", "/api/threads", {"title": "t", "body": "x"}, None, "wrong-token", 401, ["unknown token"]),
    ("POST", "/api/threads/{thread}/posts", {"body": "x" * 10_001}, None, "alice", 422,
     ["body", "limit of 10000", "forum.limits.post_max_chars"]),
    ("POST", "/api/threads/{thread}/posts", {"body": ""}, None, "alice", 400, ["body", "empty"]),
    ("POST", "/api/threads/{thread}/posts", {"body": "x", "parent_id": "7"}, None, "alice", 400, ["parent_id", "integer"]),
    ("POST", "/api/threads/{thread}/posts", {"body": "x", "parent_id": 999999}, None, "alice", 404, ["parent_id", "999999"]),
    ("POST", "/api/threads/{thread}/posts", {"body": "x", "parent_id": "{other_post}"}, None, "alice", 400, ["parent_id", "belongs to thread"]),
    ("POST", "/api/threads/999999/posts", {"body": "x"}, None, "alice", 404, ["thread 999999"]),
    ("POST", "/api/threads/abc/posts", {"body": "x"}, None, "alice", 400, ["thread_id", "whole number"]),
    ("GET", "/api/threads/999999", None, None, None, 404, ["thread 999999"]),
    ("GET", "/api/threads?limit=0", None, None, None, 400, ["limit", "between 1 and 100"]),
    ("GET", "/api/threads?offset=x", None, None, None, 400, ["offset", "whole number"]),
    ("GET", "/api/threads/search?q=", None, None, None, 400, ["q"]),
    ("GET", "/api/threads/search?q={long_q}", None, None, None, 422, ["q", "limit of 200"]),
    ("GET", "/api/posts/999999", None, None, None, 404, ["post 999999"]),
    ("POST", "/api/accounts", {"handle": "a b"}, None, None, 400, ["handle"]),
    ("POST", "/api/accounts", {"handle": "h" * 41}, None, None, 422, ["handle", "limit of 40", "forum.limits.handle_max_chars"]),
    ("POST", "/api/accounts", {"handle": "dora", "display_name": "d" * 81}, None, None, 422, ["display_name", "limit of 80"]),
    ("POST", "/api/accounts", {"handle": "alice"}, None, None, 409, ["handle", "taken"]),
    ("GET", "/api/nope", None, None, None, 404, ["no such route"]),
    ("DELETE", "/api/threads", None, None, None, 405, ["DELETE", "not allowed"]),
    ("POST", "/api/admin/accounts", {"handle": "bot1", "persona": "p", "run_id": "r", "generator": "g"}, None, "alice", 403, ["admin token"]),
    ("POST", "/api/admin/accounts", {"handle": "bot1", "persona": "p" * 201, "run_id": "r", "generator": "g"}, None, ADMIN_TOKEN, 422,
     ["persona", "limit of 200"]),
    ("GET", "/api/admin/export", None, None, None, 401, ["Authorization"]),
]


@pytest.mark.parametrize("method, path, body, data, auth, status, words", BAD_REQUESTS,
                         ids=[f"{m} {p} {s} {w[0]}" for m, p, _, _, _, s, w in BAD_REQUESTS])
async def test_bad_input_is_a_clear_4xx_and_writes_nothing(seeded, method, path, body, data, auth, status, words):
    forum, alice, thread_id, other_post = seeded
    path = path.format(thread=thread_id, long_q="x" * 201)
    if isinstance(body, dict) and body.get("parent_id") == "{other_post}":
        body = {**body, "parent_id": other_post}
    token = alice.token if auth == "alice" else auth
    headers = {"Content-Type": "application/json"} if data is not None else None
    before = await _counts(forum)
    got, _, payload = await _raw(forum, method, path, body, token, data=data, headers=headers)
    assert got == status, payload
    for word in words:
        assert word in payload["error"], payload
    if status == 422:  # a text field over its limit: the field is named apart too, for a client to point at
        assert payload["field"] == words[0], payload
    assert await _counts(forum) == before


async def test_oversized_body_is_413_and_writes_nothing(seeded):
    forum, alice, thread_id, _ = seeded
    before = await _counts(forum)
    huge = b'{"body": "' + b"x" * 70_000 + b'"}'
    status, _, payload = await _raw(forum, "POST", f"/api/threads/{thread_id}/posts", token=alice.token, data=huge,
                                    headers={"Content-Type": "application/json"})
    assert status == 413 and "limit" in payload["error"]
    assert await _counts(forum) == before


async def _counts(forum):
    from tests.conftest import table_counts

    return table_counts(forum.db, ("accounts", "threads", "posts", "events", "gt_posts"))


async def test_simulated_time_is_for_bot_accounts_and_rate_limits_in_simulated_time(tmp_path, database):
    from tests.conftest import make_settings, start_forum, stop_forum

    running = await start_forum(tmp_path, make_settings(limits={"posts_per_minute": 2, "post_burst": 2}), db=database)
    try:
        human = await running.account("human")
        thread = (await human.create_thread("A thread", "opening"))["thread"]["id"]
        bot_data = await running.admin.create_bot_account("sim_bot", persona="p", run_id="r", generator="g")
        bot = running.anonymous.with_token(bot_data["token"])

        first = await bot.reply(thread, "at nine", at="2030-01-01T09:00:00Z")
        assert first["created_at"].startswith("2030-01-01T09:00:00")
        opened = await bot.create_thread("Bot thread", "opening", at="2030-01-01T09:00:10Z")
        assert opened["thread"]["created_at"].startswith("2030-01-01T09:00:10")
        # the burst is spent in simulated time: a third post in the same simulated second is refused ...
        with pytest.raises(ForumClientError) as info:
            await bot.reply(thread, "too soon", at="2030-01-01T09:00:11Z")
        assert info.value.status == 429
        # ... and one a simulated hour later is fine, however little wall time has passed
        await bot.reply(thread, "an hour later", at="2030-01-01T10:00:00Z")

        with pytest.raises(ForumClientError) as info:
            await human.reply(thread, "backdated", at="2030-01-01T09:00:00Z")
        assert info.value.status == 403 and "Murmur-Simulated-Time" in info.value.message
        status, _, body = await _raw(running, "POST", f"/api/threads/{thread}/posts", {"body": "x"}, bot.token,
                                     headers={"Murmur-Simulated-Time": "yesterday"})
        assert status == 400 and body["field"] == "Murmur-Simulated-Time"
        posts = (await running.anonymous.get_thread(thread))["posts"]
        assert [p["body"] for p in posts] == ["opening", "at nine", "an hour later"]
    finally:
        await stop_forum(running)


async def test_a_method_a_route_does_not_serve_is_405_with_the_allowed_ones(forum):
    """RFC 9110: a 405 says in Allow what the route does serve."""
    thread = (await (await forum.account("allow_check")).create_thread("t", "b"))["thread"]["id"]
    for method, path, allowed in (("TRACE", f"/api/threads/{thread}", {"GET"}), ("DELETE", "/api/threads", {"GET", "POST"}),
                                  ("PATCH", "/api/accounts", {"POST"})):
        async with forum.anonymous._session.request(method, forum.url + path) as response:
            assert response.status == 405, (method, path)
            assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}, response.headers.get("Allow")
            assert method in (await response.json())["error"]
