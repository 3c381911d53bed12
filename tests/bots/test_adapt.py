"""Adapting one human reply to a new conversation: one contiguous run of its own sentences, nothing that points back."""

from __future__ import annotations

import random

import pytest

from bots.words.adapt import as_written, passage, sentences, usable, written
from bots.personas import Persona
from bots.words.voice import MAX_PHRASE_WORDS, Voice

ANSWER = (
    "Grind finer first, that is the usual cause of sour shots. Keep the dose the same while you change it. "
    "If it is still sour at 30 seconds, raise the temperature a little.\n\n"
    "> quoted from the question: my shots are sour\n\n"
    "As John said above, the beans matter too. See https://example.org/guide for more.\n\n"
    "Fresh beans, roasted in the last month, make dialling in much easier."
)


def _runs_of(text: str, source: str) -> bool:
    """Every sentence of ``text`` is a sentence of ``source``, in the same order and with none skipped."""
    kept = [s for s in sentences(source)]
    parts = [s for s in sentences(text)]
    for start in range(len(kept)):
        if kept[start:start + len(parts)] == parts:
            return True
    return False


def test_a_passage_is_contiguous_sentences_of_one_source_cut_at_a_sentence_end():
    found = passage(ANSWER, 10, 33)
    assert found is not None and found.first == 0
    assert found.text == ("Grind finer first, that is the usual cause of sour shots. Keep the dose the same while you "
                          "change it. If it is still sour at 30 seconds, raise the temperature a little.")
    assert _runs_of(found.text, ANSWER)
    short = passage(ANSWER, 5, 12)
    assert short.text == "Grind finer first, that is the usual cause of sour shots."


def test_quotes_links_mentions_and_talk_about_other_posts_never_come_along():
    for min_words, max_words in ((3, 20), (3, 200), (20, 200)):
        found = passage(ANSWER, min_words, max_words)
        assert found is not None
        for gone in ("quoted", "John", "https", "example.org", "above", ">"):
            assert gone not in found.text, (gone, found.text)
    # nothing runs across a sentence that had to go: the last paragraph is its own passage
    tail = passage("As Mary said, it depends.\n\nFresh beans, roasted in the last month, make dialling in much easier.", 5, 50)
    assert tail.text == "Fresh beans, roasted in the last month, make dialling in much easier." and tail.first == 1


def test_links_keep_their_words_and_a_leading_mention_goes():
    found = passage("@marta Try the Wikipedia article (http://en.wikipedia.org/wiki/Citra) on the Citra brand.", 3, 40)
    assert found.text == "Try the Wikipedia article on the Citra brand."


def test_a_passage_never_starts_mid_argument_and_initials_do_not_end_sentences():
    found = passage("This is a note about site policy on meta. But the hop oils fade within weeks of bottling. "
                    "Drink hoppy beers fresh, the aroma is the first thing to go.", 8, 40)
    assert found.text == "Drink hoppy beers fresh, the aroma is the first thing to go."
    assert sentences("See Beer: Health and Nutrition (C. W. Bamforth, 2004). It has a table.") == [
        "See Beer: Health and Nutrition (C. W. Bamforth, 2004).", "It has a table."]


@pytest.mark.parametrize("text", ["x = foo(bar); return y;", "Upvoted, thanks.", "Welcome to the site!",
                                  "Edit: fixed the link.", "This is a duplicate of another question.",
                                  "This would be better asked on a medical SE site.",
                                  "Please consider splitting this into separate posts.",
                                  "This doesn't really answer the question at all."])
def test_sentences_that_only_make_sense_at_the_source_are_not_usable(text):
    assert not usable(text)


def test_too_short_or_nothing_usable_gives_no_passage():
    assert passage("See https://example.org", 3, 40) is None
    assert passage("Too short.", 10, 40) is None
    assert passage("Yes.", 1, 40) is None
    whole = passage("Fine by me, thanks.", 10, 40)  # short of the length, but a whole reply: people write those
    assert whole is not None and whole.whole


