"""The event web socket: commit order, replay with ?since=, slow subscribers, reconnects."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import make_settings, start_forum, stop_forum


async def _collect(ws: aiohttp.ClientWebSocketResponse, count: int, timeout: float = 10) -> list[dict]:
    events = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            message = await ws.receive_json()
            if message.get("type") != "hello":
                events.append(message)
    return events


async def test_events_arrive_in_commit_order_with_public_payloads(forum):
    alice = await forum.account("alice")
    async with forum.anonymous._session.ws_connect(forum.url + "/api/events") as ws:
        hello = await ws.receive_json()
        assert hello == {"type": "hello", "latest_seq": 0}
        thread = (await alice.create_thread("Live", "opening"))["thread"]["id"]
        posts = await asyncio.gather(*(alice.reply(thread, f"reply {i}") for i in range(20)))
        events = await _collect(ws, 21)
    assert [e["seq"] for e in events] == list(range(1, 22))
    assert events[0]["type"] == "thread.created" and events[0]["post"]["body"] == "opening"
    assert {e["post"]["id"] for e in events[1:]} == {p["id"] for p in posts}
    assert all(e["type"] == "post.created" and e["thread"]["id"] == thread for e in events[1:])
    # post ids grow with seq: events are pushed in the order the single writer committed them
    assert [e["post"]["id"] for e in events] == sorted(e["post"]["id"] for e in events)


async def test_since_replays_what_a_client_missed_then_goes_live(forum):
    alice = await forum.account("alice")
    thread = (await alice.create_thread("Replay", "p0"))["thread"]["id"]
    for i in range(1, 6):
        await alice.reply(thread, f"p{i}")
    async with forum.anonymous._session.ws_connect(forum.url + "/api/events", params={"since": 2}) as ws:
        assert (await ws.receive_json())["latest_seq"] == 6
        replayed = await _collect(ws, 4)
        await alice.reply(thread, "p6")
        live = await _collect(ws, 1)
    assert [e["seq"] for e in replayed + live] == [3, 4, 5, 6, 7]
    assert [e["post"]["body"] for e in replayed + live] == ["p2", "p3", "p4", "p5", "p6"]


async def test_since_ahead_of_the_forum_is_rejected(forum):
    async with forum.anonymous._session.get(forum.url + "/api/events", params={"since": 50}) as response:
        assert response.status == 400
        assert "since" in (await response.json())["error"]


async def test_replay_crosses_batches(forum, monkeypatch):
    from conversations import api

    monkeypatch.setattr(api, "REPLAY_BATCH", 3)
    alice = await forum.account("alice")
    thread = (await alice.create_thread("Many", "p0"))["thread"]["id"]
    for i in range(10):
        await alice.reply(thread, f"r{i}")
    async with forum.anonymous._session.ws_connect(forum.url + "/api/events", params={"since": 0}) as ws:
        events = await _collect(ws, 11)
    assert [e["seq"] for e in events] == list(range(1, 12))


@pytest.mark.slow
async def test_a_slow_subscriber_never_blocks_posting_and_is_dropped_with_a_resume_point(tmp_path, database):
    running = await start_forum(tmp_path, make_settings(events={"queue_size": 10}), db=database)
    try:
        alice = await running.account("alice")
        thread = (await alice.create_thread("Flood", "start"))["thread"]["id"]
        # a subscriber that connects and then never reads
        stalled = await running.anonymous._session.ws_connect(running.url + "/api/events")
        # enough bytes to fill the kernel's socket buffers (a few MB on loopback), then the queue
        async with asyncio.timeout(60):
            for i in range(1500):
                await alice.reply(thread, f"post {i} " + "x" * 9000)
        assert (await running.anonymous.get_thread(thread))["thread"]["post_count"] == 1501
        # the stalled client finds, once it reads, that it was dropped and where to resume
        messages = []
        async with asyncio.timeout(10):
            async for message in stalled:
                if message.type == aiohttp.WSMsgType.TEXT:
                    messages.append(message.json())
        dropped = messages[-1]
        assert dropped["type"] == "dropped" and "since" in dropped["error"]
        delivered = [m["seq"] for m in messages if "seq" in m]
        assert dropped["resume_since"] == delivered[-1]
        assert stalled.close_code == 4000
        from conversations.appkeys import HUB

        assert running.app[HUB].dropped == 1 and running.app[HUB].subscriber_count == 0
    finally:
        await stop_forum(running)


async def test_hub_drops_a_full_subscriber_after_draining_its_backlog():
    from conversations.events import EventHub, SubscriberDropped
    from conversations.models import Account, Event, Post, Thread

    author = Account(1, "a", "a", "t")
    hub = EventHub(queue_size=10)
    slow, fast = hub.subscribe(), hub.subscribe()
    for seq in range(1, 16):
        thread = Thread(1, "t", author, "t", "t", seq)
        hub.publish(Event(seq, "post.created", "t", thread, Post(seq, 1, None, author, "b", "t")))
        if seq <= 12:
            await fast.next()
    assert hub.subscriber_count == 1 and hub.dropped == 1
    assert [ (await slow.next())[0] for _ in range(10)] == list(range(1, 11))
    with pytest.raises(SubscriberDropped):
        await slow.next()
    assert [(await fast.next())[0] for _ in range(3)] == [13, 14, 15]


@pytest.mark.slow
async def test_follow_resumes_across_a_forum_restart_without_gaps_or_repeats(tmp_path, database):
    settings = make_settings()
    running = await start_forum(tmp_path, settings, db=database)
    alice_token = (await running.anonymous.create_account("alice"))["token"]
    alice = running.anonymous.with_token(alice_token)
    thread = (await alice.create_thread("Restart", "p0"))["thread"]["id"]

    from conversations.client import ForumClient

    follower = ForumClient(running.url)
    seen: list[int] = []
    got_three = asyncio.Event()

    async def follow() -> None:
        async for event in follower.follow(since=0, retry_s=0.05, max_retry_s=0.2):
            seen.append(event["seq"])
            if len(seen) == 3:
                got_three.set()
            if len(seen) == 6:
                return

    task = asyncio.create_task(follow())
    await alice.reply(thread, "p1")
    await alice.reply(thread, "p2")
    async with asyncio.timeout(10):
        await got_three.wait()
    port = int(running.url.rsplit(":", 1)[1])
    await stop_forum(running)

    # the forum comes back on the same port and file; posts made meanwhile are replayed with since=
    restarted = await start_forum(tmp_path, settings, db=running.db, port=port)
    try:
        writer = restarted.anonymous.with_token(alice_token)
        for body in ("p3", "p4", "p5"):
            await writer.reply(thread, body)
        async with asyncio.timeout(15):
            await task
    finally:
        await follower.close()
        await stop_forum(restarted)
    assert seen == [1, 2, 3, 4, 5, 6]
