"""The shared Rasa model: training only when its inputs change, intents on phrasings it never saw,
the dialogue rules (disclosure above all), and the server murmur starts and stops."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from bots.errors import RasaError
from bots.dialogue.server import RasaServer
from bots.dialogue.training import (RASA_DIR, config_with_epochs, fingerprint, model_name, rasa_environment,
                           rasa_version, train_model)
from tests.bots.conftest import RASA_BIN, TEST_EPOCHS, ActionStub, echo_action

pytestmark = pytest.mark.timeout(900)   # the first test to use the model pays for training and the server start

SESSION = pytest.mark.asyncio(loop_scope="session")

# Phrasings written for these tests, none of them in data/nlu.yml (checked below).
HELD_OUT: dict[str, list[str]] = {
    "greet": ["hello everybody, first time posting here", "hey all, happy friday", "good morning fellow runners",
              "hi there folks", "hey everyone, Sam here"],
    "ask_question": ["what's the best flour for a beginner sourdough loaf?",
                     "how do I know if my espresso is under extracted?",
                     "which eyepiece gives the best view of jupiter?",
                     "why does my keyboard double type on some keys?", "how often do you replace trail shoes?"],
    "share_opinion": ["I honestly think oat milk steams better than dairy",
                      "in my experience cast iron is overrated for baking bread",
                      "imo tubeless tires are the best upgrade for a gravel bike",
                      "I reckon birding apps make people lazy about learning calls",
                      "python packaging is still a mess in my view"],
    "agree": ["yes, same thing happened to me", "totally, you're right on that", "absolutely agree with you",
              "yep, that's spot on", "couldn't have said it better"],
    "disagree": ["nah, I really don't think so", "I disagree, that's not what happens at all",
                 "that's not true in my experience", "no, you've got it wrong",
                 "I'm going to have to push back on that one"],
    "ask_for_source": ["do you have a link for that?", "where did you hear that?", "source for that claim?",
                       "is there a study that shows that?", "can you share a reference?"],
    "thank": ["thanks so much, that helped", "thank you, really useful", "cheers, much appreciated",
              "thanks for explaining that", "ty, that worked"],
    "off_topic": ["anyone know a good plumber around here?", "did you guys see the football score?",
                  "my car broke down again today", "what's everyone doing for the holidays?",
                  "who is voting in the election tomorrow"],
    "ask_if_bot": ["are you a real human?", "is this a bot replying to me?", "am I chatting with an AI right now?",
                   "is this a real person typing?", "are you an automated bot?",
                   "honestly, are you a person or a program?", "is this account run by AI?"],
    "goodbye": ["bye everyone, take care", "see you all later", "ok, gotta head out now", "good night all",
                "catch you all next time"],
}

# What the persona does for each intent (share_opinion depends on its stance, see below).
ACTION_FOR = {"greet": "action_greet", "ask_question": "action_answer", "agree": "action_ask_follow_up",
              "disagree": "action_disagree", "ask_for_source": "action_give_source", "thank": "action_welcome",
              "off_topic": "action_stay_silent", "ask_if_bot": "action_disclose", "goodbye": "action_goodbye"}
OPINION_FOR_STANCE = {"agree": "action_agree", "disagree": "action_disagree", "neutral": "action_answer"}


def _training_examples() -> dict[str, list[str]]:
    data = yaml.safe_load((RASA_DIR / "data" / "nlu.yml").read_text(encoding="utf-8"))
    return {block["intent"]: [line[2:].strip() for line in block["examples"].splitlines() if line.strip()]
            for block in data["nlu"] if "intent" in block}


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


# --- the project itself -------------------------------------------------------------------------


def test_every_intent_has_forty_examples_and_held_out_phrasings_are_new() -> None:
    examples = _training_examples()
    domain = yaml.safe_load((RASA_DIR / "domain.yml").read_text(encoding="utf-8"))
    assert set(examples) == set(domain["intents"]) == set(HELD_OUT)
    assert all(len(texts) >= 40 for texts in examples.values()), {k: len(v) for k, v in examples.items()}
    seen = {_normal(t) for texts in examples.values() for t in texts}
    assert not [t for texts in HELD_OUT.values() for t in texts if _normal(t) in seen]
    assert all(len(texts) >= 3 for texts in HELD_OUT.values())


def test_every_action_is_served_by_murmur() -> None:
    domain = yaml.safe_load((RASA_DIR / "domain.yml").read_text(encoding="utf-8"))
    assert set(domain["actions"]) == set(ACTION_FOR.values()) | set(OPINION_FOR_STANCE.values())
    assert not domain.get("responses"), "every reply is written by murmur's action server"


@pytest.mark.slow
def test_rasa_finds_nothing_to_warn_about_in_the_project() -> None:
    done = subprocess.run([str(RASA_BIN), "data", "validate", "--fail-on-warnings", "--data", "data", "--domain",
                           "domain.yml", "--config", "config.yml"], cwd=RASA_DIR, env=rasa_environment(),
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "UserWarning" not in output and "No story structure conflicts found" in output, output[-3000:]


# --- training -----------------------------------------------------------------------------------


def test_fingerprint_follows_data_epochs_and_rasa_release(tmp_path: Path) -> None:
    project = tmp_path / "rasa"
    shutil.copytree(RASA_DIR, project)
    base = fingerprint(project, epochs=30, rasa_version="3.6.21")
    assert base == fingerprint(project, epochs=30, rasa_version="3.6.21")
    assert base != fingerprint(project, epochs=31, rasa_version="3.6.21")
    assert base != fingerprint(project, epochs=30, rasa_version="3.6.20")

    nlu = project / "data" / "nlu.yml"
    nlu.write_text(nlu.read_text(encoding="utf-8").replace("- hiya\n", "- hiya there\n"), encoding="utf-8")
    changed = fingerprint(project, epochs=30, rasa_version="3.6.21")
    assert changed != base
    (project / "data" / "more.yml").write_text('version: "3.1"\n', encoding="utf-8")
    assert fingerprint(project, epochs=30, rasa_version="3.6.21") != changed
    (project / "data" / "more.yml").rename(project / "data" / "renamed.yml")
    assert fingerprint(project, epochs=30, rasa_version="3.6.21") not in {base, changed}


def test_fingerprint_ignores_what_rasa_leaves_in_the_folder(tmp_path: Path) -> None:
    project = tmp_path / "rasa"
    shutil.copytree(RASA_DIR, project)
    base = fingerprint(project, epochs=30, rasa_version="3.6.21")
    for leftover in ("models/old.tar.gz", "results/intent_report.json", ".rasa/cache/x", "data/__pycache__/x.pyc"):
        (project / leftover).parent.mkdir(parents=True, exist_ok=True)
        (project / leftover).write_bytes(b"x")
    assert fingerprint(project, epochs=30, rasa_version="3.6.21") == base


def test_config_gets_the_epochs_for_diet_and_ted() -> None:
    config = config_with_epochs(RASA_DIR / "config.yml", 7)
    epochs = {c["name"]: c.get("epochs") for c in config["pipeline"] + config["policies"]}
    assert epochs["DIETClassifier"] == epochs["TEDPolicy"] == 7
    names = [c["name"] for c in config["pipeline"]]
    assert "SpacyNLP" not in names and names[0] == "WhitespaceTokenizer"


def test_no_rasa_environment_says_make_setup(tmp_path: Path) -> None:
    with pytest.raises(RasaError, match=r"run `make setup`"):
        train_model(RASA_DIR, tmp_path, epochs=1, rasa_bin=tmp_path / "no-venv" / "bin" / "rasa")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_training_twice_skips_the_second_time(rasa_model) -> None:
    assert rasa_model.trained and rasa_model.seconds > 0
    assert rasa_model.model_path.name == model_name(rasa_model.fingerprint) + ".tar.gz"
    assert rasa_model.model_path.stat().st_size > 100_000
    again = train_model(RASA_DIR, rasa_model.model_path.parent, epochs=TEST_EPOCHS, rasa_bin=RASA_BIN)
    assert (again.model_path, again.trained, again.seconds) == (rasa_model.model_path, False, 0.0)
    assert again.fingerprint == fingerprint(RASA_DIR, epochs=TEST_EPOCHS, rasa_version=rasa_version(RASA_BIN))


@pytest.mark.slow
def test_failed_training_names_its_log_and_leaves_no_model(tmp_path: Path) -> None:
    project = tmp_path / "rasa"
    shutil.copytree(RASA_DIR, project)
    rules = project / "data" / "rules.yml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("action: action_welcome", "action: action_nowhere"),
                     encoding="utf-8")
    out = tmp_path / "models"
    with pytest.raises(RasaError, match=r"rasa train exited with \d+; see .*\.log, which ends:\n") as caught:
        train_model(project, out, epochs=1, rasa_bin=RASA_BIN)
    assert "action_nowhere" in str(caught.value)
    assert not list(out.glob("*.tar.gz")) and not list(out.glob(".murmur-*"))


# --- the model on phrasings it never saw ----------------------------------------------------------


@pytest.mark.slow
@SESSION
async def test_intents_on_held_out_phrasings(rasa_server: RasaServer) -> None:
    misses = []
    async with aiohttp.ClientSession() as http:
        for intent, texts in HELD_OUT.items():
            for text in texts:
                async with http.post(f"{rasa_server.url}/model/parse", json={"text": text}) as response:
                    assert response.status == 200
                    parsed = await response.json()
                if parsed["intent"]["name"] != intent:
                    misses.append((intent, text, parsed["intent"]["name"], round(parsed["intent"]["confidence"], 2)))
    total = sum(len(texts) for texts in HELD_OUT.values())
    accuracy = 1 - len(misses) / total
    assert accuracy >= 0.85, f"accuracy {accuracy:.2f}; misses: {misses}"
    assert not [m for m in misses if m[0] == "ask_if_bot"], "every sincere 'are you a bot?' must be recognised"


# --- the dialogue: which action follows which message ----------------------------------------------


@pytest.fixture
def echo_stub(action_stub: ActionStub) -> Iterator[ActionStub]:
    """The session's action stub answering with each action's name, whatever other tests set it to."""
    with action_stub.responding(echo_action):
        yield action_stub


async def _turn(http: aiohttp.ClientSession, server: RasaServer, sender: str, message: str,
                stance: str = "neutral") -> list[str]:
    """One turn as the DialogueEngine takes it: set the stance, send the message; the actions Rasa ran."""
    async with http.post(f"{server.url}/conversations/{sender}/tracker/events",
                         json=[{"event": "slot", "name": "stance", "value": stance}]) as response:
        assert response.status == 200, await response.text()
    async with http.post(f"{server.url}/webhooks/rest/webhook", json={"sender": sender, "message": message}) as response:
        assert response.status == 200, await response.text()
        return [m["text"] for m in await response.json() if m.get("text")]


@pytest.mark.slow
@SESSION
async def test_each_intent_gets_its_action(rasa_server: RasaServer, echo_stub: ActionStub) -> None:
    async with aiohttp.ClientSession() as http:
        for intent, action in ACTION_FOR.items():
            assert await _turn(http, rasa_server, f"rules-{intent}-{uuid.uuid4().hex}", f"/{intent}") == [action]
        for stance, action in OPINION_FOR_STANCE.items():
            sender = f"opinion-{stance}-{uuid.uuid4().hex}"
            assert await _turn(http, rasa_server, sender, "/share_opinion", stance) == [action]
            assert echo_stub.actions_for(sender) == [action]
            tracker_slots = echo_stub.calls[-1]["tracker"]["slots"]
            assert tracker_slots["stance"] == stance


@pytest.mark.slow
@SESSION
async def test_stance_changes_within_one_conversation(rasa_server: RasaServer, echo_stub: ActionStub) -> None:
    sender = f"stances-{uuid.uuid4().hex}"
    async with aiohttp.ClientSession() as http:
        turns = [await _turn(http, rasa_server, sender, "/share_opinion", stance)
                 for stance in ("agree", "disagree", "neutral", "agree", "agree", "disagree")]
    assert turns == [[OPINION_FOR_STANCE[s]] for s in ("agree", "disagree", "neutral", "agree", "agree", "disagree")]


@pytest.mark.slow
@SESSION
async def test_asked_whether_it_is_a_bot_it_discloses_whatever_came_before(rasa_server: RasaServer,
                                                                          echo_stub: ActionStub) -> None:
    openings = [[], ["/greet"], ["/share_opinion", "/disagree"], ["/off_topic"], ["/ask_question", "/thank"],
                ["/ask_if_bot", "/agree"], ["/goodbye"]]
    async with aiohttp.ClientSession() as http:
        for stance in ("agree", "disagree", "neutral"):
            for opening in openings:
                sender = f"disclose-{uuid.uuid4().hex}"
                for message in opening:
                    await _turn(http, rasa_server, sender, message, stance)
                for question in HELD_OUT["ask_if_bot"][:3] + ["are you a bot?"]:
                    assert await _turn(http, rasa_server, sender, question, stance) == ["action_disclose"], \
                        (stance, opening, question)


# --- the server -----------------------------------------------------------------------------------


@pytest.mark.slow
@SESSION
async def test_server_is_up_on_loopback_with_the_model(rasa_server: RasaServer, rasa_model) -> None:
    assert rasa_server.url.startswith("http://127.0.0.1:") and rasa_server.managed
    assert rasa_server.model_file == rasa_model.model_path.name
    assert rasa_server.log_path.exists()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{rasa_server.url}/status") as response:
            assert (await response.json())["model_file"] == rasa_model.model_path.name


@pytest.mark.slow
@SESSION
async def test_external_server_is_waited_for_but_never_started(rasa_server: RasaServer) -> None:
    async with RasaServer.external(rasa_server.url + "/") as external:
        assert external.url == rasa_server.url and not external.managed
        assert external.model_file == rasa_server.model_file
    async with aiohttp.ClientSession() as http:   # leaving the context did not stop the real one
        async with http.get(f"{rasa_server.url}/status") as response:
            assert response.status == 200


async def test_external_server_that_is_not_there_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RasaError, match=r"was not ready after 1 s .*rasa\.url"):
        async with RasaServer.external(f"http://127.0.0.1:{port}", ready_timeout_s=1):
            pass


async def test_missing_model_is_refused_before_starting(tmp_path: Path) -> None:
    server = RasaServer(tmp_path / "nothing.tar.gz", action_url="http://127.0.0.1:9/webhook", rasa_bin=RASA_BIN)
    with pytest.raises(RasaError, match=r"nothing\.tar\.gz: no such model file; train one with `murmur train`"):
        async with server:
            pass
    assert not server.log_path.exists()


async def test_missing_rasa_is_refused_before_starting(tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"x")
    with pytest.raises(RasaError, match=r"run `make setup`"):
        async with RasaServer(model, action_url="http://127.0.0.1:9/webhook", rasa_bin=tmp_path / "rasa"):
            pass


@pytest.mark.slow
async def test_bad_model_file_is_a_clear_error_and_the_server_is_stopped(tmp_path: Path) -> None:
    model = tmp_path / "broken.tar.gz"
    model.write_bytes(b"this is not a Rasa model")
    server = RasaServer(model, action_url="http://127.0.0.1:9/webhook", rasa_bin=RASA_BIN,
                        log_path=tmp_path / "server.log")
    with pytest.raises(RasaError, match=r"has no model loaded .*see .*server\.log, which ends:\n") as caught:
        async with server:
            pass
    assert "No valid model found" in str(caught.value)
    assert server._process is None
    with socket.socket() as probe:     # the port is free again: the process is gone
        probe.bind(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))


@pytest.mark.slow
async def test_a_server_not_ready_in_time_is_stopped(rasa_model, tmp_path: Path) -> None:
    server = RasaServer(rasa_model.model_path, action_url="http://127.0.0.1:9/webhook", rasa_bin=RASA_BIN,
                        log_path=tmp_path / "server.log", ready_timeout_s=2)
    with pytest.raises(RasaError, match=r"was not ready after 2 s"):
        async with server:
            pass
    assert server._process is None
