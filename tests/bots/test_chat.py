"""Chat with a persona over a web socket: real Rasa server, real trained model, real action server, real model.

The session's Rasa server sends its custom actions to the test action stub (tests/bots/conftest.py);
here the stub forwards them over HTTP to the chat app's own /webhook, as `murmur chat` wires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest
import pytest_asyncio

from bots.words.acts import ActLabels
from bots.dialogue.actions import GENERATOR
from bots.chat.app import CANCELLED, ENGINE, TURNS, create_chat_app
from bots.dialogue.engine import DialogueEngine, StanceReader
from bots.words.library import Library
from bots.personas import load_personas
from bots.words.selection import BankGenerator
from bots.words.splice import SpliceGenerator
from murmur.config import ChatSettings
from tests.bots.conftest import turns_held
from tests.conftest import ROOT, chromium, serve
from aiohttp import web

SESSION = pytest.mark.asyncio(loop_scope="session")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chat_app(corpus_source, _corpus_bank_embedding, embedder, rasa_server, action_stub):
    """`murmur chat` as it runs by default: the bank generator, its acts read by the session's Rasa NLU (while the
    bank may still be embedding, in its thread)."""
    personas = {p.name: p for p in load_personas(ROOT / "bots" / "personas")}
    settings = ChatSettings(max_chars=500)  # the shipped rate limits: a conversation at reading pace never meets them
    source, _ = corpus_source
    labels = await ActLabels.by_rasa(source.replies, rasa_server.url,
                                     cache_path=ROOT / "var" / "rasa-models" / "act-labels.sqlite")
    bank, _ = await asyncio.to_thread(_corpus_bank_embedding.result)
    bank.used.clear()
    app = create_chat_app(settings, personas, BankGenerator(bank, labels=labels))
    runner, url = await serve(app)
    session = aiohttp.ClientSession()

    async def forward(payload: dict) -> dict:
        async with session.post(url + "/webhook", json=payload) as response:
            return await response.json()

    engine = DialogueEngine(rasa_server.url, StanceReader(embedder))
    app[ENGINE].engine = engine
    with action_stub.responding(forward):  # only while this module's tests run
        yield app, url
    await engine.close()
    await session.close()
    await runner.cleanup()
    bank.used.clear()


async def _say(ws: aiohttp.ClientWebSocketResponse, text: str, timeout: float = 60) -> dict:
    """Send a message; return the persona's answer (after the optional typing frame)."""
    await ws.send_json({"text": text})
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.receive_json()
            if not frame.get("typing"):
                return frame


