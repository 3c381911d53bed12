"""A chat's topic follows the conversation (bots/words/topic.py), with the real embedding model."""

from __future__ import annotations

import pytest

from bots.words.replies import Message
from bots.words.topic import focus, is_social, refers_back, substantive, topic_vector

ESPRESSO = "My espresso shots taste sour, what should I change about the grind or the dose?"
UBUNTU = "Completely different thing: how do I mount a USB drive from the terminal on Ubuntu 22.04?"


def said(*texts: str, intents: dict[str, str] | None = None) -> list[Message]:
    return [Message("user", t, (intents or {}).get(t)) for t in texts]


@pytest.mark.parametrize("text", ["hi there", "Hello!", "hey, how's it going?", "thanks a lot", "bye", "good morning",
                                  "are you a bot?", "  "])
def test_social_turns_are_recognised(text):
    assert is_social(Message("user", text))


@pytest.mark.parametrize("text", [ESPRESSO, "hi, how do I stop my grinder clumping?", "why?", "decaf?"])
def test_a_message_with_a_subject_is_not_social(text):
    assert not is_social(Message("user", text))


def test_the_nlus_reading_counts_only_for_short_messages():
    assert is_social(Message("user", "yo what a lovely day it is", "greet"))
    assert not is_social(Message("user", "hello, I wanted to ask how fine to grind for a moka pot on a budget", "greet"))


def test_a_greeting_first_never_sets_the_topic(embedder):
    conversation = said("hi there", ESPRESSO)
    assert [m.text for m in substantive(conversation, "espresso-nerd")] == [ESPRESSO]
    topic = topic_vector(embedder.embed, substantive(conversation, "espresso-nerd"))
    assert float(topic @ embedder.embed_one(ESPRESSO)) > 0.99


def test_a_follow_up_keeps_the_topic_and_brings_it_along(embedder):
    messages = said(ESPRESSO, "and for a moka pot?")
    topic = topic_vector(embedder.embed, messages)
    assert float(topic @ embedder.embed_one(ESPRESSO)) > max(0.8, float(topic @ embedder.embed_one("and for a moka pot?")))
    assert focus(messages) == f"{ESPRESSO}\nand for a moka pot?"


def test_a_source_request_keeps_the_topic(embedder):
    ask = "where can I read more about this?"
    topic = topic_vector(embedder.embed, said(ESPRESSO, ask, intents={ask: "ask_for_source"}))
    assert float(topic @ embedder.embed_one(ESPRESSO)) > float(topic @ embedder.embed_one(ask))


def test_a_change_of_subject_moves_the_topic(embedder):
    topic = topic_vector(embedder.embed, said(ESPRESSO, UBUNTU))
    assert float(topic @ embedder.embed_one(UBUNTU)) > 0.99
    assert float(topic @ embedder.embed_one(ESPRESSO)) < 0.3


def test_no_substantive_message_has_no_topic(embedder):
    assert topic_vector(embedder.embed, substantive(said("hi", "thanks!"), "p")) is None


@pytest.mark.parametrize("text", ["why?", "and for a moka pot?", "decaf?", "is it worth it?", "what about a hand grinder?",
                                  "how so?"])
def test_short_messages_about_what_came_before_are_follow_ups(text):
    assert refers_back(Message("user", text))


@pytest.mark.parametrize("text", ["Process size on UNIX?", "Best hops for a pale ale?", "Mounting USB drives in Ubuntu?"])
def test_a_short_question_with_a_subject_of_its_own_is_not_a_follow_up(text):
    assert not refers_back(Message("user", text))


def test_a_short_change_of_subject_moves_the_topic_and_is_answered_alone(embedder):
    messages = said(ESPRESSO, "why?", "Process size on UNIX?")
    topic = topic_vector(embedder.embed, messages)
    assert float(topic @ embedder.embed_one("Process size on UNIX?")) > 0.99
    assert focus(messages) == "Process size on UNIX?"
