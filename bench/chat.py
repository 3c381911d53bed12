"""Chat latency, measured by hand: `.venv/bin/python bench/chat.py [--quick] [--servers 1,2] [--clients 1,10,100]`.

A pool of Rasa servers (one by default; `--servers 1,2` measures one and then
two, in the same run; the model `murmur train` keeps in var/rasa-models,
trained here only if it is missing), one chat app on a loopback port serving Rasa's
custom actions at /webhook, the real embedding model and the reply
generator over the project's seed threads: `murmur chat` as it runs, with the
clients in this process.

With 1, 10 and 100 concurrent clients, each holding its own conversations of
a few hobby-forum messages, it measures:

- murmur chat: /ws/chat?persona=NAME, from the message sent to the persona's
  answer frame (the typing frame in between is skipped);
- the baseline, on the same Rasa server and model: Rasa's own REST channel,
  POST /webhooks/rest/webhook with {sender, message, metadata} and no stance
  slot; its actions go to the same /webhook, so it pays for the generator too.

Then it splits a murmur reply's mean time into the web socket and chat app,
the stance embedding, the wait for one of DialogueEngine's Rasa slots, Rasa
itself (NLU, policies, its HTTP) and the action server's generation, and
gives Rasa's /model/parse p50 alone for reference. With several pool sizes it
ends with the scaling table: replies/s and p50/p95 per pool size and client
count, their ratio to one server, errors, and each Rasa server's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package;
# the project's root comes first instead (bench.procs).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.procs import group_usage  # noqa: E402
from bots.dialogue.actions import ACTION_TIMINGS  # noqa: E402
from bots.chat.app import ENGINE, create_chat_app  # noqa: E402
from bots.dialogue.engine import DialogueEngine, StanceReader, Turn  # noqa: E402
from bots.errors import RasaError  # noqa: E402
from bots.words.library import Library  # noqa: E402
from bots.personas import Persona  # noqa: E402
from bots.dialogue.pool import RasaPool  # noqa: E402
from murmur.assembly import label_acts, reply_generator  # noqa: E402
from bots.words.splice import SpliceGenerator  # noqa: E402
from murmur.assembly import personas_by_name  # noqa: E402
from bots.dialogue.training import RASA_DIR, rasa_bin_in, rasa_version, train_model  # noqa: E402
from index.cache import text_key  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from murmur.config import ChatSettings, parse_settings  # noqa: E402
from murmur.serving import start_site  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (1, 10, 100)  # concurrent clients; --clients picks others (1000 as well: every client must be answered)
TURN_TIMEOUT_S = 300.0
PARSE_PASSES = 2

# What people write in a hobby-forum chat. None of these is a training example of the Rasa model word for word.
GREETINGS = (
    "hi all, first time chatting here",
    "hey! hope your weekend is going well",
    "morning, just finished my first coffee of the day",
    "hello, long time reader of the forum",
)
QUESTIONS = (
    "How do I stop my espresso shots from tasting sour?",
    "what's a good first telescope if I mostly want to look at the moon and planets?",
    "my sourdough starter smells like nail polish remover, is it dead?",
    "Which tyres would you pick for a wet winter commute?",
    "how often should I be watering a snake plant in a dark flat?",
    "what hops would you use for a hazy IPA on a small budget?",
    "is it worth learning type hints when you're just starting with python?",
    "any tips for a first 30k trail race with a lot of climbing?",
    "how do you stop a mechanical keyboard from sounding so hollow?",
    "what's the easiest way to tell a chiffchaff from a willow warbler?",
)
OPINIONS = (
    "honestly light roasts make the best espresso, fight me",
    "pod coffee machines are fine for most people tbh",
    "I think long cold fermentation is overrated, a same-day loaf tastes just as good",
    "tubeless tyres are way more hassle than they're worth on a commuter",
    "grow lights changed everything for my houseplants",
    "learning python only from youtube videos worked great for me",
    "dobsonians are the best beginner scopes, nothing else comes close at the price",
    "walking the steep climbs is just smart racing, not giving up",
)
CLOSERS = (
    "thanks, that's really helpful!",
    "cheers, I'll give that a try tonight",
    "are you a bot?",
    "wait, am I talking to an actual person?",
    "ok gotta run, see you around",
)
ALL_MESSAGES = (*GREETINGS, *QUESTIONS, *OPINIONS, *CLOSERS)


@dataclass(frozen=True)
class Plan:
    """How much each round does: conversations of ``messages`` messages, ``conversations[level]`` of them a round."""

    messages: int
    conversations: dict[int, int]
    warmup: int  # conversations through each path before anything counts

    def turns(self, level: int) -> int:
        return self.messages * self.conversations[level]


FULL = Plan(messages=4, conversations={1: 50, 10: 100, 100: 200, 1000: 1000}, warmup=8)
QUICK = Plan(messages=2, conversations={1: 20, 10: 40, 100: 100, 1000: 1000}, warmup=4)


def script(k: int, length: int) -> list[str]:
    """Conversation k: maybe a greeting, questions and opinions, then thanks, a goodbye or "are you a bot?"."""
    rng = random.Random(k)
    middle = (*QUESTIONS, *OPINIONS)
    first = rng.choice(GREETINGS) if rng.random() < 0.4 else rng.choice(middle)
    return [first, *(rng.choice(middle) for _ in range(length - 2)), rng.choice(CLOSERS)][-length:]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; enough for p50/p99 of a few hundred samples."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def cores() -> int:
    """What `nproc` says: the cores this process may run on, not the machine's total."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# -- CPU accounting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuClock:
    """Busy core-seconds of the machine, of this process and of the Rasa server's process group, at one moment."""

    machine: float
    own: float
    rasa: float
    wall: float


