"""examples/: the Node client of the event socket, run by real Node against a real forum (`make test` installs its
`ws` package from the npm registry)."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from tests.conftest import ROOT, make_settings, start_forum, stop_forum

FOLLOW = ROOT / "examples" / "follow-forum" / "follow.js"


@pytest.fixture(autouse=True)
def node_and_ws() -> None:
    assert shutil.which("node") and (FOLLOW.parent / "node_modules" / "ws").is_dir(), (
        "Node and examples/follow-forum's ws package are missing: `make test` installs them (or `make node`)")


async def _line(process: asyncio.subprocess.Process) -> dict:
    async with asyncio.timeout(20):
        line = await process.stdout.readline()
    assert line, f"the Node client ended early: {(await process.stderr.read()).decode()}"
    return json.loads(line)


async def test_the_node_client_replays_goes_live_and_resumes_after_a_restart(tmp_path):
    settings = make_settings()
    running = await start_forum(tmp_path, settings)
    port = int(running.url.rsplit(":", 1)[1])
    person_token = (await running.anonymous.create_account("node_reader"))["token"]
    person = running.anonymous.with_token(person_token)
    thread = (await person.create_thread("Replayed", "opening"))["thread"]["id"]
    await person.reply(thread, "first reply")
    process = await asyncio.create_subprocess_exec(
        "node", str(FOLLOW), running.url, "--since", "0", "--count", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        replayed = [await _line(process) for _ in range(2)]
        assert [(e["seq"], e["type"]) for e in replayed] == [(1, "thread.created"), (2, "post.created")]
        await person.create_thread("Live", "posted while the client listens")
        live = await _line(process)
        assert live["seq"] == 3 and live["type"] == "thread.created" and live["thread"]["title"] == "Live"
        # the forum goes away and comes back on the same port: the client resumes from seq 3
        await stop_forum(running)
        running = await start_forum(tmp_path, settings, db=running.db, port=port)
        person = running.anonymous.with_token(person_token)
        await person.reply(thread, "after the restart")
        await person.reply(thread, "and one more")
        resumed = [await _line(process) for _ in range(2)]
        assert [e["seq"] for e in resumed] == [4, 5] and resumed[0]["post"]["body"] == "after the restart"
        async with asyncio.timeout(20):
            assert await process.wait() == 0
        assert "reconnecting" in (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await stop_forum(running)


async def test_the_node_client_refuses_a_bad_argument_in_one_line():
    process = await asyncio.create_subprocess_exec("node", str(FOLLOW), "--since", "soon",
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, error = await process.communicate()
    assert process.returncode == 2 and error.decode().strip() == "error: --since: give a whole number of 0 or more, got soon"