def _persona(**style) -> Persona:
    return Persona.model_validate({"name": "tester", "bio": "A person who tests things.", "interests": ["testing"],
                                   "style": {"openers": ["Honestly,", "Short version:", "A", "In my long and honest "
                                                         "experience of many years,"],
                                             "closers": ["Good luck.", "This closer is far too long to say every time."],
                                             **style}})


def test_voice_frames_with_short_phrases_only_and_keeps_grammar():
    persona = _persona()
    seen_openers, seen_closers = set(), set()
    for seed in range(200):
        parts = Voice(persona, random.Random(seed)).frame("The grind is usually the cause.")
        text = " ".join(parts)
        assert "too long" not in text and "many years" not in text
        if text.startswith("Honestly,"):
            assert text == "Honestly, the grind is usually the cause." or text.startswith("Honestly, the grind")
            seen_openers.add("Honestly,")
        if text.endswith("Good luck."):
            seen_closers.add("Good luck.")
    assert seen_openers and seen_closers
    # a comma opener never lowercases a name or "I"
    for seed in range(100):
        text = " ".join(Voice(persona, random.Random(seed)).frame("I grind finer."))
        assert "Honestly, i " not in text and "Honestly, I" not in text
    assert all(len(p.split()) <= MAX_PHRASE_WORDS for p in ("Honestly,", "Short version:", "Good luck."))


def test_a_link_that_stood_for_a_word_takes_its_sentence_with_it_and_votes_are_not_words():
    found = passage("If use of (http://www.wolframalpha.com) is a blessing depends on you. "
                    "Try the article (http://x.org/hops) on hops, it is short and clear.", 3, 40)
    assert found.text == "Try the article on hops, it is short and clear."
    assert not usable("-1 This is not true, the widget holds nitrogen.")


@pytest.mark.parametrize(("sentence", "context", "fits"), [
    ("Good luck on Monday!", "how long should I revise before my exam?", False),
    ("Good luck on Monday!", "my exam is on Monday, how long should I revise?", True),
    ("Thanks Dave, that was the missing piece.", "why does my shot run fast?", False),
    ("Thanks Dave, that was the missing piece.", "Dave here: why does my shot run fast?", True),
    ("As I said above, the grind comes first.", "why does my shot run fast?", False),
    ("The grind comes first, then the dose.", "why does my shot run fast?", True),
])
def test_a_sentence_that_refers_to_what_the_conversation_lacks_is_not_used(sentence, context, fits):
    from bots.words.adapt import fits_here

    assert fits_here(sentence, context) is fits
    body = f"Espresso is mostly about the grind and the dose together. {sentence}"
    kept = passage(body, 3, 80, context)
    assert kept is not None and (sentence in kept.text) is fits


CODE_ANSWER = (
    "You need to rebase first. Run this:\n\n"
    "    git fetch origin\n"
    "    git rebase origin/main\n\n"
    "Then push with --force-with-lease, since the history changed\n\n"
    "As I said above, see my answer.\n\n"
    "After that the pull request updates itself, and the reviewers see the new commits."
)


def test_the_peoples_register_keeps_a_reply_as_written_code_included_up_to_what_points_back():
    found = as_written(CODE_ANSWER, 5, 3000, "how do I update my pull request with git rebase?")
    assert found is not None and found.first == 0
    assert "    git fetch origin\n    git rebase origin/main" in found.text  # code kept verbatim, indentation and all
    assert "--force-with-lease, since the history changed" in found.text  # a line with no full stop belongs here
    assert "said above" not in found.text and "reviewers" not in found.text  # never past what points back
    assert len(found.text.split()) > len(passage(CODE_ANSWER, 5, 140).text.split())  # passage stops at the code