def cpu_clock(rasa_pgids: Sequence[int]) -> CpuClock | None:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # everything but idle and iowait
    own = os.times()
    rasa = sum(group_usage(pgid)[0] for pgid in rasa_pgids)
    return CpuClock(busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, rasa, time.monotonic())


@dataclass
class CpuUse:
    rasa_s: float = 0.0
    own_s: float = 0.0
    others_share: float | None = None  # of the whole machine, over the round


def cpu_between(start: CpuClock | None, end: CpuClock | None) -> CpuUse:
    if start is None or end is None:
        return CpuUse()
    rasa, own = end.rasa - start.rasa, end.own - start.own
    others = max(0.0, (end.machine - start.machine) - rasa - own)
    return CpuUse(rasa, own, others / ((end.wall - start.wall) * (os.cpu_count() or 1)))


# -- instruments on murmur's own path -------------------------------------------------------------


@dataclass
class Probe:
    """What the instrumented engine saw in one round."""

    respond_s: list[float] = field(default_factory=list)  # DialogueEngine.respond, whole
    turn_s: list[float] = field(default_factory=list)  # Turn.seconds: slot wait + stance event + Rasa's webhook
    slot_wait_s: list[float] = field(default_factory=list)  # waiting for one of the engine's Rasa slots
    events_s: list[float] = field(default_factory=list)  # POST /conversations/{sender}/tracker/events (the stance)
    stance_s: list[float] = field(default_factory=list)  # StanceReader.stance itself, in its worker thread


class NewMessages:
    """The embedder as the stance reader sees it in a live chat, where every message is new text.

    The bench's messages come from a short list, so the embedding cache would answer the stance's
    look-up from the second time on. Here the message is always run through the model and then
    cached, as ``Embedder.embed`` does on a miss; the action's retrieval then finds it cached, as
    in a live chat. The personas' stance topics are looked up as usual (they are cached there too).
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(texts)

    def embed_one(self, text: str) -> np.ndarray:
        vector = self.embedder.encode([text])[0]
        self.embedder.cache.put_many({text_key(self.embedder.model_id, text): vector})
        return vector


class TimedStance(StanceReader):
    def __init__(self, embedder: Embedder, probe: Callable[[], Probe]) -> None:
        super().__init__(NewMessages(embedder))  # type: ignore[arg-type]
        self.probe = probe

    def stance(self, persona: Persona, text: str) -> str:
        began = time.perf_counter()
        try:
            return super().stance(persona, text)
        finally:
            self.probe().stance_s.append(time.perf_counter() - began)


class TimedSlots(asyncio.Semaphore):
    """DialogueEngine's bound on turns in flight to Rasa, timing how long each turn waits for a slot."""

    def __init__(self, value: int, probe: Callable[[], Probe]) -> None:
        super().__init__(value)
        self.probe = probe

    async def __aenter__(self) -> None:
        began = time.perf_counter()
        await self.acquire()
        self.probe().slot_wait_s.append(time.perf_counter() - began)