@SESSION
async def test_a_conversation_over_the_socket(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=espresso-nerd") as ws:
        await ws.send_json({"text": "hi there!"})
        assert await ws.receive_json() == {"typing": True}
        greeting = await ws.receive_json()
        assert greeting["from"] == "espresso-nerd" and greeting["act"] == "greet" and greeting["text"]
        answer = await _say(ws, "How do I stop my espresso shots from tasting sour?")
        assert answer["act"] == "answer" and answer["text"] and answer["text"] != greeting["text"]
        thanks = await _say(ws, "thanks a lot, that helps")
        assert thanks["act"] == "welcome"


def _fresh(app) -> set[int]:
    """Nothing marked used: a chat may say a reply another chat said, so only a clean slate shows this one's."""
    app[GENERATOR].bank.used.clear()
    return set()


def _claimed(app, before: set[int]) -> list:
    bank = app[GENERATOR].bank
    return [bank.replies[i] for i in sorted(bank.used - before)]


@SESSION
async def test_answers_are_whole_human_replies_on_the_topic_and_sources_are_real(chat_app):
    app, url = chat_app
    bank = app[GENERATOR].bank
    before = _fresh(app)
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=espresso-nerd") as ws:
        answer = await _say(ws, "my espresso shots taste sour, what should I change?")
        assert answer["act"] == "answer" and answer["text"]
        used = _claimed(app, before)
        assert len(used) == 1 and bank.site_of(used[0]) == "coffee"  # one reply, from the coffee community
        source = await _say(ws, "where can I read more about this?")
    assert source["act"] == "give_source"
    assert "coffee.stackexchange.com/q/" in source["text"] or "know" in source["text"]


@SESSION
async def test_in_a_chat_a_persona_never_answers_with_nothing(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=stargazer") as ws:
        for text in ("lol whatever, did you watch the football last night?", "what do you think about mypy strict mode?",
                     "my monstera has yellow leaves, too much water?"):
            reply = await _say(ws, text)
            assert reply["text"].strip(), (text, reply)


@SESSION
async def test_a_stance_has_a_side(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=py-mentor") as ws:
        against = await _say(ws, "honestly type hints are a waste of time for beginners")
    assert against["act"] == "disagree" and against["text"]  # py-mentor is for type hints for beginners


@SESSION
async def test_a_client_answering_at_once_is_not_rate_limited_at_the_shipped_limits(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=hop-chaser") as ws:
        for i in range(12):  # the next message as soon as the reply arrives: a burst, well inside 30 a minute
            reply = await _say(ws, f"what hops would you use for a pale ale, take {i}?")
            assert "error" not in reply, reply


@SESSION
@pytest.mark.parametrize("question", ["are you a bot?", "Am I talking to a real person right now?", "wait, is this an AI?"])
async def test_asked_sincerely_a_persona_says_it_is_a_bot(chat_app, question):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=trail-miles") as ws:
        reply = await _say(ws, question)
    assert reply["act"] == "disclose"
    assert "bot" in reply["text"].lower() and "not a person" in reply["text"].lower()


@SESSION
async def test_bad_frames_get_an_error_and_the_connection_stays_open(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=stargazer") as ws:
        for frame, words in [("not json", "not JSON"), (json.dumps({"txt": "hi"}), "text: missing"),
                             (json.dumps({"text": 5}), "non-empty string"), (json.dumps({"text": "  "}), "non-empty string"),
                             (json.dumps({"text": "x" * 501}), "over the limit of 500"), (json.dumps([1]), "text: missing")]:
            await ws.send_str(frame)
            error = await ws.receive_json()
            assert words in error["error"], (frame, error)
        await ws.send_bytes(b"\x00\x01")
        assert "binary" in (await ws.receive_json())["error"]
        assert not ws.closed
        reply = await _say(ws, "hello!")  # still usable
        assert reply["from"] == "stargazer"


@SESSION
async def test_unknown_persona_is_refused_before_the_upgrade(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.get(url + "/ws/chat?persona=nobody") as response:
        assert response.status == 404
        assert "unknown persona 'nobody'" in (await response.json())["error"]


@SESSION
async def test_floods_are_rate_limited(rasa_server, embedder):
    personas = {p.name: p for p in load_personas(ROOT / "bots" / "personas")}
    app = create_chat_app(ChatSettings(messages_per_minute=1, message_burst=2), personas,
                          SpliceGenerator(Library.from_seed(embedder)))
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=stargazer") as ws:
            errors = []
            for i in range(4):
                await ws.send_json({"text": f"message {i}"})
            async with asyncio.timeout(10):
                while len(errors) < 2:
                    frame = await ws.receive_json()
                    if "error" in frame and "too many" in frame["error"]:
                        errors.append(frame)
            assert not ws.closed
    finally:
        await runner.cleanup()


@SESSION
async def test_a_thousand_concurrent_clients_are_all_answered(chat_app):
    """A class of students at once: every socket opens, every greeting is answered, nothing errs or times out."""
    _, url = chat_app
    names = ["espresso-nerd", "sourdough-sam", "city-cyclist", "plant-parent", "stargazer"]
    greetings = ["hi there!", "hello everyone", "hey, good morning", "hi, first time here"]

    async def client(i: int, session: aiohttp.ClientSession) -> dict:
        async with session.ws_connect(f"{url}/ws/chat?persona={names[i % len(names)]}") as ws:
            return await _say(ws, greetings[i % len(greetings)], timeout=300)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        replies = await asyncio.gather(*(client(i, session) for i in range(1000)))
    assert all("error" not in r and r.get("text") and r["from"] == names[i % len(names)] for i, r in enumerate(replies))
    assert {r["act"] for r in replies} <= {"greet", "welcome", "answer", "ask_follow_up", "stay_silent", "agree",
                                           "disagree", "give_source"}


@SESSION
async def test_a_client_that_leaves_mid_reply_costs_nothing(chat_app):
    app, url = chat_app
    cancelled_before = len(app[CANCELLED])
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            ws = await session.ws_connect(url + "/ws/chat?persona=hop-chaser")
            await ws.send_json({"text": "What hops should I use for a hazy IPA?"})
            assert await ws.receive_json() == {"typing": True}  # the turn has started
            await ws.close()  # gone before the reply
        async with asyncio.timeout(5):  # no turn keeps running for a client that left
            while app[TURNS]:
                await asyncio.sleep(0.01)
        assert len(app[CANCELLED]) - cancelled_before == 5
        async with session.ws_connect(url + "/ws/chat?persona=hop-chaser") as ws:
            reply = await _say(ws, "hello")
    assert reply["from"] == "hop-chaser"


@SESSION
@pytest.mark.browser
async def test_the_chat_page_in_a_real_browser(chat_app):
    _, url = chat_app
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(url + "/?persona=plant-parent")
        await page.wait_for_selector('body[data-connected="1"]', timeout=10_000)
        assert await page.input_value("#persona") == "plant-parent"
        await page.fill("#text", "are you a bot?")
        await page.click("#send button")
        reply = page.locator("#log li.bot").first
        await reply.wait_for(timeout=60_000)
        assert "bot" in (await reply.inner_text()).lower()
        assert await page.locator("#log li.me").inner_text() == "are you a bot?"


# -- Rasa's REST channel ----------------------------------------------------------------------------------------


async def _rest(session: aiohttp.ClientSession, url: str, body: object, persona: str | None = "trail-miles"):
    query = f"?persona={persona}" if persona else ""
    async with session.post(f"{url}/webhooks/rest/webhook{query}", json=body) as response:
        return response.status, await response.json()


@SESSION
async def test_rasas_rest_channel_answers_in_its_own_shape_and_keeps_each_senders_conversation(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session:
        status, first = await _rest(session, url, {"sender": "rest-client-1", "message": "hi there!"})
        assert status == 200 and first and all(set(m) == {"recipient_id", "text"} for m in first)
        assert first[0]["recipient_id"] == "rest-client-1" and first[0]["text"]
        status, answer = await _rest(session, url, {"sender": "rest-client-1", "message": "are you a bot?"})
        assert status == 200 and "bot" in answer[0]["text"].lower() and "not a person" in answer[0]["text"].lower()
        # the persona may come in metadata, as clients built for Rasa send it
        status, by_metadata = await _rest(session, url, {"sender": "rest-client-2", "message": "hello",
                                                         "metadata": {"persona": "stargazer"}}, persona=None)
        assert status == 200 and by_metadata[0]["text"]


@SESSION
@pytest.mark.parametrize("body, status, words", [
    ("not json", 400, "not JSON"),
    ({"message": "hi"}, 400, "sender"),
    ({"sender": "x", "message": "   "}, 400, "message"),
    ({"sender": "x", "message": "hi", "metadata": []}, 400, "metadata"),
])
async def test_rasas_rest_channel_refuses_a_bad_request_naming_the_field(chat_app, body, status, words):
    _, url = chat_app
    async with aiohttp.ClientSession() as session:
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        async with session.post(f"{url}/webhooks/rest/webhook?persona=trail-miles", **kwargs) as response:
            assert response.status == status and words in (await response.json())["error"]
        status, error = await _rest(session, url, {"sender": "x", "message": "hi"}, persona="nobody")
        assert status == 404 and "unknown persona" in error["error"]


async def test_rasas_rest_channel_keeps_the_chat_rate(embedder):
    """One message a minute after a burst of one: the second is refused before any work is done."""
    personas = {p.name: p for p in load_personas(ROOT / "bots" / "personas")}
    app = create_chat_app(ChatSettings(messages_per_minute=1, message_burst=1), personas,
                          SpliceGenerator(Library.from_seed(embedder)))
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            status, _ = await _rest(session, url, {"sender": "eager", "message": "hi"})
            assert status == 503  # let through by the limiter (the engine is not set in this app)
            async with session.post(f"{url}/webhooks/rest/webhook?persona=trail-miles",
                                    json={"sender": "eager", "message": "hi again"}) as response:
                assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
            status, _ = await _rest(session, url, {"sender": "someone-else", "message": "hi"})
            assert status == 503, "the rate is per sender"
    finally:
        await runner.cleanup()


@SESSION
async def test_a_rest_client_that_hangs_up_cancels_its_turn(chat_app):
    from bots.chat.rest import REST_BUSY

    app, url = chat_app
    before = len(app[CANCELLED])
    async with turns_held(app[ENGINE].engine):  # the turn waits, mid-way, while the client hangs up
        async with aiohttp.ClientSession() as session:
            request = asyncio.ensure_future(session.post(f"{url}/webhooks/rest/webhook?persona=stargazer",
                                                         json={"sender": "hangs-up", "message": "what telescope?"}))
            async with asyncio.timeout(10):
                while "stargazer:hangs-up" not in app[REST_BUSY]:
                    await asyncio.sleep(0.01)
            request.cancel()  # the client closes its connection mid-turn
            with contextlib.suppress(asyncio.CancelledError):
                await request
        async with asyncio.timeout(10):
            while len(app[CANCELLED]) == before:
                await asyncio.sleep(0.01)
    assert app[CANCELLED][-1] == "rest-hangs-up" and "stargazer:hangs-up" not in app[REST_BUSY]


# -- Rasa's socket.io channel (what the rasa-webchat widget speaks), through the python-socketio client ----------


async def _socketio_client(url: str, persona: str | None = "trail-miles"):
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    inbox: asyncio.Queue = asyncio.Queue()
    for event in ("session_confirm", "bot_uttered", "error"):
        client.on(event, (lambda name: lambda data: inbox.put_nowait((name, data)))(event))
    await client.connect(url + (f"?persona={persona}" if persona else ""), transports=["websocket"],
                         socketio_path="socket.io")
    return client, inbox


async def _next(inbox: asyncio.Queue, timeout: float = 60) -> tuple[str, object]:
    async with asyncio.timeout(timeout):
        return await inbox.get()


@SESSION
async def test_rasas_socketio_channel_confirms_the_session_and_answers_as_rasa_does(chat_app):
    _, url = chat_app
    client, inbox = await _socketio_client(url)
    try:
        await client.emit("session_request", {"session_id": None})
        kind, session = await _next(inbox)
        assert kind == "session_confirm" and isinstance(session, str) and session
        await client.emit("user_uttered", {"message": "hi there!", "session_id": session, "customData": {}})
        kind, reply = await _next(inbox)
        assert kind == "bot_uttered" and reply["text"]
        await client.emit("user_uttered", {"message": "are you a bot?", "session_id": session})
        kind, reply = await _next(inbox)
        assert kind == "bot_uttered" and "bot" in reply["text"].lower() and "not a person" in reply["text"].lower()
        # a bad message gets an error and the connection stays; the persona may come in customData
        await client.emit("user_uttered", {"message": "   ", "session_id": session})
        assert await _next(inbox) == ("error", {"error": "message: must be a non-empty string"})
        await client.emit("user_uttered", {"message": "hello", "session_id": session,
                                           "customData": {"persona": "stargazer"}})
        kind, reply = await _next(inbox)
        assert kind == "bot_uttered" and reply["text"] and client.connected
    finally:
        await client.disconnect()


@SESSION
async def test_rasas_socketio_channel_keeps_a_session_across_connections_and_refuses_unknown_personas(chat_app):
    import socketio

    _, url = chat_app
    first, inbox = await _socketio_client(url)
    await first.emit("session_request", {"session_id": "kept-session-1"})
    assert await _next(inbox) == ("session_confirm", "kept-session-1")  # a reloaded page keeps its conversation
    await first.disconnect()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await _socketio_client(url, persona="nobody")


@SESSION
async def test_a_socketio_client_that_leaves_mid_reply_cancels_its_turn(chat_app):
    from bots.chat.socket_io import SOCKETIO

    app, url = chat_app
    before = len(app[CANCELLED])
    async with turns_held(app[ENGINE].engine):  # the turn waits, mid-way, while the client leaves
        client, _ = await _socketio_client(url, persona="stargazer")
        await client.emit("user_uttered", {"message": "what telescope for a beginner?", "session_id": "leaving"})
        async with asyncio.timeout(10):
            while not any(not turn.done() for turn in app[SOCKETIO].turns.values()):
                await asyncio.sleep(0.01)
        await client.disconnect()
        async with asyncio.timeout(10):
            while len(app[CANCELLED]) == before:
                await asyncio.sleep(0.01)
    assert len(app[CANCELLED]) == before + 1 and not app[SOCKETIO].turns


# -- Rasa's own web widget (npm's rasa-webchat, fetched by `make webchat`) in a real browser ---------------------


@SESSION
@pytest.mark.browser
async def test_rasas_webchat_widget_in_a_real_browser_talks_to_a_persona_that_says_it_is_a_bot(chat_app):
    from playwright.async_api import expect

    app, url = chat_app
    bank = app[GENERATOR].bank
    async with chromium() as browser:
        page = await browser.new_page()
        page.set_default_timeout(60_000)
        loaded = await page.goto(url + "/webchat?persona=espresso-nerd")
        assert loaded.status == 200, await loaded.text()  # 503: the widget is not installed (`make webchat`)
        assert "talking to a bot" in await page.inner_text("#disclosure")
        await page.click(".rw-launcher")  # the widget opens; its header and the persona's first words say "bot"
        assert "a bot" in (await page.inner_text(".rw-header")).lower()
        answers = page.locator(".rw-response .rw-message-text")
        await expect(answers).to_have_count(1)
        assert "I'm a bot" in await answers.nth(0).inner_text()

        before = _fresh(app)
        await page.fill(".rw-new-message", "my espresso shots taste sour, what should I change?")
        await page.keyboard.press("Enter")
        await expect(answers).not_to_have_count(1)
        await page.fill(".rw-new-message", "wait, are you a bot?")
        await page.keyboard.press("Enter")
        await expect(answers.last).to_contain_text("not a person", timeout=30_000)  # after every bubble of the answer
        # between the two disclosures, in one bubble per paragraph: the one bank reply the question's turn chose
        used = _claimed(app, before)
        assert len(used) == 1 and bank.site_of(used[0]) == "coffee"
        shown = " ".join((await answers.all_inner_texts())[1:-1]).lower().split()
        assert shown and len(set(shown) & set(used[0].text.lower().split())) >= 0.8 * len(set(shown)), shown
        assert await page.locator(".rw-client .rw-message-text").all_inner_texts() == [
            "my espresso shots taste sour, what should I change?", "wait, are you a bot?"]


async def test_the_webchat_page_refuses_an_unknown_persona_and_says_how_to_install_a_missing_widget(tmp_path):
    from bots.chat.webchat_page import add_webchat_page

    personas = {p.name: p for p in load_personas(ROOT / "bots" / "personas")}
    for bundle, path, status, words in ((ROOT / "bots" / "chat" / "static" / "webchat" / "rasa-webchat.js",
                                         "/webchat?persona=nobody", 404, "persona: unknown persona 'nobody'"),
                                        (tmp_path / "absent.js", "/webchat?persona=stargazer", 503, "make webchat")):
        app = web.Application()
        add_webchat_page(app, personas, bundle)
        runner, url = await serve(app)
        try:
            async with aiohttp.ClientSession() as session, session.get(url + path) as response:
                assert response.status == status and words in await response.text()
        finally:
            await runner.cleanup()


GREETING_FIRST = ("hi there", "how long should I rest coffee beans after roasting before brewing espresso?")


def _answered_on_topic(app, before: set[int]) -> bool:
    """One bank reply was claimed for the question, from the coffee community (not a 'nothing to add')."""
    used = _claimed(app, before)
    return len(used) == 1 and app[GENERATOR].bank.site_of(used[0]) == "coffee"


@SESSION
async def test_a_greeting_first_then_a_question_is_answered_on_topic_over_the_web_socket(chat_app):
    app, url = chat_app
    before = _fresh(app)
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=espresso-nerd") as ws:
        greeting = await _say(ws, GREETING_FIRST[0])
        answer = await _say(ws, GREETING_FIRST[1])
    assert greeting["act"] == "greet" and answer["act"] == "answer", (greeting, answer)
    assert _answered_on_topic(app, before), answer


@SESSION
async def test_a_greeting_first_then_a_question_is_answered_on_topic_over_rest(chat_app):
    app, url = chat_app
    before = _fresh(app)
    async with aiohttp.ClientSession() as session:
        for text in GREETING_FIRST:
            status, answer = await _rest(session, url, {"sender": "greets-first", "message": text}, persona="espresso-nerd")
            assert status == 200 and answer, answer
    assert _answered_on_topic(app, before), answer


@SESSION
async def test_a_greeting_first_then_a_question_is_answered_on_topic_over_socketio(chat_app):
    app, url = chat_app
    before = _fresh(app)
    client, inbox = await _socketio_client(url, persona="espresso-nerd")
    try:
        await client.emit("session_request", {"session_id": None})
        _, session = await _next(inbox)
        for text in GREETING_FIRST:
            await client.emit("user_uttered", {"message": text, "session_id": session})
            kind, reply = await _next(inbox)
            assert kind == "bot_uttered" and reply["text"], reply
            while not inbox.empty():  # a reply in several paragraphs comes as several messages
                await _next(inbox)
    finally:
        await client.disconnect()
    assert _answered_on_topic(app, before), reply


@SESSION
async def test_an_opinion_question_gets_the_personas_take_not_a_source(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=espresso-nerd") as ws:
        await _say(ws, "hello!")
        take = await _say(ws, "what do you think about decaf?")
    assert take["act"] == "answer", take


@SESSION
async def test_a_source_request_on_a_topic_the_bank_does_not_hold_says_so(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws/chat?persona=stargazer") as ws:
        await _say(ws, "which eyepiece should I use to see the rings of Saturn through a small refractor?")
        source = await _say(ws, "do you have a source for that?")
    assert source["act"] == "give_source" and "stackexchange.com" not in source["text"], source


@SESSION
async def test_the_chat_marks_personas_the_bank_cannot_feed(chat_app):
    _, url = chat_app
    async with aiohttp.ClientSession() as session, session.get(url + "/api/personas") as response:
        personas = {p["name"]: p for p in (await response.json())["personas"]}
    assert personas["espresso-nerd"]["talks"] and "note" not in personas["espresso-nerd"]
    mute = personas["stargazer"]
    assert not mute["talks"] and "replies.bank" in mute["note"] and "telescope" in mute["note"].lower()
