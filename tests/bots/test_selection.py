"""Response selection on the real bank (the corpus minus the forum's threads) with the real model."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bots.words.acts import ActLabels
from bots.words.adapt import sentences, written
from bots.personas import CORPUS_PERSONAS, load_personas
from bots.words.replies import Message, ReplyRequest
from bots.words.selection import NOTHING_RELEVANT, BankGenerator, SOCIAL_ON_A_FORUM

PERSONAS = {p.name: p for p in load_personas(CORPUS_PERSONAS)}
# the first test pays for embedding the bank on a fresh clone (about 10k texts); the rest reuse it
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
SITE_PERSONA = {"coffee": "home-barista", "beer": "craft-beer-taster", "ai": "neural-net-tinkerer",
                "matheducators": "school-math-teacher", "stackoverflow": "polyglot-programmer", "askubuntu": "ubuntu-admin"}


@pytest.fixture
def bank(corpus_bank):
    bank, forum = corpus_bank
    bank.used.clear()
    bank.used_questions.clear()
    bank.cited.clear()
    yield bank, forum
    bank.used.clear()
    bank.used_questions.clear()
    bank.cited.clear()


def _request(thread: dict, act: str = "answer", post: int = 1, persona: str | None = None, source: str | None = None,
             **extra) -> ReplyRequest:
    persona = PERSONAS[persona or SITE_PERSONA[thread["site"]]]
    style = {"typos": 0.0} | ({"source": source} if source else {})  # words as written; a voice asked for
    persona = persona.model_copy(update={"style": persona.style.model_copy(update=style)})
    text = thread["posts"][min(post, len(thread["posts"]) - 1)]["body"]
    return ReplyRequest(persona, act, (Message("user", text),), f"c-{thread['thread_id']}", thread_title=thread["title"],
                        thread_opening=thread["posts"][0]["body"], **extra)


def _sample(forum: list[dict], n: int = 16) -> list[dict]:
    return [t for t in forum if len(t["posts"]) >= 2][::7][:n]


def _runs(source: str, persona) -> set[str]:
    """Every contiguous run of the source's sentences (whitespace folded): what a passage may be. The people's
    register may also post a run of the reply as written, code included (bots.words.adapt.as_written)."""
    runs = set()
    for kept in (sentences(source), *([written(source)] if persona.in_peoples_voice else [])):
        runs |= {" ".join(" ".join(kept[i:j]).lower().split()) for i in range(len(kept))  # type: ignore[arg-type]
                 for j in range(i + 1, len(kept) + 1) if None not in kept[i:j]}
    return runs


def _body_of(text: str, persona) -> str:
    """The posted text without the persona's signature, emoji, opener, closer and act lead."""
    style = persona.style
    if style.signature:
        text = text.replace("\n" + style.signature, "")
    text = text.strip().rstrip("".join(style.emoji_set)).strip()
    for phrase in sorted((*style.openers, *style.closers), key=len, reverse=True):
        text = re.sub(re.escape(phrase), "", text, flags=re.IGNORECASE).strip()  # an all-lowercase voice lowers them too
    return text


async def test_a_reply_is_one_source_reply_or_contiguous_sentences_of_it(bank):
    bank, forum = bank
    generator = BankGenerator(bank, labels=ActLabels.by_cues(bank))
    checked = 0
    for thread in _sample(forum, 24):
        reply = await generator.write(_request(thread))
        if not reply.text:
            continue
        source = bank.replies[int(reply.source["bank_id"].split(":")[1])]
        persona = PERSONAS[SITE_PERSONA[thread["site"]]]
        body = " ".join(_body_of(reply.text, persona).lower().split())
        assert body in _runs(source.text, persona), (reply.text, source.text)  # one run of the source's, none skipped
        assert reply.source["post"] == source.post_id and reply.source["thread"] == bank.threads[source.thread].external_id
        checked += 1
    assert checked >= 10


async def test_replies_come_from_the_community_of_the_thread_and_answer_the_post(bank, embedder):
    bank, forum = bank
    generator = BankGenerator(bank, labels=ActLabels.by_cues(bank))
    same, answered = 0, 0
    replies = 0
    for thread in _sample(forum, 24):
        reply = await generator.write(_request(thread, claim=False))
        if not reply.text:
            assert reply.reason == NOTHING_RELEVANT
            continue
        replies += 1
        same += reply.source["site"] == thread["site"]
        assert reply.source["thread_similarity"] >= generator.topic_threshold
        post = embedder.embed_one(thread["posts"][1]["body"][:1200])
        answered += float(embedder.embed_one(reply.text[:1200]) @ post) > 0.3
    assert replies >= 16 and same == replies and answered >= 0.8 * replies