class TimedEngine(DialogueEngine):
    def __init__(self, pool: RasaPool, stance: StanceReader, *, concurrency: int, probe: Callable[[], Probe]) -> None:
        super().__init__(pool, stance, concurrency=concurrency)
        for member in pool.members:  # each server's own bound on turns in flight, same size, timed
            member.limit = TimedSlots(concurrency, probe)
        self.probe = probe

    async def _post(self, url: str, path: str, payload: object) -> object:
        began = time.perf_counter()
        try:
            return await super()._post(url, path, payload)
        finally:
            if path.endswith("/tracker/events"):  # the stance slot; the message's own request is the rest of the turn
                self.probe().events_s.append(time.perf_counter() - began)

    async def respond(self, persona: Persona, conversation_id: str, text: str, **kwargs) -> Turn:
        began = time.perf_counter()
        turn = await super().respond(persona, conversation_id, text, **kwargs)
        probe = self.probe()
        probe.respond_s.append(time.perf_counter() - began)
        probe.turn_s.append(turn.seconds)
        return turn


# -- clients --------------------------------------------------------------------------------------


@dataclass
class Round:
    path: str  # "murmur" or "baseline"
    level: int
    servers: int = 1  # Rasa servers in the pool
    turns: int = 0
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    acts: Counter = field(default_factory=Counter)
    actions_s: list[float] = field(default_factory=list)  # ACTION_TIMINGS recorded during the round
    probe: Probe = field(default_factory=Probe)
    cpu: CpuUse = field(default_factory=CpuUse)

    @property
    def rate(self) -> float:
        return self.turns / self.seconds

    def ms(self, q: float) -> float:
        return percentile(self.latencies_s, q) * 1000


Talk = Callable[[aiohttp.ClientSession, str, list[str], Round, tqdm], Awaitable[None]]


def failed(what: str) -> SystemExit:
    return SystemExit(f"bench: {what}")


async def murmur_conversation(session: aiohttp.ClientSession, persona: str, messages: list[str], result: Round,
                              bar: tqdm, *, url: str) -> None:
    """One web socket, one conversation: each message, then wait for the persona's answer frame."""
    async with session.ws_connect(f"{url}/ws/chat?persona={persona}") as ws:
        for text in messages:
            began = time.perf_counter()
            await ws.send_json({"text": text})
            while True:
                frame = await ws.receive_json(timeout=TURN_TIMEOUT_S)
                if "error" in frame:
                    raise failed(f"the chat answered {text!r} with an error: {frame['error']}")
                if not frame.get("typing"):
                    break
            result.latencies_s.append(time.perf_counter() - began)
            result.acts[frame.get("act", "?")] += 1
            bar.update()


async def rest_conversation(session: aiohttp.ClientSession, persona: str, messages: list[str], result: Round,
                            bar: tqdm, *, pool: RasaPool, tag: str) -> None:
    """The same conversation straight to Rasa's REST channel (of the pool's server for it), with the metadata
    murmur's actions need."""
    conversation = f"{tag}-{secrets.token_hex(6)}"
    sender = f"{persona}:{conversation}"
    rasa_url = pool.member_for(sender).url
    for text in messages:
        began = time.perf_counter()
        payload = {"sender": sender, "message": text, "metadata": {"persona": persona, "conversation": conversation}}
        async with session.post(f"{rasa_url}/webhooks/rest/webhook", json=payload,
                                timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT_S)) as response:
            if response.status != 200:
                raise failed(f"Rasa's REST channel answered {response.status}: {(await response.text())[:200]}")
            answer = await response.json(content_type=None)
        custom = next((m["custom"] for m in answer if isinstance(m.get("custom"), dict)), None)
        if custom is None:
            raise failed(f"Rasa ran no murmur action for {text!r} (answer: {str(answer)[:200]})")
        result.latencies_s.append(time.perf_counter() - began)
        result.acts[custom.get("act", "?")] += 1
        bar.update()


