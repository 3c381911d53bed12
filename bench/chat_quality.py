"""Scripted chats, measured by hand: `.venv/bin/python bench/chat_quality.py [--questions 2] [--personas N]`.

Does a persona hold a conversation? For every persona `murmur chat` offers (the corpus personas and the shipped
ones), a scripted chat over the real web socket, the real Rasa server and model, and the reply bank as
`murmur chat` builds it (the shipped corpus less the demo's forum, every 6th thread):

    hi there -> question 1 -> why? -> question 2 -> where can I read more about this? -> thanks

The questions are real people's: the titles of the demo forum's threads (never in the bank) nearest the
persona's interests, phrased as questions, from the persona's own site when it has one (the corpus personas';
`--any-site` lifts that). Each question is also asked in a chat that opens with it (no
greeting), as the baseline. Per turn: the act, whether the persona said nothing useful ("nothing to add"),
and, for a question, whether it was answered on topic: a bank reply from the question's own site that answers
it at least as closely as four in five people's replies do, by cosine (bots.words.selection.RESPONSIVE) and by answer fit
(index/answer_fit.py, its floor). "Nothing to add" is also counted on the questions the bank can answer (a reply
of the question's site passes both). A source
is on topic when it cites a thread of the question's site. Personas the bank cannot feed (bots.words.selection
coverage) are counted apart. Reply latency p50 is over every turn, beside a baseline measured in the same run:
each persona's scripted chat once more, at once after it, with a generator that hands back the text it wrote
for that turn without choosing (Rasa, the action server and the socket alone). Any generator before this one
cost at least that floor, so the ratio bounds the chat's slowdown from above.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
import numpy as np  # noqa: E402

from bots.words.acts import ActLabels  # noqa: E402
from bots.dialogue.actions import GENERATOR  # noqa: E402
from bots.words.bank import ReplyBank, read_bank  # noqa: E402
from bots.chat.app import ENGINE, create_chat_app  # noqa: E402
from bots.dialogue.engine import DialogueEngine, StanceReader  # noqa: E402
from bots.dialogue.server import RasaServer  # noqa: E402
from bots.words.replies import Reply  # noqa: E402
from bots.words.selection import OPEN_FACTOR, RESPONSIVE, BankGenerator  # noqa: E402
from bots.dialogue.training import RASA_DIR, rasa_bin_in, train_model  # noqa: E402
from conversations.importers import CORPUS_THREADS, open_source  # noqa: E402
from index.answer_fit import content_words  # noqa: E402
from index.build import open_embedder  # noqa: E402
from index.documents import clip  # noqa: E402
from murmur.assembly import chat_personas  # noqa: E402
from murmur.config import load_settings  # noqa: E402
from murmur.serving import start_site  # noqa: E402

WRITTEN = web.AppKey("written", list)  # every reply the generator wrote, in order (one client at a time)
EVERY = 6  # the demo's forum: the questions come from it, the bank is the rest
NOTHING = "nothing_relevant_to_say"


def forum_questions() -> tuple[list[str], list[str], list[str]]:
    """(titles, sites, all bodies) of the demo forum's threads: people's questions the bank never holds."""
    threads, _ = open_source(CORPUS_THREADS)
    kept = [t for n, t in enumerate(threads) if n % EVERY == 0]
    titles = [t.title if t.title.rstrip().endswith("?") else f"{t.title.rstrip('.')}?" for t in kept]
    return titles, [t.external_id.split(":")[0] for t in kept], [p.body for t in kept for p in t.posts]


def persona_sites() -> dict[str, str]:
    """The site each corpus persona was written for (index/corpus_personas.yml); shipped personas have none."""
    import yaml

    profiles = yaml.safe_load((ROOT / "index" / "corpus_personas.yml").read_text(encoding="utf-8"))
    return {p["name"]: p["site"] for p in profiles["site_personas"]}


def questions_for(persona, titles: list[str], sites: list[str], vectors: np.ndarray, embedder, count: int,
                  site: str | None = None):
    """The ``count`` forum questions nearest the persona's interests (one per interest, in turn), from the
    persona's own site when it has one: a beer thread's "widget" is not a desktop persona's interest."""
    interests = embedder.embed(list(persona.interests))
    scores = interests @ vectors.T
    if site is not None:
        scores[:, np.asarray(sites) != site] = -np.inf
    order = np.argsort(-scores, axis=1)
    picked: list[int] = []
    for column in range(order.shape[1]):
        for row in range(len(interests)):
            if order[row, column] not in picked:
                picked.append(int(order[row, column]))
            if len(picked) == count:
                return [(titles[i], sites[i]) for i in picked]
    return [(titles[i], sites[i]) for i in picked]


