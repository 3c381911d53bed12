"""How the bots' Rasa NLU reads what people type in a one-to-one chat, on the held-out half of bots/chat/chat_acts.yml
(training examples come only from what the tune half showed)."""

from __future__ import annotations

import importlib.util

import pytest

from bots.words.acts import chat_reading

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
    # what the chat acts on: the NLU's reading, then bots.words.acts.chat_reading (a question of one's own gets an answer)
    in_chat = module.measure(lambda texts: [(chat_reading(t, read[t][0]),) for t in texts], items)
    chat_misread = [(m["text"], m["wanted"], m["read"]) for m in in_chat["misread"]]
    print(f"as the chat reads them: accuracy {in_chat['accuracy']:.3f}; misread {chat_misread}")
    assert in_chat["accuracy"] >= max(0.88, result["accuracy"]), chat_misread  # measured 0.91 against the NLU's 0.85
    assert not [m for m in chat_misread if m[1] == "ask_if_bot"]
    assert len([m for m in chat_misread if m[1] == "ask_question"]) <= 1, chat_misread  # 1 of 26 measured


@pytest.mark.parametrize(("text", "intent", "read"), [
    ("what do you think about decaf?", "ask_for_source", "ask_question"),  # an opinion question: the persona's take
    ("What makes sour beers sour?", "ask_for_source", "ask_question"),
    ("where can I read more about this?", "ask_for_source", "ask_for_source"),
    ("is there a paper on this?", "ask_for_source", "ask_for_source"),
    ("hi! how do I descale a gaggia", "greet", "ask_question"),  # a greeting with a question: the question
    ("hi there, anyone home?", "greet", "greet"),  # small talk is no question
    ("hey, how's it going today", "greet", "greet"),
    ("Why are Enkel trappist beers not sold publicly?", "disagree", "ask_question"),
    ("that's not right, is it?", "disagree", "disagree"),  # disagreement in so many words stays disagreement
    ("are you a bot?", "ask_if_bot", "ask_if_bot"),
    ("are you a bot? how do I mount a usb stick", "ask_if_bot", "ask_if_bot"),  # disclosure is never read away
    ("am I talking to a real person or a script here?", "ask_if_bot", "ask_if_bot"),
    ("bot?", "ask_if_bot", "ask_if_bot"),
    # a question about bots in general is a question, not a question about the persona
    ("Is it ethical to create a chatbot to answer questions on Stack Exchange?", "ask_if_bot", "ask_question"),
    ("why?", "agree", "agree"),  # a follow-up, not a question of its own
    ("I think a cheap blade grinder is fine", "share_opinion", "share_opinion"),
])
def test_the_chat_answers_a_question_of_ones_own(text, intent, read):
    assert chat_reading(text, intent) == read
