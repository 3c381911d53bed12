"""Response selection: answer a post with one whole human reply from the bank, chosen for that post.

To answer post P in thread T as persona X with act A, the bank's candidates
are the replies whose answered post is near P, the replies nearest P
themselves, and the replies of the bank threads nearest T. Each is scored on
how well it answers P (reply to P), how well its original context matches P
(answered post to P) and T (its thread to T), the persona's interests, the
act (a ``disagree`` picks a reply that disagreed, ``ask_follow_up`` a
question) and whether it fits the persona's length, and above all on its answer fit: a model trained on the
bank's own (post, reply) pairs against hard negatives (``index/answer_fit.py``), which tells an answer to this
post from an answer to the post next to it, where cosine cannot. The topic guard comes
first: only replies from the bank's own community nearest T (the site most of
the nearest bank threads come from), and from threads at least
``topic_threshold`` close to T, are considered; with none, the bot has nothing
relevant to say and stays silent; so it does when no candidate answers the post as well as four in five of the
bank's real replies answer theirs (the answer-fit floor). One source reply is used, or contiguous
sentences of it, adapted to the persona; a reply is used once per run.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bots.words.acts import STATEMENT_WORDS, ActLabels, wanted_label
from bots.words.adapt import Passage, as_written, is_question, passage, question
from bots.words.bank import BankReply, BankThread, ReplyBank
from bots.personas import Length, Persona
from bots.words.replies import ACTS, Opening, Reply, ReplyError, ReplyRequest
from bots.words.topic import focus, refers_back, substantive, topic_vector
from bots.words.voice import MAX_PHRASE_WORDS, Voice, disclosure, social_reply
from index.answer_fit import FLOOR_QUANTILE, AnswerFit, Pair, content_words
from index.answer_fit import train as train_answer_fit
from index.documents import ThreadText, clip, thread_vectors

NOTHING_RELEVANT = "nothing_relevant_to_say"
REPLY_TAKEN = "reply_taken"
SOCIAL_ON_A_FORUM = "people_post_no_greetings"  # the people's register on a forum: a greeting or goodbye alone is silence
NEAREST_THREADS = 10  # bank threads that vote on the conversation's community, and whose replies are candidates
NEAREST_REPLIES = 60
ALTERNATIVES = 4  # next-best replies offered with each choice, for a caller that claims in its own order
# Chosen on a tuning split of the corpus (every 4th thread from the second on), disjoint from the splits the demo,
# the tests and bench/realism.py judge on (every 6th thread): how well a reply answers the post comes first.
# Answer fit is weighed beside cosine (which keeps its 0.6), chosen in bench/answer_fit.py on the same tuning split:
# with its floor, more weight moved the bots' answer fit further above the people's and their cosine below it.
WEIGHTS = {"answers": 0.6, "fit": 0.15, "context": 0.15, "thread": 0.1, "persona": 0.05, "act": 0.1}
RERANK = 8
# A reply must answer the post at least as closely as four in five people's replies do (the 20th percentile of
# reply-to-post cosine among the people of the tuning split was 0.35): below it, the bot has nothing to say there.
RESPONSIVE = 0.35  # the best candidates are scored again on the words they would post (the passage), not the whole reply


LINK = re.compile(r"https?://\S+")  # a reply that cites something: how the people give a source
QUESTION_QUANTILE = 95  # a question in the people's voice is posted at up to the length 95 in 100 of its site's stay within
OPEN_FACTOR = 0.8  # an interest (a short phrase) needs this share of topic_threshold to a bank question to open on


@dataclass(frozen=True)
class Coverage:
    """Whether a persona has anything to draw on in the bank: its interests the bank holds threads on, and not."""

    talks: bool
    covered: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    reply: BankReply
    passage: Passage
    score: float
    answers: float  # cosine of the reply to the post it would answer
    fit: float  # answer fit of the reply to that post (index/answer_fit.py), a probability
    context: float  # cosine of what it answered to that post
    thread: float  # cosine of its thread to the conversation's thread
    persona: float  # best cosine of the reply to one of the persona's interests
    act_fit: bool


PEOPLE_MIN_WORDS = 5
CHARS_PER_WORD = 7  # a long reply in the people's register is cut at a sentence end within the persona's max_reply_chars
# A chat is a conversation: a passage there stays as long as a chat turn reads, however long the persona may post on a
# forum (corpus personas may post what 95% of their site's people do, up to 3,700 characters).
CHAT_REPLY_CHARS = 1000


def lengths(persona: Persona, chat: bool = False) -> Length:
    """How long a reply may be: the persona's length, or in the people's register (``style: people``) the people's
    own, a reply as long as it was written, up to what the persona may post (a sentence end within its limit;
    in a chat, within CHAT_REPLY_CHARS as well)."""
    if persona.in_peoples_voice:
        chars = min(persona.limits.max_reply_chars, CHAT_REPLY_CHARS) if chat else persona.limits.max_reply_chars
        return Length(min_words=PEOPLE_MIN_WORDS, max_words=max(PEOPLE_MIN_WORDS + 5, chars // CHARS_PER_WORD))
    return persona.style.length


def conversation_text(request: ReplyRequest) -> str:
    """Everything the conversation has said so far, with its title: what a reply may refer to."""
    return "\n".join([request.thread_title or "", request.thread_opening or "", *(m.text for m in request.conversation)])


class BankGenerator:
    """The ``bank`` backend: response selection from human replies held apart from the forum."""

    name = "bank"

    def __init__(self, bank: ReplyBank, *, seed: int = 0, topic_threshold: float = 0.5,
                 labels: ActLabels | None = None) -> None:
        self.bank = bank
        self.embedder = bank.embedder
        self.seed = seed
        self.topic_threshold = topic_threshold
        self.labels = labels or ActLabels.by_cues(bank)
        self._reply_words: dict[int, frozenset[str]] = {}
        self._interests: dict[str, np.ndarray] = {}
        self._question_limits: dict[str, int] = {}
        self._lock = threading.Lock()  # turns run in worker threads; claims must not interleave
        # trained now, with the bank, not on the first reply; once per bank
        if bank.answer_fit is None:
            bank.answer_fit = self._train_answer_fit()
        self.answer_fit: AnswerFit = bank.answer_fit[0]
        self._floors: dict[str, float] = dict(bank.answer_fit[1])

    # -- the ReplyGenerator interface -------------------------------------------------------------------

    async def write(self, request: ReplyRequest) -> Reply:
        return await asyncio.to_thread(self._write, request)

    def claim(self, options: Sequence[Reply]) -> Reply | None:
        """The first option whose bank reply is still unused, now marked used; None when all were taken."""
        with self._lock:
            for option in options:
                source = option.source or {}
                bank_id = source.get("bank_id")
                if bank_id is None:
                    cited = source.get("cited")
                    if cited is None:
                        return option
                    if cited not in self.bank.cited:  # a source is cited once a run, as a reply is used once
                        self.bank.cited.add(cited)
                        return option
                    continue
                kind, number = bank_id.split(":")
                used = self.bank.used if kind == "reply" else self.bank.used_questions
                if int(number) not in used:
                    used.add(int(number))
                    return option
        return None

    def _mark_used(self, option: Reply) -> None:
        """Recorded as used in this run (what a run's log and tests read), without keeping it from another chat."""
        bank_id = (option.source or {}).get("bank_id")
        if bank_id is not None and bank_id.startswith("reply:"):
            with self._lock:
                self.bank.used.add(int(bank_id.split(":")[1]))

    def observe(self, texts: Sequence[str]) -> int:
        """Posts now in the forum; bank text that repeats them is never used."""
        with self._lock:
            return self.bank.observe(texts)

    def claimed(self) -> dict[str, set[int]]:
        with self._lock:
            return {"reply": set(self.bank.used), "question": set(self.bank.used_questions), "cited": set(self.bank.cited)}

    def adopt(self, claimed: Mapping[str, Sequence[int]]) -> None:
        with self._lock:
            self.bank.used.update(claimed.get("reply", ()))
            self.bank.used_questions.update(claimed.get("question", ()))
            self.bank.cited.update(claimed.get("cited", ()))

    async def open_thread(self, persona: Persona, interest: str, key: str) -> Opening | None:
        return await asyncio.to_thread(self._open_thread, persona, interest, key)

    # -- writing -----------------------------------------------------------------------------------------

    def _write(self, request: ReplyRequest) -> Reply:
        persona, act = request.persona, request.act
        if act not in ACTS:
            raise ReplyError(f"act: unknown dialogue act {act!r}; known: {', '.join(ACTS)}")
        voice = Voice(persona, random.Random(f"{self.seed}:{persona.name}:{request.conversation_id}:"
                                             f"{len(request.conversation)}:{act}"))
        if act == "disclose":
            return Reply(disclosure(persona), act)
        if act in ("greet", "welcome", "goodbye"):
            if voice.plain and not request.one_to_one:
                # of the shipped corpus's 6,673 people's replies, one is a greeting or a goodbye and no more
                return self._silence(request, voice, act, SOCIAL_ON_A_FORUM)
            return social_reply(voice, act)
        if act == "stay_silent":
            return self._silence(request, voice, act, "rasa_chose_silence")
        if act == "give_source":
            if not voice.plain:
                return self._give_source(request, voice)
            # in the people's register a source is given as people give one: a reply of theirs that answers the
            # post and cites something; else the thread itself, its title and address, with no stock phrase
            candidates = [c for c in self.rank(replace(request, act="answer")) if LINK.search(c.passage.text)]
            if not candidates:
                return self._give_source(request, voice)
        else:
            candidates = self.rank(request)
        if not candidates and voice.plain and act in ("agree", "disagree"):
            # in the people's register an act is carried by the reply chosen: with no reply people wrote as this
            # act near enough, the bot takes the next act, its own answer to the post
            act = "answer"
            request = replace(request, act=act)
            candidates = self.rank(request)
        if not candidates:
            return self._silence(request, voice, act, NOTHING_RELEVANT)
        options = tuple(self._reply(c, request, voice) for c in candidates[:ALTERNATIVES + 1])
        if request.one_to_one:
            # face to face, a conversation is private: a reply is not used up for every other chat, only never
            # said twice in this one
            said = {m.text for m in request.conversation if m.author == persona.name}
            fresh = [o for o in options if o.text not in said]
            if not fresh:
                return self._silence(request, voice, act, REPLY_TAKEN)
            self._mark_used(fresh[0])
            return Reply(fresh[0].text, act, source=fresh[0].source, alternatives=tuple(fresh))
        if request.claim:
            chosen = self.claim(options)
            if chosen is None:
                return self._silence(request, voice, act, REPLY_TAKEN)
            return chosen
        return Reply(options[0].text, act, source=options[0].source, alternatives=options)

    def _silence(self, request: ReplyRequest, voice: Voice, act: str, reason: str) -> Reply:
        """On a forum, silence; face to face, a person never gets nothing: a brief word or a question back."""
        if request.one_to_one:
            return Reply(voice.finish([voice.pick("nothing_to_add")], decorate=False), act, reason=reason)
        return Reply("", act, reason=reason)

    def _reply(self, candidate: Candidate, request: ReplyRequest, voice: Voice) -> Reply:
        text = candidate.passage.text
        lead = ""
        if request.act in ("agree", "disagree") and not candidate.act_fit:
            lead = voice.pick(request.act)  # the passage was cut short for this in rank()
        plain = request.act != "answer"  # an act is carried by its words: no "Short version:" before, no sign-off after
        body = voice.finish(voice.frame(text, lead=lead, opening=not plain, closing=not plain),
                            max_words=self._room(request.persona))
        thread = self.bank.threads[candidate.reply.thread]
        source = {"bank_id": f"reply:{candidate.reply.id}", "post": candidate.reply.post_id, "thread": thread.external_id,
                  "site": thread.site, "score": round(candidate.score, 4), "thread_similarity": round(candidate.thread, 4),
                  "answer_fit": round(candidate.fit, 4)}
        return Reply(body, request.act, source=source)

    # -- selection ---------------------------------------------------------------------------------------

    @staticmethod
    def _room(persona: Persona) -> int:
        """A passage is already cut to the persona's length; the finish only guards against the extreme. In the
        people's register a reply keeps its own length (code included), bounded by the persona's characters."""
        if persona.in_peoples_voice:
            return persona.limits.max_reply_chars
        return int(lengths(persona).max_words * 1.5) + 2 * MAX_PHRASE_WORDS

    def conversation_vectors(self, request: ReplyRequest) -> tuple[np.ndarray, np.ndarray]:
        """The post being answered and the thread it is in, as vectors (from the embedding cache when seen)."""
        _, post_vector, thread_vector = self.conversation(request)
        return post_vector, thread_vector

    def conversation(self, request: ReplyRequest, latest: bool = False) -> tuple[str, np.ndarray, np.ndarray]:
        """What is being answered (its text and vector) and the vector of the thread it is in.

        A conversation with no thread (a chat) is about its substantive messages, weighted toward the latest
        (``bots/words/topic.py``): a greeting never sets its topic. With ``latest``, only the message being answered
        (with the one it follows up) makes the topic.
        """
        post = request.last_text or (request.thread_title or "")
        if not post.strip():
            raise ReplyError("conversation: nothing to answer; the conversation has no message from anyone else")
        if request.thread_title is None:
            said = substantive(request.conversation, request.persona.name)
            if latest:
                said = said[-2:] if len(said) > 1 and refers_back(said[-1]) else said[-1:]
            topic = topic_vector(self.embedder.embed, said)
            if topic is not None:
                text = focus(said)[:1200]
                return text, self.embedder.embed_one(text), topic
        user_turns = [m.text for m in request.conversation if m.author != request.persona.name]
        title = request.thread_title or user_turns[0]
        opening = request.thread_opening if request.thread_opening is not None else "\n".join(user_turns[-3:])
        thread = thread_vectors(self.embedder, [ThreadText(0, title, opening)])[0]
        return post[:1200], self.embedder.embed_one(post[:1200]), thread

    def _train_answer_fit(self) -> tuple[AnswerFit, dict[str, float]]:
        """The answer-fit model of this bank, trained on its own (post, reply) pairs (a few seconds), and its floors."""
        bank = self.bank
        pairs = [Pair(str(r.thread), bank.site_of(r), r.context, r.text) for r in bank.replies]
        model = train_answer_fit(pairs, bank.context_vectors, bank.reply_vectors)
        fits = model.fits(bank.context_vectors, bank.reply_vectors, [content_words(p.post) for p in pairs],
                          [self._words_of(r) for r in bank.replies])
        asks = np.asarray([r.asks for r in bank.replies])
        # a follow-up question answers less than an answer does: each kind is held to its own people
        floors = {kind: float(np.quantile(fits[mask], FLOOR_QUANTILE)) if mask.any() else model.floor
                  for kind, mask in (("statement", ~asks), ("question", asks))}
        return model, floors

    def floor(self, act: str) -> float:
        """The answer fit a reply must reach for ``act``: what four in five of the bank's real replies of that kind
        (answers, or follow-up questions) reach for the post they answered."""
        return self._floors["question" if act == "ask_follow_up" else "statement"]

    def _words_of(self, reply: BankReply) -> frozenset[str]:
        found = self._reply_words.get(reply.id)
        if found is None:
            found = self._reply_words[reply.id] = content_words(clip(reply.text))
        return found

    def guard(self, request: ReplyRequest) -> float:
        """The topic guard's threshold: a chat's topic is made of short messages, which come no closer to a bank
        thread's whole document than an interest does to a question (OPEN_FACTOR); the answer-fit floor still
        judges every reply against what was asked."""
        return self.topic_threshold * (OPEN_FACTOR if request.thread_title is None else 1.0)

    def community(self, thread_vector: np.ndarray, persona: Persona,
                  threshold: float | None = None) -> tuple[str | None, list[int]]:
        """The bank's community nearest the conversation, and its threads close enough to it (the topic guard).

        The nearest bank threads vote for their site, each by its closeness to the conversation plus half its
        closeness to the persona's interests: a coffee persona in a thread about "strength" is in the coffee
        community, even when a beer thread is the single nearest one.
        """
        threshold = self.topic_threshold if threshold is None else threshold
        hits = self.bank.by_thread.search(thread_vector, NEAREST_THREADS)
        if not hits or hits[0].score < threshold:
            return None, []
        interests = self._interest_vectors(persona)
        votes: Counter[str] = Counter()
        for hit in hits:
            fit = float((interests @ self.bank.thread_vectors[hit.thread_id]).max())
            votes[self.bank.threads[hit.thread_id].site] += max(hit.score, 0.0) + 0.5 * max(fit, 0.0)
        site = max(votes, key=lambda s: (votes[s], s))
        near = [h.thread_id for h in hits if h.score >= threshold and self.bank.threads[h.thread_id].site == site]
        return (site, near) if near else (None, [])

    def rank(self, request: ReplyRequest) -> list[Candidate]:
        """Every acceptable candidate for this request, best first (empty: nothing relevant to say).

        In a chat, when the conversation's topic so far finds nothing, the message being answered alone is
        tried: a related question (the next one about the same system) moves the topic less than it should."""
        found = self._rank(request, latest=False)
        if not found and request.thread_title is None and len(substantive(request.conversation, request.persona.name)) > 1:
            found = self._rank(request, latest=True)
        return found

    def _rank(self, request: ReplyRequest, latest: bool) -> list[Candidate]:
        post_text, post_vector, thread_vector = self.conversation(request, latest)
        guard = self.guard(request)
        site, near_threads = self.community(thread_vector, request.persona, guard)
        if site is None:
            return []
        model = self.answer_fit
        floor = self.floor(request.act)
        post_words = content_words(post_text)
        bank = self.bank
        ids: dict[int, None] = {}
        for hit in bank.by_context.search(post_vector, NEAREST_REPLIES):
            ids[hit.thread_id] = None
        for hit in bank.by_reply.search(post_vector, NEAREST_REPLIES * (4 if request.act == "ask_follow_up" else 1)):
            ids[hit.thread_id] = None
        for reply in bank.replies_of(near_threads):
            ids[reply] = None
        chosen = [i for i in ids if (request.one_to_one or i not in bank.used) and bank.site_of(bank.replies[i]) == site]
        if not chosen:
            return []
        rows = np.asarray(chosen)
        threads = np.asarray([bank.replies[i].thread for i in chosen])
        thread_sim = bank.thread_vectors[threads] @ thread_vector
        keep = thread_sim >= guard
        if not keep.any():
            return []
        rows, threads, thread_sim = rows[keep], threads[keep], thread_sim[keep]
        answers = bank.reply_vectors[rows] @ post_vector
        fits = model.fits(post_vector, bank.reply_vectors[rows], [post_words],
                          [self._words_of(bank.replies[int(r)]) for r in rows])
        context = bank.context_vectors[rows] @ post_vector
        interests = self._interest_vectors(request.persona)
        persona = (bank.reply_vectors[rows] @ interests.T).max(axis=1)
        style = lengths(request.persona, chat=request.one_to_one)
        here = conversation_text(request)  # what a passage may refer to
        want = wanted_label(request.act)
        kind = "question" if request.act == "ask_follow_up" else "statement"
        out = []
        for row, a, f, c, t, p in zip(rows, answers, fits, context, thread_sim, persona):
            reply = bank.replies[int(row)]
            if request.act == "ask_follow_up":  # a follow-up is a question people asked, in their words
                found = question(reply.text, style.max_words, here)
                if found is None:
                    continue
            else:
                # on a forum the people's register posts a reply at its own length; a chat keeps to a passage, which
                # answers a short message more closely (92% of chat questions on topic against 86% as written)
                found = (as_written(reply.text, style.min_words, request.persona.limits.max_reply_chars, here)
                         if request.persona.in_peoples_voice and not request.one_to_one else None) \
                    or passage(reply.text, style.min_words, style.max_words, here)
                if found is None or is_question(found.text):
                    continue  # an answer that only asks back is no answer
            act_fit = want is not None and self.labels.label(reply.id, kind) == want
            if request.act in ("agree", "disagree"):
                # the act is carried by the opening sentence(s), kept short: as written by someone who agreed (or
                # disagreed), or else said in words first ("I disagree: ..."), so the act is what the reply reads as.
                # Posting a whole reply people wrote as this act instead lengthened the bots' posts, but the NLU then
                # read the act in 0.64 of the bots' act turns, under the realism test's 0.70: the act is kept short.
                found = passage(reply.text, STATEMENT_WORDS[0], min(STATEMENT_WORDS[1], style.max_words), here) or found
            score = (WEIGHTS["answers"] * a + WEIGHTS["fit"] * f + WEIGHTS["context"] * c + WEIGHTS["thread"] * t
                     + WEIGHTS["persona"] * p + WEIGHTS["act"] * act_fit)
            out.append(Candidate(reply, found, float(score), float(a), float(f), float(c), float(t), float(p), act_fit))
        out.sort(key=lambda c: (-c.score, c.reply.id))
        fitting = [c for c in out if c.act_fit]  # words people wrote as this act
        if request.act == "ask_follow_up" and not request.one_to_one:
            pools = [fitting]  # on a forum, better nothing than a question that does not read as one
        elif request.act in ("agree", "disagree") and request.persona.in_peoples_voice:
            pools = [fitting]  # no lead phrase to say the act in words: only words people wrote as this act
        else:
            pools = [fitting, out] if fitting else [out]
        for pool in pools:
            responsive = [c for c in self._rerank(pool, post_text, post_vector)
                          if c.answers >= RESPONSIVE and c.fit >= floor]
            if responsive:
                return responsive
        return []

    def _rerank(self, ranked: list[Candidate], post_text: str, post_vector: np.ndarray) -> list[Candidate]:
        """The leaders again, scored on how well the passage itself (what would be posted) answers the post."""
        head = ranked[:RERANK]
        if not head:
            return []
        texts = [clip(c.passage.text) for c in head]
        vectors = self._passage_vectors(head, texts)
        answers = vectors @ post_vector
        fits = self.answer_fit.scores(post_vector, vectors, [post_text], texts)
        rescored = [replace(c, answers=float(a), fit=float(f),
                            score=c.score + WEIGHTS["answers"] * (float(a) - c.answers) + WEIGHTS["fit"] * (float(f) - c.fit))
                    for c, a, f in zip(head, answers, fits)]
        rescored.sort(key=lambda c: (-c.score, c.reply.id))
        return rescored

    def _passage_vectors(self, head: list[Candidate], texts: list[str]) -> np.ndarray:
        """The passages' vectors: a passage that is its whole reply has the bank's vector already (most replies in
        the people's register, posted as written); only the cut ones are embedded."""
        vectors = np.empty((len(head), self.bank.reply_vectors.shape[1]), dtype=np.float32)
        # the embedder folds whitespace, so a run posted as written with its lines joined has its reply's vector
        cut = [i for i, (c, t) in enumerate(zip(head, texts)) if t.split() != clip(c.reply.text).split()]
        for i, c in enumerate(head):
            if i not in cut:
                vectors[i] = self.bank.reply_vectors[c.reply.id]
        if cut:
            vectors[cut] = self.embedder.embed([texts[i] for i in cut])
        return vectors

    def coverage(self, persona: Persona) -> Coverage:
        """Which of the persona's interests the bank can talk about: those with a bank question close enough to open
        a thread on (the rule ``open_thread`` uses). A persona with fewer than half of them covered cannot talk."""
        floor = self.topic_threshold * OPEN_FACTOR
        vectors = self._interest_vectors(persona)
        covered = tuple(interest for interest, vector in zip(persona.interests, vectors)
                        if (hits := self.bank.by_question.search(vector, 1)) and hits[0].score >= floor)
        missing = tuple(i for i in persona.interests if i not in covered)
        return Coverage(len(covered) * 2 >= len(persona.interests), covered, missing)

    def _interest_vectors(self, persona: Persona) -> np.ndarray:
        if persona.name not in self._interests:
            self._interests[persona.name] = self.embedder.embed(list(persona.interests))
        return self._interests[persona.name]

    # -- sources and new threads ---------------------------------------------------------------------------

    def _give_source(self, request: ReplyRequest, voice: Voice) -> Reply:
        """Cite a real thread on the conversation's topic from the bank's community, or say there is none."""
        _, thread_vector = self.conversation_vectors(request)
        site, near = self.community(thread_vector, request.persona, self.guard(request))
        if site is None:
            return self._no_source(request, voice)
        here = " ".join((request.thread_title or "").lower().split())
        near = [t for t in near if " ".join(self.bank.threads[t].title.lower().split()) != here  # never its own thread
                and (request.one_to_one or t not in self.bank.cited)]  # on a forum, a thread is cited once a run
        if not near:
            return self._no_source(request, voice)
        options = tuple(self._citation(self.bank.threads[t], site, voice) for t in near[:ALTERNATIVES + 1])
        if request.one_to_one:
            return options[0]
        if request.claim:
            return self.claim(options) or self._silence(request, voice, "give_source", REPLY_TAKEN)
        return replace(options[0], alternatives=options)

    @staticmethod
    def _citation(thread: BankThread, site: str, voice: Voice) -> Reply:
        where = f" ({thread.source_url})" if thread.source_url else ""
        cited = f"{thread.title}{where}" if voice.plain else f'{voice.pick("source")} "{thread.title}"{where}'
        return Reply(voice.finish([cited], decorate=False), "give_source",
                     source={"bank_id": None, "thread": thread.external_id, "site": site, "cited": thread.id})

    def _no_source(self, request: ReplyRequest, voice: Voice) -> Reply:
        """Face to face, the persona says it knows no source; on a forum, like people who know none, it posts nothing."""
        text = voice.finish([voice.pick("no_source")], decorate=False) if request.one_to_one else ""
        return Reply(text, "give_source", reason=NOTHING_RELEVANT)

    def _question_chars(self, site: str) -> int:
        """What 95 in 100 of the people's questions on ``site`` stay within (longer than their replies)."""
        if site not in self._question_limits:
            lengths = [len(t.question) for t in self.bank.threads if t.site == site]
            self._question_limits[site] = int(np.percentile(lengths, QUESTION_QUANTILE)) if lengths else 0
        return self._question_limits[site]

    def _open_thread(self, persona: Persona, interest: str, key: str) -> Opening | None:
        """A real question from the bank on one of the persona's interests, never one the forum holds or had."""
        rng = random.Random(f"{self.seed}:{key}")
        vector = self.embedder.embed_one(interest)
        hits = [h for h in self.bank.by_question.search(vector, 40) if h.thread_id not in self.bank.used_questions
                and h.score >= self.topic_threshold * OPEN_FACTOR]
        voice = Voice(persona, rng)
        options = []
        for hit in hits:
            thread: BankThread = self.bank.threads[hit.thread_id]
            if persona.in_peoples_voice:  # as its asker wrote it, links, code and lists included
                found = as_written(thread.question, PEOPLE_MIN_WORDS,
                                   max(persona.limits.max_reply_chars, self._question_chars(thread.site)), from_start=True)
            else:
                found = passage(thread.question, persona.style.length.min_words, max(persona.style.length.max_words, 120))
            if found is None or found.first != 0:
                continue  # a question told from its middle (its opening sentence could not come along) is no question
            body = voice.finish(voice.frame(found.text, lead="", closing=False), max_words=10_000)
            options.append(Opening(thread.title, body, list(thread.tags[:5]), {
                "bank_id": f"question:{thread.id}", "thread": thread.external_id, "site": thread.site,
                "score": round(hit.score, 4)}))
            if len(options) > ALTERNATIVES:
                break
        return Opening.offer(options)
