"""How the bots' Rasa NLU reads what people type in a one-to-one chat, on the held-out half of bots/chat_acts.yml
(training examples come only from what the tune half showed)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import ROOT

SESSION = pytest.mark.asyncio(loop_scope="session")


def chat_acts():
    spec = importlib.util.spec_from_file_location("bench_chat_acts", ROOT / "bench" / "chat_acts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_labelled_set_is_split_and_new_to_the_model():
    sets = chat_acts().load_chat_acts()  # refuses a message that is also a training example
    assert len(sets["tune"]) >= 75 and len(sets["held_out"]) >= 75
    assert not {t for t, _ in sets["tune"]} & {t for t, _ in sets["held_out"]}
    assert {i for _, i in sets["tune"]} == {i for _, i in sets["held_out"]}


@pytest.mark.slow
@SESSION
async def test_chat_acts_on_the_held_out_set(rasa_server):
    module = chat_acts()
    items = module.load_chat_acts()["held_out"]
    _, read = await module.read_with_rasa(rasa_server.url, [t for t, _ in items])
    result = module.measure(lambda texts: [read[t] for t in texts], items)
    misread = [(m["text"], m["wanted"], m["read"]) for m in result["misread"]]
    print(f"\nheld-out chat acts: accuracy {result['accuracy']:.3f} over {result['n']}; misread {misread}")
    assert result["accuracy"] >= 0.82, misread  # measured 0.86 (bench/chat_acts.py); the goal is 0.85
    assert not [m for m in misread if m[1] == "ask_if_bot"], "every sincere 'are you a bot?' must be recognised"
    # a question taken for a source request is answered with a citation, not a take: one in 26 today (was 1 too)
    assert len([m for m in misread if m[1] == "ask_question" and m[2] == "ask_for_source"]) <= 1, misread