def answerable(generator: BankGenerator, question: str, site: str) -> tuple[bool, bool]:
    """Whether the bank can answer ``question``: (a reply of its site answers it above the answer-fit floor and at
    least as closely as four in five people's replies do (bots.words.selection.RESPONSIVE); the same, from a thread
    within the chat's topic guard of the question). The first alone also counts a reply that only shares a word
    ("int" in a Python answer about binary literals, for "int vs Integer in Java")."""
    bank, model = generator.bank, generator.answer_fit
    vector = generator.embedder.embed_one(question)
    rows = np.asarray([r.id for r in bank.replies if bank.site_of(r) == site])
    if not len(rows):
        return False, False
    fits = model.fits(vector, bank.reply_vectors[rows], [content_words(question)],
                      [content_words(clip(bank.replies[int(r)].text)) for r in rows])
    passes = (fits >= model.floor) & (bank.reply_vectors[rows] @ vector >= RESPONSIVE)
    threads = np.asarray([bank.replies[int(r)].thread for r in rows])
    # a chat that opens with the question has the question's vector as its topic
    near = bank.thread_vectors[threads] @ vector >= OPEN_FACTOR * generator.topic_threshold
    return bool(passes.any()), bool((passes & near).any())


class Chat:
    """One web-socket conversation, with what each turn claimed from the bank."""

    def __init__(self, app, url: str, persona: str, embedder) -> None:
        self.app, self.url, self.persona, self.embedder = app, url, persona, embedder
        self.latencies: list[float] = []
        self.show = False

    async def __aenter__(self):
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"{self.url}/ws/chat?persona={self.persona}")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        await self.session.close()

    async def say(self, text: str) -> dict:
        bank = self.app[GENERATOR].bank
        written = self.app[WRITTEN]
        before = len(written)
        began = time.perf_counter()
        await self.ws.send_json({"text": text})
        while True:
            frame = await self.ws.receive_json(timeout=120)
            if not frame.get("typing"):
                break
        self.latencies.append(time.perf_counter() - began)
        ids = [(r.source or {}).get("bank_id") or "" for r in written[before:]]
        claimed = [bank.replies[int(i.split(":")[1])] for i in ids if i.startswith("reply:")]
        frame["claimed"] = claimed
        frame["site"] = bank.site_of(claimed[0]) if claimed else None
        return frame

    def miss(self, frame: dict, question: str, site: str) -> str | None:
        """Why an answer to ``question`` is not on topic (None: it is)."""
        if frame.get("act") != "answer":
            return f"act {frame.get('act')}"
        if not frame["claimed"]:
            return "nothing to add"
        if frame["site"] != site:
            return "another site"
        generator = self.app[GENERATOR]
        said, asked = self.embedder.embed_one(frame["text"][:1200]), self.embedder.embed_one(question)
        fit = generator.answer_fit.fits(asked, said[None, :], [content_words(question)], [content_words(frame["text"])])[0]
        if float(said @ asked) < RESPONSIVE:
            return "cosine below people's"
        return None if fit >= generator.answer_fit.floor else "answer fit below the floor"

    def on_topic(self, frame: dict, question: str, site: str, misses: Counter | None = None) -> bool:
        why = self.miss(frame, question, site)
        if why is not None and misses is not None:
            misses[why] += 1
            if self.show:
                print(f"    {self.persona}: {question!r} -> {why}: {frame.get('text', '')[:100]!r}", flush=True)
        return why is None