async def run_round(talk: Talk, result: Round, conversations: list[tuple[str, list[str]]], desc: str) -> None:
    """``result.level`` clients share one queue of conversations; each starts its next when the last ends."""
    jobs = iter(conversations)
    bar = tqdm(total=sum(len(m) for _, m in conversations), desc=desc, unit="reply", leave=False)

    async def client(session: aiohttp.ClientSession) -> None:
        for persona, messages in jobs:
            await talk(session, persona, messages, result, bar)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        start = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(result.level):
                    group.create_task(client(session))
        except BaseExceptionGroup as group_error:  # the first real failure, as a one-line exit
            first = group_error.exceptions[0]
            if isinstance(first, SystemExit):
                raise first from None
            raise failed(f"a client failed: {first!r}") from None
        result.seconds = time.perf_counter() - start
    bar.close()
    result.turns = len(result.latencies_s)


async def parse_latencies(rasa_url: str) -> list[float]:
    """Rasa's NLU alone: POST /model/parse, one at a time."""
    out = []
    async with aiohttp.ClientSession() as session:
        for text in [*ALL_MESSAGES] * PARSE_PASSES:
            began = time.perf_counter()
            async with session.post(f"{rasa_url}/model/parse", json={"text": text}) as response:
                if response.status != 200:
                    raise failed(f"/model/parse answered {response.status}: {(await response.text())[:200]}")
                await response.read()
            out.append(time.perf_counter() - began)
    return out


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Setup:
    rasa_version: str
    model: str
    trained_s: float  # 0 when the model was already there
    library_s: float
    threads: int
    slots: int
    rasa_start_s: dict[int, float] = field(default_factory=dict)  # pool size -> seconds until every server was up
    rasa_rss_mb: dict[int, list[float]] = field(default_factory=dict)  # pool size -> each server's memory at the end


@dataclass
class Results:
    setup: Setup
    rounds: list[Round]
    parse_s: list[float]