def test_as_written_takes_the_longest_run_within_the_characters_and_never_a_quote():
    found = as_written(ANSWER, 5, 3000, "my shots are sour")
    assert found is not None and "quoted from the question" not in found.text and "John" not in found.text
    assert found.text.startswith("Grind finer first") and found.text.endswith("raise the temperature a little.")
    short = as_written(ANSWER, 5, 120, "my shots are sour")  # the whole first run no longer fits: its longest part
    assert short is not None and len(short.text) <= 120 and _runs_of(short.text, ANSWER)
    assert short.text.startswith("Keep the dose") and short.text.endswith("raise the temperature a little.")
    assert as_written("> only a quote\n\n    and_code()", 1, 3000) is None


def test_as_written_never_ends_on_a_sentence_that_leads_into_what_it_leaves_out():
    body = ("Some breweries dry hop for aroma. Others use a torpedo, where the beer is forced through hops:\n\n"
            "> the picture of a torpedo, as the source had it")
    found = as_written(body, 3, 3000, "how do breweries add hop aroma?")
    assert found is not None and found.text == "Some breweries dry hop for aroma."


def test_as_written_never_posts_half_a_quotation_or_an_aside():
    body = ('Grind finer until the shot slows to about thirty seconds. The manual puts it plainly: "a sour shot is '
            'under-extracted. Grind finer before you change anything else." Keep the dose the same while you do.')
    whole = as_written(body, 3, 3000, "my shots are sour")
    assert whole is not None and whole.text.count('"') == 2  # the quotation is whole when it fits
    cut = as_written(body, 3, 150, "my shots are sour")  # room for the opening half of the quotation, not the close
    assert cut is not None and cut.text.count('"') % 2 == 0 and len(cut.text) <= 150
    assert written(body)[2].endswith('else."')  # a sentence keeps the quote that closes it
    aside = "Use a burr grinder (a flat one, or a conical. Either works) for espresso."
    assert as_written(aside, 3, 3000).text == aside and as_written(aside, 3, 60) is None  # no half an aside
    listed = as_written("Three things matter: a) the grind. b) the dose. c) the water temperature.", 3, 3000)
    assert listed is not None and "c) the water" in listed.text  # list markers are not brackets


@pytest.mark.parametrize("sentence", ["As J Musser mentioned, the dose matters less than the grind.",
                                      "As the others have already said, grind finer.",
                                      "As Mary Ann Evans pointed out, the water comes last."])
def test_a_sentence_that_points_at_people_of_its_own_page_is_not_used(sentence):
    from bots.words.adapt import refers_elsewhere

    assert refers_elsewhere(sentence, "my shots are sour, what should I change?")


def test_a_run_never_starts_mid_explanation():
    body = ("The first shot is usually sour. Now grind finer, and the shot slows down and sweetens as it goes. "
            "Finally taste it again after a day.")
    found = as_written(body, 3, 90, "why is my espresso sour?")
    assert found is not None and not found.text.startswith(("Now", "Finally"))


def test_as_written_keeps_the_authors_line_breaks_and_links_out():
    body = ("You need three things for this:\n- a burr grinder (https://en.wikipedia.org/wiki/Burr_mill)\n- a scale\n"
            "- fresh beans\n\nThe grinder matters most. See https://coffee.stackexchange.com/q/12 for the rest.")
    found = as_written(body, 3, 3000, "what do I need for espresso?")
    assert found is not None
    assert found.text == ("You need three things for this:\n- a burr grinder (https://en.wikipedia.org/wiki/Burr_mill)\n"
                          "- a scale\n- fresh beans\n\nThe grinder matters most.")  # an address into its own network breaks it
    assert as_written("Too short. " + body, 3, 3000, from_start=True).text.startswith("Too short.")
    assert as_written("> a quote first\n\n" + body, 3, 3000, from_start=True) is None  # a question told from its start


def test_a_run_never_ends_on_a_sentence_that_announces_what_follows():
    body = ("Coffee trees want a subtropical climate. I found a page which prescribes the following growing "
            "conditions.\n\n> a table from that page")
    found = as_written(body, 3, 3000, "how many coffee plants do I need for a cup a day?")
    assert found is not None and found.text == "Coffee trees want a subtropical climate."