async def main(args: argparse.Namespace) -> None:
    settings = load_settings(None)
    embedder = open_embedder(settings.index)
    titles, sites, bodies = forum_questions()
    vectors = embedder.embed(titles)
    print(f"questions: {len(titles)} thread titles of the demo's forum (every {EVERY}th corpus thread)", flush=True)
    source = read_bank([CORPUS_THREADS], forum_posts=bodies)
    bank = ReplyBank(source, embedder)
    personas = chat_personas(settings)
    own_site = persona_sites()
    if args.personas:
        personas = dict(list(personas.items())[:args.personas])
    rasa_bin = rasa_bin_in(settings.rasa.venv_path())
    model = await asyncio.to_thread(train_model, RASA_DIR, settings.rasa.model_dir, epochs=settings.rasa.epochs,
                                    rasa_bin=rasa_bin)
    holder: dict = {}
    app = create_chat_app(settings.chat.model_copy(update={"messages_per_minute": 10_000, "message_burst": 10_000}),
                          personas, BankGenerator(bank, seed=settings.seed, topic_threshold=settings.replies.topic_threshold))
    app[WRITTEN] = written = []
    write = app[GENERATOR].write

    writing: list[float] = []  # the generator's share of a turn's latency (the rest is Rasa and the socket)

    async def recorded(request):
        began = time.perf_counter()
        reply = await write(request)
        writing.append(time.perf_counter() - began)
        written.append(reply)
        return reply

    replayed: list[Reply] = []  # the baseline: the replies written in the chat just before, handed back in turn

    async def instant(request):
        reply = replayed.pop(0) if replayed else Reply(text="", act=request.act, reason="baseline")
        return Reply(text=reply.text, act=request.act, source=reply.source)

    app[GENERATOR].write = recorded
    runner, port = await start_site(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    totals: Counter = Counter()
    acts: Counter = Counter()
    latencies: list[float] = []
    scripted_latencies: list[float] = []  # the greeting-first chats' turns alone
    floor: list[float] = []  # the same chats' turns with a generator that does not choose
    misses: Counter = Counter()
    try:
        async with RasaServer(model.model_path, action_url=f"{url}/webhook", rasa_bin=rasa_bin,
                              log_path=settings.rasa.model_dir / "bench-chat-quality.log") as server:
            generator = app[GENERATOR]
            generator.labels = await ActLabels.by_rasa(bank.replies, server.url,
                                                       cache_path=settings.rasa.model_dir / "act-labels.sqlite")
            holder["engine"] = app[ENGINE].engine = DialogueEngine(server.url, StanceReader(embedder))
            print(f"\n{'persona':<24} {'talks':<5} {'greet-first on topic':>20} {'no greeting':>12} {'nothing to add':>15}"
                  f" {'source on topic':>16}", flush=True)
            for name, persona in personas.items():
                cover = generator.coverage(persona)
                asked = questions_for(persona, titles, sites, vectors, embedder, args.questions,
                                      None if args.any_site else own_site.get(name))
                row: Counter = Counter()
                began_chat = len(written)
                async with Chat(app, url, name, embedder) as chat:
                    chat.show = args.show
                    said = ["hi there"]
                    acts[(await chat.say("hi there"))["act"]] += 1
                    for n, (question, site) in enumerate(asked):
                        said.append(question)
                        answer = await chat.say(question)
                        acts[answer["act"]] += 1
                        row["asked"] += 1
                        row["on_topic"] += chat.on_topic(answer, question, site, misses if cover.talks else None)
                        silent = answer.get("act") == "answer" and not answer["claimed"]
                        row["nothing"] += silent
                        literal, near = answerable(generator, question, site)
                        row["answerable"] += literal
                        row["nothing_answerable"] += silent and literal
                        row["answerable_near"] += near
                        row["nothing_near"] += silent and near
                        said.append("why?" if n == 0 else "where can I read more about this?")
                        follow = await chat.say(said[-1])
                        acts[follow["act"]] += 1
                        if n > 0:
                            row["sources"] += 1
                            row["source_on_topic"] += follow.get("act") == "give_source" and f"{site}.stackexchange" in follow.get("text", "")
                    said.append("thanks!")
                    acts[(await chat.say("thanks!"))["act"]] += 1
                    latencies += chat.latencies
                    scripted_latencies += chat.latencies
                replayed[:] = written[began_chat:]
                app[GENERATOR].write = instant
                try:
                    async with Chat(app, url, name, embedder) as chat:
                        for text in said:
                            await chat.say(text)
                        floor += chat.latencies
                finally:
                    app[GENERATOR].write = recorded
                for question, site in asked:  # the baseline: the question opens the chat
                    async with Chat(app, url, name, embedder) as chat:
                        row["plain_on_topic"] += chat.on_topic(await chat.say(question), question, site)
                        latencies += chat.latencies
                key = "covered" if cover.talks else "uncovered"
                for k, v in row.items():
                    totals[f"{key}:{k}"] += v
                print(f"{name:<24} {'yes' if cover.talks else 'no':<5} {row['on_topic']:>14}/{row['asked']:<5} "
                      f"{row['plain_on_topic']:>6}/{row['asked']:<5} {row['nothing']:>9}/{row['asked']:<5} "
                      f"{row['source_on_topic']:>10}/{row['sources']:<5}", flush=True)
    finally:
        if "engine" in holder:
            await holder["engine"].close()
        await runner.cleanup()
        embedder.close()
    print()
    for key in ("covered", "uncovered"):
        asked = totals[f"{key}:asked"]
        if not asked:
            continue
        print(f"{key} personas: questions answered on topic after a greeting {totals[f'{key}:on_topic'] / asked:.0%} "
              f"({totals[f'{key}:on_topic']}/{asked}), with no greeting {totals[f'{key}:plain_on_topic'] / asked:.0%}, "
              f"'nothing to add' {totals[f'{key}:nothing'] / asked:.0%} (on questions the bank can answer "
              f"{totals[f'{key}:nothing_answerable']}/{totals[f'{key}:answerable']}; from a thread within the "
              f"topic guard {totals[f'{key}:nothing_near']}/{totals[f'{key}:answerable_near']}), sources on topic "
              f"{totals[f'{key}:source_on_topic']}/{totals[f'{key}:sources']}")
    print(f"acts: {dict(acts)}")
    print(f"why covered personas' questions after a greeting were not answered on topic: {dict(misses)}")
    print(f"reply p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {np.quantile(latencies, 0.95) * 1000:.0f} ms "
          f"over {len(latencies)} turns (1 client); the generator's part p50 {statistics.median(writing) * 1000:.0f} ms "
          f"over {len(writing)} calls")
    scripted = statistics.median(scripted_latencies)
    print(f"same scripted turns, with a generator that does not choose (same run): p50 {statistics.median(floor) * 1000:.0f} ms "
          f"over {len(floor)} turns; ratio {scripted / statistics.median(floor):.2f}x (goal <= 1.2x; the scripted turns' "
          f"own p50 {scripted * 1000:.0f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=2, help="questions per persona (each with a follow-up)")
    parser.add_argument("--show", action="store_true", help="print each question not answered on topic, and why")
    parser.add_argument("--personas", type=int, default=0, help="only the first N personas (0: all)")
    parser.add_argument("--any-site", action="store_true",
                        help="questions from any site (before: a corpus persona was asked its own site's questions)")
    asyncio.run(main(parser.parse_args()))
