"""The Rasa pool: stable routing, and a killed server replaced while its conversation goes on.

Real Rasa servers (the session's trained model), real processes killed with SIGKILL, the real shared tracker store.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import aiohttp
import pytest

from bots.dialogue.engine import DialogueEngine, StanceReader
from bots.personas import load_personas
from bots.dialogue.pool import RasaPool, ranking
from tests.bots.conftest import RASA_BIN
from tests.conftest import ROOT

SESSION = pytest.mark.asyncio(loop_scope="session")


def test_routing_is_stable_spreads_conversations_and_moves_only_a_lost_servers_share():
    senders = [f"persona{n % 7}:thread-{n}" for n in range(3000)]
    first = [ranking(s, 3)[0] for s in senders]
    assert first == [ranking(s, 3)[0] for s in senders], "the same sender always ranks the servers the same way"
    assert sorted(ranking("a:b", 5)) == list(range(5))
    shares = Counter(first)
    assert all(900 <= shares[slot] <= 1100 for slot in range(3)), shares  # each server about a third

    pool = RasaPool.external(["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"])
    before = {s: pool.member_for(s).slot for s in senders}
    pool.mark_down(pool.members[1], "a test")
    after = {s: pool.member_for(s).slot for s in senders}
    moved = {s for s in senders if before[s] != after[s]}
    assert moved == {s for s in senders if before[s] == 1}, "only the lost server's conversations move"
    assert all(after[s] == ranking(s, 3)[1] for s in moved), "each goes to its own second choice"
    assert Counter(after[s] for s in moved).keys() == {0, 2}, "and they spread over the others"
    pool.members[1].up = True
    assert {s: pool.member_for(s).slot for s in senders} == before, "and come back when it is up"


async def _tracker_texts(url: str, sender: str) -> list[str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/conversations/{sender}/tracker") as response:
            tracker = await response.json()
    return [e.get("text") for e in tracker["events"] if e.get("event") == "user"]


@SESSION
@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_killed_server_is_replaced_and_its_conversation_goes_on(rasa_model, action_stub, embedder, tmp_path):
    def answer(payload: dict) -> dict:  # the action's name as the act, as murmur's action server reports it
        action = payload["next_action"]
        return {"events": [], "responses": [{"text": f"({action})", "custom": {"act": action}}]}

    persona = next(p for p in load_personas(ROOT / "bots" / "personas"))
    echoed: list[str] = []
    pool = RasaPool.managed(rasa_model.model_path, count=2, action_url=action_stub.url, rasa_bin=RASA_BIN,
                            log_dir=tmp_path, ready_timeout_s=300, echo=echoed.append)
    with action_stub.responding(answer):
        async with pool:
            assert pool.tracker_store == tmp_path / f"trackers-{os.getpid()}.sqlite" and pool.tracker_store.exists()
            assert len({m.url for m in pool.members}) == 2
            engine = DialogueEngine(pool, StanceReader(embedder))
            conversation = "pool-test"
            sender = f"{persona.name}:{conversation}"
            home = pool.member_for(sender)
            other = next(m for m in pool.members if m is not home)

            first = await engine.respond(persona, conversation, "hello there, how do you brew your coffee?")
            assert first.act.startswith("action_") and home.turns == 1 and other.turns == 0

            os.killpg(home.server.pid, signal.SIGKILL)  # the conversation's server dies between two turns
            second = await engine.respond(persona, conversation, "I think a french press makes the best coffee")
            assert second.act.startswith("action_") and other.turns == 1
            assert not home.up and any("down" in line for line in echoed)
            # the surviving server went on from the conversation's whole history, read from the shared store
            assert await _tracker_texts(other.url, sender) == [
                "hello there, how do you brew your coffee?", "I think a french press makes the best coffee"]

            await pool.wait_up(300)  # the pool starts a replacement on its own
            assert home.up and home.restarts == 1 and any("back at" in line for line in echoed)
            assert pool.member_for(sender) is home, "the conversation returns to its own server"
            third = await engine.respond(persona, conversation, "thanks, bye")
            assert third.act.startswith("action_") and home.turns == 2
            assert (await _tracker_texts(home.url, sender))[-3:] == [
                "hello there, how do you brew your coffee?", "I think a french press makes the best coffee",
                "thanks, bye"]
            lines = pool.describe()
            assert len(lines) == 2 and "1 restarts" in lines[home.slot] and "up" in lines[other.slot]
            await engine.close()
        assert all(m.server.exit_code is None and m.server.pid is None for m in pool.members), "stopped on exit"
        assert not pool.tracker_store.exists(), "the shared trackers end with the pool"