async def test_off_topic_stays_silent_on_a_forum_and_says_so_face_to_face(bank):
    bank, _ = bank
    generator = BankGenerator(bank)
    persona = PERSONAS["home-barista"]
    plants = ReplyRequest(persona, "answer", (Message("user", "My monstera has yellow leaves after I repotted it. "
                                                                  "Too much water?"),), "plants",
                          thread_title="Yellow leaves on a monstera after repotting",
                          thread_opening="I repotted my monstera into a bigger pot last week and now two leaves are yellow.")
    silent = await generator.write(plants)
    assert silent.text == "" and silent.reason == NOTHING_RELEVANT and silent.source is None
    chat = ReplyRequest(persona, "answer", plants.conversation, "plants-chat", one_to_one=True)
    said = await generator.write(chat)
    assert said.text and said.reason == NOTHING_RELEVANT and "?" in said.text  # a brief word, or a question back
    stay = await generator.write(ReplyRequest(persona, "stay_silent", plants.conversation, "x", one_to_one=True))
    assert stay.text and (await generator.write(ReplyRequest(persona, "stay_silent", plants.conversation, "y"))).text == ""


async def test_acts_pick_replies_that_perform_them(bank):
    bank, forum = bank
    labels = ActLabels.by_cues(bank)
    generator = BankGenerator(bank, labels=labels)
    follow_ups = disagreements = 0
    for thread in _sample(forum, 24):  # 24: the answer-fit floor keeps a follow-up that asks about another post out
        asked = await generator.write(_request(thread, "ask_follow_up", claim=False))
        if asked.text:
            follow_ups += 1
            assert _body_of(asked.text, PERSONAS[SITE_PERSONA[thread["site"]]]).rstrip().endswith("?"), asked.text
        ranked = generator.rank(_request(thread, "disagree", source="persona"))
        if ranked:
            disagreements += 1
            best = ranked[0]
            # a reply people wrote as disagreement wins when one is near enough; otherwise the act is said in words
            reply = await generator.write(_request(thread, "disagree", source="persona", claim=False))
            assert best.act_fit or reply.text.lower().startswith("i disagree:")
        # in the people's register there is no lead phrase: only replies people wrote as disagreement
        assert all(c.act_fit for c in generator.rank(_request(thread, "disagree")))
    assert follow_ups >= 6 and disagreements >= 6


async def test_a_bank_reply_is_used_once_and_never_when_the_forum_has_it(bank):
    bank, forum = bank
    generator = BankGenerator(bank)
    thread = max(_sample(forum), key=lambda t: len(generator.rank(_request(t))))  # one with several good replies
    assert len(generator.rank(_request(thread))) >= 4
    first = await generator.write(_request(thread))
    second = await generator.write(_request(thread))
    assert first.text and second.text and first.source["bank_id"] != second.source["bank_id"]
    offered = await generator.write(_request(thread, claim=False))
    assert offered.alternatives and offered.alternatives[0].source["bank_id"] not in (
        first.source["bank_id"], second.source["bank_id"])
    # the forum now holds that reply's words (someone posted them): it is never chosen again
    words = bank.replies[int(offered.source["bank_id"].split(":")[1])].text
    generator.observe([words])
    assert generator.claim(offered.alternatives[:1]) is None
    again = await generator.write(_request(thread, claim=False))
    assert again.source["bank_id"] != offered.source["bank_id"]


async def test_same_seed_and_inputs_give_the_same_reply(bank):
    bank, forum = bank
    thread = _sample(forum)[3]
    one = await BankGenerator(bank, seed=4).write(_request(thread, claim=False))
    two = await BankGenerator(bank, seed=4).write(_request(thread, claim=False))
    assert one == two


async def test_new_threads_are_real_questions_from_the_bank(bank):
    bank, forum = bank
    generator = BankGenerator(bank)
    titles = {t["title"] for t in forum}
    persona = PERSONAS["home-barista"]
    opening = await generator.open_thread(persona, "espresso, crema and milk drinks", "k1")
    assert opening is not None and opening.title not in titles
    thread = next(t for t in bank.threads if t.external_id == opening.source["thread"])
    assert opening.title == thread.title and opening.tags == list(thread.tags[:5]) and thread.site == "coffee"
    assert not re.search(r"obsessed with|Measuring .*: how do you do it", opening.title)
    generator.claim([opening])
    again = await generator.open_thread(persona, "espresso, crema and milk drinks", "k1")
    assert again.source["thread"] != opening.source["thread"]