async def bench(plan: Plan, tmp: Path, backend: str = "bank", servers: Sequence[int] = (1,),
                levels: Sequence[int] = LEVELS) -> Results:
    settings = parse_settings({"replies": {"backend": backend}})  # murmur's defaults: the model `murmur train` keeps
    personas = personas_by_name(settings)
    names = sorted(personas)
    rasa_bin = rasa_bin_in(ROOT / settings.rasa.venv_path())  # relative paths are the project's

    print("model: checking var/rasa-models (a missing model is trained now, about a minute) ...", flush=True)
    trained = await asyncio.to_thread(train_model, RASA_DIR, ROOT / settings.rasa.model_dir,
                                      epochs=settings.rasa.epochs, rasa_bin=rasa_bin)
    print(f"loading the embedding model and what the {backend} generator draws on ...", flush=True)
    began = time.perf_counter()
    embedder = await asyncio.to_thread(Embedder, cache_path=ROOT / settings.index.cache_path,
                                       batch_size=settings.index.batch_size, threads=settings.index.threads)
    if backend == "splice":
        library = await asyncio.to_thread(Library.from_seed, embedder)
        for text in ALL_MESSAGES:  # every message's retrieval sentences into the embedding cache, as in a warm chat
            await asyncio.to_thread(library.passages_for, text)
        generator = SpliceGenerator(library, seed=settings.seed)
    else:
        generator = await asyncio.to_thread(reply_generator, settings, embedder, echo=lambda line: print(line, flush=True))
    library_s = time.perf_counter() - began

    current = Probe()

    def probe() -> Probe:
        return current

    chat = ChatSettings(messages_per_minute=1e9, message_burst=1_000_000)  # the per-connection limiter never refuses
    app = create_chat_app(chat, personas, generator)
    runner, port = await start_site(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    setup = Setup(rasa_version(rasa_bin), trained.model_path.name, trained.seconds if trained.trained else 0.0,
                  library_s, _torch_threads(), settings.rasa.concurrency)
    rounds: list[Round] = []
    parse_s: list[float] = []
    try:
        for count in servers:
            print(f"chat app on {url}; starting {count} Rasa server{'s' if count > 1 else ''} with "
                  f"{trained.model_path.name} (30-60 s) ...", flush=True)
            began = time.perf_counter()
            async with RasaPool.managed(trained.model_path, count=count, action_url=f"{url}/webhook", rasa_bin=rasa_bin,
                                        log_dir=tmp / f"pool-{count}", ready_timeout_s=settings.rasa.start_timeout_s,
                                        concurrency=settings.rasa.concurrency,
                                        echo=lambda line: print(line, flush=True)) as pool:
                setup.rasa_start_s[count] = time.perf_counter() - began
                pgids = [m.server.pid for m in pool.members if m.server.pid]  # each server leads its own group
                await label_acts(generator, settings, pool.any_url())
                for text in ALL_MESSAGES:  # every message's vectors into the embedding cache, as in a warm chat
                    await asyncio.to_thread(embedder.embed_one, text)
                engine = TimedEngine(pool, TimedStance(embedder, probe), concurrency=settings.rasa.concurrency,
                                     probe=probe)
                app[ENGINE].engine = engine
                tag = f"bench-{secrets.token_hex(3)}"

                def murmur(session, persona, messages, result, bar):
                    return murmur_conversation(session, persona, messages, result, bar, url=url)

                def baseline(session, persona, messages, result, bar, pool=pool):
                    return rest_conversation(session, persona, messages, result, bar, pool=pool, tag=tag)

                talks = {"murmur": murmur, "baseline": baseline}
                warm = [(names[k % len(names)], script(10_000 + k, plan.messages)) for k in range(plan.warmup)]
                for path, talk in talks.items():  # TensorFlow, torch and the connections warm up; nothing counts
                    await run_round(talk, Round(path, min(4, plan.warmup), count), warm, f"warm-up ({path})")
                if not parse_s:
                    parse_s = await parse_latencies(pool.any_url())

                for level in levels:
                    conversations = [(names[k % len(names)], script(level * 1000 + k, plan.messages))
                                     for k in range(plan.conversations[level])]
                    for path, talk in talks.items():
                        result = Round(path, level, count)
                        current = result.probe
                        timings = app[ACTION_TIMINGS]
                        first = len(timings)
                        start = cpu_clock(pgids)
                        who = "murmur chat" if path == "murmur" else "Rasa REST"
                        await run_round(talk, result, conversations,
                                        f"{who}, {level} client{'s' if level > 1 else ''}, {count} server{'s' if count > 1 else ''}")
                        result.cpu = cpu_between(start, cpu_clock(pgids))
                        result.actions_s = list(timings)[first:]
                        rounds.append(result)
                setup.rasa_rss_mb[count] = [group_usage(pgid)[1] for pgid in pgids]
                await engine.close()
    except RasaError as exc:
        raise failed(str(exc)) from None
    finally:
        await runner.cleanup()
        embedder.close()
    return Results(setup, rounds, parse_s)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# -- report ---------------------------------------------------------------------------------------


def level_table(murmur: Round, baseline: Round) -> str:
    clients = f"{murmur.level} client{'s' if murmur.level > 1 else ''}"
    head = (f"{clients:<28} {'replies':>7} {'seconds':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'replies/s':>9}"
            f" {'Rasa cpu ms/reply':>17} {'bench cpu ms/reply':>18}")
    lines = [head, "-" * len(head)]
    for label, r in (("murmur chat (web socket)", murmur), ("Rasa REST (baseline)", baseline)):
        lines.append(f"{label:<28} {r.turns:>7} {r.seconds:8.2f} {r.ms(50):8.0f} {r.ms(95):8.0f} {r.ms(99):8.0f}"
                     f" {r.rate:9.2f} {r.cpu.rasa_s / r.turns * 1000:17.0f} {r.cpu.own_s / r.turns * 1000:18.0f}")
    lines.append(f"{'x baseline (murmur/REST)':<28} {'':>7} {'':>8}"
                 f" {murmur.ms(50) / baseline.ms(50):8.2f} {murmur.ms(95) / baseline.ms(95):8.2f}"
                 f" {murmur.ms(99) / baseline.ms(99):8.2f} {murmur.rate / baseline.rate:9.2f}"
                 f" {_ratio(murmur.cpu.rasa_s / murmur.turns, baseline.cpu.rasa_s / baseline.turns):>17}"
                 f" {_ratio(murmur.cpu.own_s / murmur.turns, baseline.cpu.own_s / baseline.turns):>18}")
    busy = [f"{r.cpu.others_share:.0%}" for r in (murmur, baseline) if r.cpu.others_share is not None]
    if busy:
        lines.append(f"other processes used {' and '.join(busy)} of the machine's CPU during these two rounds"
                     + ("  <- NOT a quiet machine: rates are low and latencies noisy"
                        if max(r.cpu.others_share or 0 for r in (murmur, baseline)) > 0.1 else ""))
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def breakdown(rounds: list[Round], slots: int) -> str:
    """Mean ms per reply of each murmur round, split where the instruments sit; the parts add up to the latency."""
    murmur = [r for r in rounds if r.path == "murmur"]
    baseline = {r.level: r for r in rounds if r.path == "baseline"}

    def mean(values: Sequence[float]) -> float:
        return statistics.fmean(values) * 1000 if values else 0.0

    def per_reply(r: Round) -> float:  # ACTION_TIMINGS over the round, per reply, however many actions Rasa ran
        return sum(r.actions_s) / r.turns * 1000

    latency, web_socket, stance, slot, event, message, action, stance_self = ([] for _ in range(8))
    for r in murmur:
        p = r.probe
        client, respond, turn = mean(r.latencies_s), mean(p.respond_s), mean(p.turn_s)
        latency.append(client)
        web_socket.append(client - respond)
        stance.append(respond - turn)
        stance_self.append(mean(p.stance_s))
        slot.append(mean(p.slot_wait_s))
        event.append(sum(p.events_s) / r.turns * 1000)  # per reply, in case a turn sends no stance event
        action.append(per_reply(r))
        message.append(turn - slot[-1] - event[-1] - action[-1])
    parts = [
        ("web socket + chat app (latency - respond)", web_socket),
        ("stance embedding (respond - Turn.seconds)", stance),
        (f"waiting for one of the engine's {slots} Rasa slots", slot),
        ("Rasa: stance slot, POST .../tracker/events", event),
        ("Rasa: message, NLU + policies + HTTP", message),
        ("action server: the reply generator", action),
    ]
    rows = [("client latency, mean (= the parts below)", latency), *parts,
            ("  stance: StanceReader.stance itself", stance_self),
            ("  stance: waiting for a worker thread", [a - b for a, b in zip(stance, stance_self)]),
            ("Rasa REST baseline: latency, mean", [mean(baseline[r.level].latencies_s) for r in murmur]),
            ("  of which action server", [per_reply(baseline[r.level]) for r in murmur])]

    width = 46
    head = f"{'murmur reply, mean ms (share)':<{width}}" + "".join(
        f" {f'{r.level} client' + ('s' if r.level > 1 else ''):>15}" for r in murmur)
    lines = [head, "-" * len(head)]
    for i, (label, values) in enumerate(rows):
        cells = []
        for j, v in enumerate(values):
            share = f" ({v / latency[j]:4.0%})" if 0 < i <= len(parts) and latency[j] else ""
            cells.append(f" {f'{v:.1f}{share}':>15}")
        lines.append(f"{label:<{width}}" + "".join(cells))
    return "\n".join(lines)


def acts_line(rounds: list[Round]) -> str:
    out = []
    for path in ("murmur", "baseline"):
        acts = sum((r.acts for r in rounds if r.path == path), Counter())
        label = "murmur" if path == "murmur" else "REST"
        out.append(f"{label}: " + ", ".join(f"{act} {n}" for act, n in acts.most_common()))
    return "acts chosen over all rounds -- " + "; ".join(out)


def scaling_table(rounds: list[Round], setup: Setup) -> str:
    """Replies/s and latency by pool size and client count, each set against one server at the same count."""
    head = (f"{'murmur chat':<24} {'servers':>7} {'replies':>8} {'answered':>9} {'replies/s':>9} {'x 1 server':>10}"
            f" {'p50 ms':>8} {'p95 ms':>8} {'Rasa cpu ms/reply':>17} {'bench cpu ms/reply':>18}")
    lines = [head, "-" * len(head)]
    murmur = [r for r in rounds if r.path == "murmur"]
    for level in sorted({r.level for r in murmur}):
        one = next((r for r in murmur if r.level == level and r.servers == 1), None)
        for r in sorted((r for r in murmur if r.level == level), key=lambda r: r.servers):
            ratio = f"{r.rate / one.rate:10.2f}" if one else f"{'-':>10}"
            lines.append(f"{f'{level} clients':<24} {r.servers:>7} {r.turns:>8} {'all':>9} {r.rate:9.2f} {ratio}"
                         f" {r.ms(50):8.0f} {r.ms(95):8.0f} {r.cpu.rasa_s / r.turns * 1000:17.0f}"
                         f" {r.cpu.own_s / r.turns * 1000:18.0f}")
    memory = "; ".join(f"{count} server{'s' if count > 1 else ''}: " + ", ".join(f"{mb:.0f} MB" for mb in sizes)
                       for count, sizes in setup.rasa_rss_mb.items())
    lines.append(f"Rasa server memory (resident, each server's process group, at the end): {memory}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 messages a conversation and fewer conversations")
    parser.add_argument("--backend", choices=("bank", "splice"), default="bank",
                        help="reply generator: bank (murmur's default) or splice (the earlier baseline)")
    parser.add_argument("--servers", default="1", help="Rasa pool sizes to measure in turn, comma-separated (e.g. 1,2)")
    parser.add_argument("--clients", default=",".join(map(str, LEVELS)),
                        help="concurrent clients of each round, comma-separated, from 1, 10, 100, 1000")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    try:
        servers = [int(n) for n in args.servers.split(",")]
        levels = [int(n) for n in args.clients.split(",")]
    except ValueError:
        parser.error("--servers and --clients: comma-separated whole numbers")
    if any(n < 1 for n in servers) or not set(levels) <= set(plan.conversations):
        parser.error(f"--servers: 1 or more; --clients: some of {', '.join(map(str, plan.conversations))}")

    print(f"murmur chat bench: {plan.messages} messages a conversation; "
          + ", ".join(f"{level} client{'s' if level > 1 else ''}: {plan.turns(level)} replies"
                      for level in levels) + f" (each path); Rasa pools of {', '.join(map(str, servers))}")
    print(f"machine: {cores()} cores (nproc) shared by the Rasa servers' processes and this one (chat app, action "
          f"server, embedding model and every client on one event loop); Python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}")
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="murmur-bench-chat-") as tmp:
        results = asyncio.run(bench(plan, Path(tmp), args.backend, servers, levels))

    s = results.setup
    print()
    print(f"Rasa {s.rasa_version}, model {s.model}" + (f" (trained now in {s.trained_s:.0f} s)" if s.trained_s else
                                                      " (already trained)")
          + "; pool ready in " + ", ".join(f"{t:.0f} s ({n})" for n, t in s.rasa_start_s.items())
          + f"; embedder + library + retrieval warm-up {s.library_s:.0f} s; "
          f"torch threads {s.threads}; turns in flight to each server (rasa.concurrency) {s.slots}")
    print("latency: client-side, message sent -> the persona's answer frame (murmur) or the REST answer (baseline)")
    for count in servers:
        rounds = [r for r in results.rounds if r.servers == count]
        print(f"\n== {count} Rasa server{'s' if count > 1 else ''}")
        for level in levels:
            murmur, baseline = (next(r for r in rounds if r.path == p and r.level == level)
                                for p in ("murmur", "baseline"))
            print()
            print(level_table(murmur, baseline))
        print()
        print(breakdown(rounds, s.slots * count))
    print()
    print(scaling_table(results.rounds, s))
    parse = results.parse_s
    print(f"Rasa /model/parse alone (NLU + its HTTP, one at a time, {len(parse)} parses): "
          f"p50 {percentile(parse, 50) * 1000:.1f} ms, p95 {percentile(parse, 95) * 1000:.1f} ms")
    print(acts_line(results.rounds))


if __name__ == "__main__":
    main()
