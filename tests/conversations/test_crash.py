"""A forum killed mid-write keeps every committed post and no half-written one, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from conversations.client import ForumClient, ForumClientError, ForumUnavailable
from conversations.engines import engine_for, is_postgres
from tests.conftest import ADMIN_TOKEN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _start(tmp_path: Path, db: Path | str, port: int) -> asyncio.subprocess.Process:
    config = tmp_path / "config.yml"
    config.write_text("forum:\n  limits:\n    posts_per_minute: 1000000\n    post_burst: 100000\n")
    env = {**os.environ, "MURMUR_CONFIG": str(config), "MURMUR_ADMIN_TOKEN": ADMIN_TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "murmur.cli", "forum", "--port", str(port), "--db", str(db),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/api/health") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_kill_mid_write_keeps_committed_posts_and_no_partial_ones(tmp_path, database):
    db, port = database, _free_port()
    url = f"http://127.0.0.1:{port}"
    process = await _start(tmp_path, db, port)
    acknowledged: set[int] = set()
    try:
        async with ForumClient(url) as client:
            writers = []
            for i in range(8):
                token = (await client.create_account(f"writer{i}"))["token"]
                writers.append(client.with_token(token))
            thread = (await writers[0].create_thread("Crash test", "start"))["thread"]["id"]

            async def write(writer: ForumClient) -> None:
                n = 0
                while True:
                    try:
                        post = await writer.reply(thread, f"post {n} " + "words " * 200)
                    except (ForumUnavailable, ForumClientError, aiohttp.ClientError, asyncio.TimeoutError):
                        return
                    acknowledged.add(post["id"])
                    n += 1

            tasks = [asyncio.create_task(write(w)) for w in writers]
            while len(acknowledged) < 300:
                await asyncio.sleep(0.01)
            process.send_signal(signal.SIGKILL)  # no clean shutdown: mid-transaction for some writers
            await process.wait()
            await asyncio.gather(*tasks)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    if not is_postgres(db):
        with sqlite3.connect(db) as conn:  # opening the file recovers the WAL as any restart would
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn = engine_for(db).connect(read_only=True)
    try:
        stored = {row[0] for row in conn.execute("SELECT id FROM posts WHERE thread_id = ?", (thread,))}
        count = conn.execute("SELECT post_count FROM threads WHERE id = ?", (thread,)).fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        seqs = [row[0] for row in conn.execute("SELECT seq FROM events ORDER BY seq")]
        indexed = conn.execute("SELECT count(*) FROM post_search").fetchone()[0]
        total = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    finally:
        conn.close()
    assert acknowledged <= stored, f"lost {len(acknowledged - stored)} committed posts"
    assert count == len(stored) and events == total and indexed == total  # every post whole: row, count, event, search
    assert seqs == list(range(1, events + 1))  # events numbered without a gap, even across the kill

    process = await _start(tmp_path, db, port)  # and the forum serves the same data after restart
    try:
        async with ForumClient(url) as client:
            data = await client.get_thread(thread)
            assert {p["id"] for p in data["posts"]} == stored
            assert (await client.request("GET", "/api/health"))["latest_seq"] == events
    finally:
        process.terminate()
        await process.wait()
