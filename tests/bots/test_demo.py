"""`murmur demo` end to end, as a user runs it: a subprocess, a fresh forum, a real Rasa server, a swarm, a summary."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
import subprocess
import sys

import aiohttp
import pytest
import yaml

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


async def test_demo_runs_a_swarm_on_a_fresh_forum_and_ends_with_a_summary(tmp_path, rasa_model):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "config.yml"
    # the acts the session's model read in the reply bank, when an earlier test had it read them (cached per model
    # and text, as a user who ran `murmur chat` before has them): the demo labels only what is new
    labels, kept = ROOT / "var" / "rasa-models" / "act-labels.sqlite", rasa_model.model_path.parent / "act-labels.sqlite"
    if labels.exists() and not kept.exists():
        shutil.copy(labels, kept)
    # the session's trained model (same fingerprint: no training here) and the tests' embedding cache
    config.write_text(yaml.safe_dump({"rasa": {"model_dir": str(rasa_model.model_path.parent)},
                                      "index": {"cache_path": str(ROOT / "var" / "test-embeddings.sqlite")},
                                      "swarm": {"hours": 12}}))
    db = tmp_path / "demo.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "murmur.cli", "--config", str(config), "demo", "--port", str(port), "--db", str(db),
        "--speed", "0", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    output = b""
    try:
        async with asyncio.timeout(600):
            while b"live at" not in output:
                line = await process.stdout.readline()
                if not line:
                    pytest.fail(f"the demo ended early:\n{output.decode()}")
                output += line
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    assert response.status == 200
            output += await process.stdout.read()
            assert await process.wait() == 0, output.decode()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    text = output.decode()
    for step in range(1, 7):
        assert f"{step}/6 " in text, f"step {step} is not announced:\n{text}"
    assert "who ought to be in the newest conversations" in text
    assert "mean relevance of joins" in text and "threads joined" in text
    assert "what an offline detector makes of it" in text
    # the default is the most credible bots: the people's timeline, fitted behaviour, accounts shaped like theirs
    assert "settings: the people's own timeline (replay), behaviour fitted, population people, replies bank" in text
    with sqlite3.connect(db) as conn:
        bot_posts = conn.execute("SELECT count(*) FROM posts p JOIN gt_accounts g ON g.account_id = p.author_id").fetchone()[0]
        with_provenance = conn.execute("SELECT count(*) FROM gt_posts WHERE post_id IS NOT NULL").fetchone()[0]
        imported = [row[0] for row in conn.execute("SELECT external_id FROM threads WHERE external_id IS NOT NULL")]
        sources = [json.loads(e).get("source") for (e,) in conn.execute("SELECT extra FROM gt_posts WHERE post_id IS NOT NULL")]
        handles = [h for (h,) in conn.execute("SELECT a.handle FROM accounts a JOIN gt_accounts g ON g.account_id = a.id")]
        personas = {p for (p,) in conn.execute("SELECT persona FROM gt_accounts")}
    assert bot_posts >= 10 and with_provenance == bot_posts
    # accounts shaped like the people's: many, each posting about as often as people do, none named after its persona
    assert len(handles) >= 10 and not set(handles) & personas
    assert bot_posts <= 4 * len(handles)
    # real conversations: corpus threads of the window from the shipped corpus's sites, none of the seed threads
    assert len(imported) >= 100 and len({e.split(":")[0] for e in imported}) >= 5
    assert not any(e.startswith("seed") for e in imported)
    # the bots' words come from the reply bank (real people's replies and questions), never from the forum
    # (a greeting or a thank-you is the persona's own short formula, with no source)
    assert sum(s is not None for s in sources) >= 0.9 * bot_posts
    assert all(s["thread"] not in imported for s in sources if s)
    posts_line = next(line for line in text.splitlines() if line.strip().startswith("posts "))
    assert str(bot_posts) in posts_line