async def test_a_source_is_a_real_thread_on_the_topic_or_none(bank):
    bank, forum = bank
    generator = BankGenerator(bank)
    coffee = next(t for t in forum if t["site"] == "coffee" and len(t["posts"]) >= 2)
    cited = await generator.write(_request(coffee, "give_source"))
    assert cited.source["site"] == "coffee" and "http" in cited.text
    if cited.source["bank_id"] is None:  # the thread itself: its title and address, as people cite, no stock lead
        assert "stackexchange.com/q/" in cited.text and not cited.text.startswith(("See this", "Reference:"))
    else:  # a reply of the people's that cites something and answers the post
        assert cited.source["bank_id"].startswith("reply:") and cited.source["answer_fit"] > 0
    # in the persona's own voice, the thread with the persona's lead
    persona = PERSONAS["home-barista"]
    voiced = persona.model_copy(update={"style": persona.style.model_copy(update={"source": "persona"})})
    led = await generator.write(replace(_request(coffee, "give_source"), persona=voiced))
    assert "stackexchange.com/q/" in led.text and led.source["bank_id"] is None
    asked = (Message("user", "Where can I read about repotting a monstera?"),)
    none = await generator.write(ReplyRequest(persona, "give_source", asked, "p", one_to_one=True))
    assert none.reason == NOTHING_RELEVANT and none.text and "/q/" not in none.text  # face to face it says so
    silent = await generator.write(ReplyRequest(persona, "give_source", asked, "p"))
    assert silent.reason == NOTHING_RELEVANT and not silent.text  # on a forum it posts nothing


async def test_in_the_peoples_voice_nothing_is_added_to_the_peoples_words(bank):
    """`style: people` (the corpus personas'): a reply is a run of its source's own sentences, with no sign-off,
    opener, closer, act lead or emoji of the persona's, so the people's decorations come at the people's rate."""
    bank, forum = bank
    generator = BankGenerator(bank, labels=ActLabels.by_cues(bank))
    checked = 0
    for thread in _sample(forum, 24):
        persona = PERSONAS[SITE_PERSONA[thread["site"]]]
        assert persona.in_peoples_voice and persona.model_copy(update={"style": persona.style.model_copy(
            update={"source": "persona"})}).style.openers  # the hand-written phrases are still there to ask for
        for act in ("answer", "agree", "disagree"):
            reply = await generator.write(_request(thread, act, claim=False))
            if not reply.text:
                continue
            source = bank.replies[int(reply.source["bank_id"].split(":")[1])]
            assert " ".join(reply.text.lower().split()) in _runs(source.text, persona), (act, reply.text, source.text)
            added = [p for p in (*persona.style.openers, *persona.style.closers, persona.style.signature or "\0")
                     if p.lower() in reply.text.lower() and p.lower() not in source.text.lower()]
            assert not added, (added, reply.text)
            checked += 1
    assert checked >= 20


async def test_in_the_peoples_voice_an_act_no_reply_performs_becomes_an_answer(bank):
    bank, forum = bank
    generator = BankGenerator(bank, labels=ActLabels.by_cues(bank))
    for thread in _sample(forum, 40):
        if generator.rank(_request(thread, "disagree")) or not generator.rank(_request(thread)):
            continue
        reply = await generator.write(_request(thread, "disagree", claim=False))
        assert reply.act == "answer" and reply.text and not reply.text.lower().startswith("i disagree")
        break
    else:
        pytest.fail("no thread in the sample without a disagreeing reply near enough, but with an answer")


async def test_in_the_peoples_voice_a_forum_gets_no_greeting_or_goodbye_a_chat_does(bank):
    bank, forum = bank
    generator = BankGenerator(bank, labels=ActLabels.by_cues(bank))
    thread = _sample(forum, 1)[0]
    for act in ("greet", "welcome", "goodbye"):
        on_forum = await generator.write(_request(thread, act))
        assert on_forum.text == "" and on_forum.reason == SOCIAL_ON_A_FORUM  # people's replies: 1 in 6,673 is one
        face_to_face = await generator.write(_request(thread, act, one_to_one=True))
        assert face_to_face.text and face_to_face.act == act


async def test_words_a_bot_posted_are_never_posted_again(bank):
    """A bank reply sharing a run of words with a post now in the forum, a bot's own included (the swarm observes
    what it posts), is used up: an answer that quotes the code of the question a bot opened a thread with is not."""
    bank, forum = bank
    generator = BankGenerator(bank, labels=ActLabels.by_cues(bank))
    for thread in _sample(forum, 16):
        found = generator.rank(_request(thread))
        if found:
            break
    else:
        pytest.fail("nothing in the sample has a candidate")
    posted = found[0].passage.text
    assert generator.observe([posted]) >= 1 and found[0].reply.id in bank.used
    assert all(c.reply.id != found[0].reply.id for c in generator.rank(_request(thread)))
