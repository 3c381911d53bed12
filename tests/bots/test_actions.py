"""murmur's action server speaks Rasa's action-server protocol (tested over real HTTP)."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bots.dialogue.actions import add_action_server
from bots.words.library import Library
from bots.personas import load_personas
from bots.words.splice import SpliceGenerator
from tests.conftest import ROOT, serve


@pytest.fixture
async def action_server(embedder):
    personas = {p.name: p for p in load_personas(ROOT / "bots" / "personas")}
    app = web.Application()
    add_action_server(app, personas, SpliceGenerator(Library.from_seed(embedder)))
    runner, url = await serve(app)
    async with aiohttp.ClientSession() as session:
        yield session, url + "/webhook"
    await runner.cleanup()


def _payload(action: str, persona: str = "hop-chaser", text: str = "Should I dry hop during fermentation?") -> dict:
    return {
        "next_action": action, "sender_id": f"{persona}:t1", "version": "3.6.21", "domain": {},
        "tracker": {
            "sender_id": f"{persona}:t1", "slots": {"stance": "agree"},
            "latest_message": {"text": text, "intent": {"name": "ask_question", "confidence": 0.9}, "entities": [],
                               "metadata": {"persona": persona, "conversation": "t1"}},
            "events": [{"event": "action", "name": "action_listen"},
                       {"event": "user", "text": "hello", "metadata": {"persona": persona}},
                       {"event": "bot", "text": "Hey there!"},
                       {"event": "user", "text": text, "metadata": {"persona": persona}}],
        },
    }


async def test_an_action_returns_events_and_a_response_with_its_act(action_server):
    session, url = action_server
    async with session.post(url, json=_payload("action_answer")) as response:
        assert response.status == 200
        body = await response.json()
    assert body["events"] == []
    [message] = body["responses"]
    assert message["custom"]["act"] == "answer" and message["text"]
    assert message["text"] != "Hey there!"


async def test_stay_silent_sends_no_text_and_disclose_tells_the_truth(action_server):
    session, url = action_server
    async with session.post(url, json=_payload("action_stay_silent")) as response:
        [silent] = (await response.json())["responses"]
        assert "text" not in silent and silent["custom"]["act"] == "stay_silent"
    async with session.post(url, json=_payload("action_disclose", text="wait, are you a bot?")) as response:
        text = (await response.json())["responses"][0]["text"]
    assert "I'm a bot" in text


@pytest.mark.parametrize("body, status, words", [
    (b"{nope", 400, "not valid JSON"),
    (b"[1]", 400, "JSON object"),
    (b'{"next_action": "action_answer"}', 400, "tracker"),
])
async def test_malformed_requests_are_rejected(action_server, body, status, words):
    session, url = action_server
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
        assert response.status == status
        assert words in (await response.json())["error"]


async def test_unknown_actions_and_personas_are_rejected_with_the_action_name(action_server):
    session, url = action_server
    async with session.post(url, json=_payload("action_dance")) as response:
        body = await response.json()
        assert response.status == 400 and body["action_name"] == "action_dance" and "murmur serves" in body["error"]
    async with session.post(url, json=_payload("action_answer", persona="ghost")) as response:
        body = await response.json()
        assert response.status == 400 and "unknown persona 'ghost'" in body["error"]


def test_an_intent_payload_a_widget_sends_is_not_part_of_the_conversation():
    from bots.dialogue.actions import conversation_from

    tracker = {"events": [{"event": "user", "text": "/ask_if_bot"},
                          {"event": "bot", "text": "Yes. I'm a bot."},
                          {"event": "user", "text": '/inform{"grind": "fine"}'},
                          {"event": "user", "text": "/ that slash starts a sentence, not an intent"},
                          {"event": "user", "text": "my shots taste sour"}]}
    assert [(m.author, m.text) for m in conversation_from(tracker, "espresso-nerd")] == [
        ("espresso-nerd", "Yes. I'm a bot."), ("user", "/ that slash starts a sentence, not an intent"),
        ("user", "my shots taste sour")]
