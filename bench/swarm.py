"""Swarm throughput, measured by hand: `.venv/bin/python bench/swarm.py [--quick]`.

A whole `murmur swarm` run (`murmur.assembly.run_swarm`, unchanged) on the
simulated clock with 10, 100 and 1,000 bots, against a real murmur forum served
in this process on a loopback port over a temp SQLite file seeded with the
shipped forum corpus (data/forum-corpus: threads + distractors), with the twelve corpus personas
(bots past twelve reuse them with numbered handles) and one real Rasa server
(the model `murmur train` keeps in var/rasa-models) whose custom actions go to
murmur's own action server.

For each size it reports, per wall second of the run: bot actions (join
decisions + turns) and posts; the share of wall time in Rasa, embedding,
matching (FAISS and persona matching), the forum, thread-opening generation and
the rest (join policy, run log, event loop); and memory per bot.

Each size runs twice on identical forums and seeds: with murmur's Matcher
(FAISS index, personas matched once per persona) and with a naive brute-force
matcher that keeps every bot's interest vectors, cosines them against every
thread vector in numpy on every scan, and checks every bot against each new
thread or post. Both keep `index.matching.Matcher`'s interface and its scores,
so the swarm makes (nearly: the bench counts them) the same decisions, and the
ratios say what the index and matching once per persona buy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package;
# the project's root comes first instead (bench.procs).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.procs import group_usage, stat_fields  # noqa: E402
from bots.personas import Persona  # noqa: E402
from bots.dialogue.server import RasaServer  # noqa: E402
from bots.swarm.bots import Bot  # noqa: E402
from bots.swarm.engine import Swarm, SwarmResult  # noqa: E402
from bots.swarm.hooks import SwarmHooks  # noqa: E402
from bots.swarm.evaluation import join_quality  # noqa: E402
from bots.swarm.forum_view import ThreadState  # noqa: E402
from bots.swarm.runlog import read_log  # noqa: E402
from bots.dialogue.training import RASA_DIR, rasa_bin_in, rasa_version, train_model  # noqa: E402
from conversations.importers import CORPUS_DISTRACTORS, CORPUS_THREADS  # noqa: E402
from conversations.importers.jsonl import open_jsonl  # noqa: E402
from conversations.server import create_app  # noqa: E402
from bots.personas import load_personas  # noqa: E402
from index.build import connect_forum, forum_threads  # noqa: E402
from index.cache import EmbeddingCache, text_key  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.matching import Matcher, PersonaMatch, ThreadMatch  # noqa: E402
from index.threads import ThreadIndex  # noqa: E402
from murmur.config import Settings, parse_settings  # noqa: E402
from murmur.loading import import_path  # noqa: E402
from bots.swarm.replay import read_replay  # noqa: E402
from murmur.forwarding import ActionForwarder  # noqa: E402
from murmur.serving import start_site  # noqa: E402
from murmur.assembly import run_swarm  # noqa: E402
from murmur.swarm_job import ForumAccess, SwarmJob  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS_FILES = (CORPUS_THREADS, CORPUS_DISTRACTORS)
PERSONAS = ROOT / "bots" / "corpus_personas"
SITES = ROOT / "index" / "corpus_personas.yml"
DISTRACTOR_SITES = {"history.meta", "bicycles.meta", "beer.meta", "coffee.meta"}
ADMIN_TOKEN = "bench-admin-token-0123456789"
SEED = 0
MIB = 1024 ** 2
NOISY = 0.10  # other processes' share of the machine past which a run's rates are flagged

# Simulated hours per bot count, for about 10 minutes on 2 cores: turns (Rasa plus the reply each one carries, a few
# a second here), not forum time, set the wall time. Rates are per wall second, so sizes compare though hours differ.
FULL_HOURS = {10: 24.0, 100: 6.0, 1000: 2.0}
QUICK_HOURS = {10: 3.0, 100: 1.0, 1000: 0.25}
QUICK_EVERY = 6  # --quick imports every 6th thread of each corpus file (~500 threads)
WARMUP = (12, 0.5)  # an untimed run first: TensorFlow in Rasa, torch, the caches and connections warm up


def cores() -> int:
    """What `nproc` says: the cores this process may run on, not the machine's total."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# -- the naive baseline: brute-force cosine in numpy, per bot ------------------------------------------------


class NaiveThreads:
    """Every thread vector in one numpy matrix (no FAISS): what the naive matcher scans in full.

    Stands in for the swarm's ThreadIndex in the naive run (the swarm only calls ``upsert`` on it).
    """

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self._row_of: dict[int, int] = {}
        self._ids: list[int] = []
        self._matrix = np.empty((1024, dims), dtype=np.float32)

    @classmethod
    def copy_of(cls, index: ThreadIndex) -> NaiveThreads:
        threads = cls(index.dims)
        ids = sorted(index.thread_ids())
        if ids:
            threads.upsert(ids, np.vstack([index.vector(t) for t in ids]))
        return threads

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[int]:
        return self._ids

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix[:len(self._ids)]

    def upsert(self, thread_ids: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(thread_ids), self.dims)
        for thread_id, vector in zip(thread_ids, vectors):
            row = self._row_of.get(int(thread_id))
            if row is None:
                row = len(self._ids)
                if row == len(self._matrix):
                    self._matrix = np.vstack([self._matrix, np.empty_like(self._matrix)])
                self._row_of[int(thread_id)] = row
                self._ids.append(int(thread_id))
            self._matrix[row] = vector

    def vector(self, thread_id: int) -> np.ndarray:
        return self._matrix[self._row_of[thread_id]]


class NaiveMatcher:
    """Matcher's interface and scores, computed the naive way.

    Each bot keeps its own copy of its persona's interest vectors and context (nothing is shared between bots
    of one persona). ``threads_for`` (one call per bot scan) cosines the bot's interests against every thread
    vector; ``personas_for`` (one call per new thread or post) checks every bot against the thread vector and
    ranks personas by their best bot. The score is murmur's (best interest + context_weight x context), so
    the swarm decides the same way; the top k is exact, where murmur re-scores FAISS's candidates.
    """

    def __init__(self, matcher: Matcher, threads: NaiveThreads, bots: Sequence[Bot]) -> None:
        self.threads = threads
        self.context_weight = matcher.context_weight
        self.names = matcher.persona_names
        position = {name: p for p, name in enumerate(self.names)}
        rows = {name: matcher._interest_rows(name) for name in self.names}
        width = max(len(r) for r in rows.values())
        # per bot: interest vectors padded to the widest persona (padding rows masked to -inf), context, persona
        self.bot_vectors = np.zeros((len(bots), width, threads.dims), dtype=np.float32)
        self.bot_mask = np.ones((len(bots), width), dtype=bool)
        self.bot_reasons: list[list[str]] = []
        self.bot_contexts = np.empty((len(bots), threads.dims), dtype=np.float32)
        self.bot_persona = np.empty(len(bots), dtype=np.int64)
        for b, bot in enumerate(bots):
            name = bot.persona.name
            mine = rows[name]
            self.bot_vectors[b, :len(mine)] = matcher._vectors[mine]
            self.bot_mask[b, :len(mine)] = False
            self.bot_reasons.append([matcher._reasons[r] for r in mine])
            self.bot_contexts[b] = matcher._contexts[position[name]]
            self.bot_persona[b] = position[name]
        self.first_bot = {name: int(np.flatnonzero(self.bot_persona == p)[0])
                          for p, name in enumerate(self.names) if (self.bot_persona == p).any()}
        self.bots_of = [np.flatnonzero(self.bot_persona == p) for p in range(len(self.names))]

    def threads_for(self, persona: str, k: int = 10) -> list[ThreadMatch]:
        b = self.first_bot[persona]  # the scanning bot: every bot of a persona holds the same vectors
        count = int((~self.bot_mask[b]).sum())
        matrix, ids = self.threads.matrix, self.threads.ids
        if not len(ids):
            return []
        similarities = matrix @ self.bot_vectors[b, :count].T  # every thread x the bot's interests
        best = similarities.argmax(axis=1)
        scores = similarities.max(axis=1) + self.context_weight * (matrix @ self.bot_contexts[b])
        k = min(k, len(ids))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
        order = sorted(top.tolist(), key=lambda i: (-scores[i], ids[i]))
        return [ThreadMatch(ids[i], float(scores[i]), self.bot_reasons[b][best[i]]) for i in order]

    def personas_for(self, thread_id: int, k: int | None = None) -> list[PersonaMatch]:
        vector = self.threads.vector(thread_id)
        similarities = self.bot_vectors @ vector  # every bot x its interests
        similarities[self.bot_mask] = -np.inf
        best = similarities.argmax(axis=1)
        scores = similarities.max(axis=1) + self.context_weight * (self.bot_contexts @ vector)
        ranked = []
        for p, members in enumerate(self.bots_of):
            if len(members):
                b = int(members[np.argmax(scores[members])])
                ranked.append((p, float(scores[b]), self.bot_reasons[b][best[b]]))
        ranked.sort(key=lambda item: (-item[1], item[0]))
        matches = [PersonaMatch(self.names[p], score, reason) for p, score, reason in ranked]
        return matches[:k] if k else matches


# -- instruments: the swarm's own counters, plus what they cannot say ----------------------------------------


@dataclass
class Probe:
    """What one run measured beyond SwarmResult."""

    phase_two_s: float = 0.0  # wall time of phase 2 (turns run concurrently: Rasa and generation overlap)
    phase_twos: int = 0  # phase-2 calls with at least one job, and their jobs: how many turns overlap
    phase_two_jobs: int = 0
    encode_s: float = 0.0  # the embedding model itself (Embedder.encode), summed over every caller and thread
    encoded: int = 0
    faiss_s: float = 0.0  # ThreadIndex search, vector reconstruction and upsert (murmur run only)
    calls: Counter = field(default_factory=Counter)  # threads_for / personas_for
    call_s: Counter = field(default_factory=Counter)
    state_bytes: int = 0  # the swarm's per-bot state, walked after the run


class TimedMatcher:
    """Counts and times each matcher call (the swarm times them too, but in one bucket with index upserts)."""

    def __init__(self, inner: Matcher | NaiveMatcher, probe: Probe) -> None:
        self.inner = inner
        self.probe = probe

    def threads_for(self, persona: str, k: int = 10) -> list[ThreadMatch]:
        started = time.perf_counter()
        try:
            return self.inner.threads_for(persona, k)
        finally:
            self.probe.calls["threads_for"] += 1
            self.probe.call_s["threads_for"] += time.perf_counter() - started

    def personas_for(self, thread_id: int, k: int | None = None) -> list[PersonaMatch]:
        started = time.perf_counter()
        try:
            return self.inner.personas_for(thread_id, k)
        finally:
            self.probe.calls["personas_for"] += 1
            self.probe.call_s["personas_for"] += time.perf_counter() - started


class TimedIndex:
    """The swarm's ThreadIndex, with its FAISS-touching calls (search, vector reconstruction, upsert) timed."""

    TIMED = ("search_many", "vector", "upsert")

    def __init__(self, inner: ThreadIndex, probe: Probe) -> None:
        self.inner = inner
        self.probe = probe

    def __getattr__(self, name: str):
        attribute = getattr(self.inner, name)
        if name not in self.TIMED:
            return attribute

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.probe.faiss_s += time.perf_counter() - started

        return timed

    def __len__(self) -> int:
        return len(self.inner)


SKIP_TYPES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, Persona,
              ThreadState, ThreadIndex, TimedIndex, NaiveThreads, Embedder, Probe, Swarm)


def retained_bytes(roots: Iterable[object]) -> int:
    """sys.getsizeof summed over every object reachable from ``roots`` (gc referents), each counted once.

    Personas, threads, the index, the embedder and the swarm itself are shared by every bot and are not walked.
    """
    seen: set[int] = set()
    stack = list(roots)
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, SKIP_TYPES):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def bench_hooks(naive: bool, probe: Probe) -> SwarmHooks:
    """Instruments for the swarm run_swarm builds; for the naive run, the brute-force matcher from the start."""

    def ready(swarm: Swarm) -> None:
        if naive:
            threads = NaiveThreads.copy_of(swarm.index)
            swarm.matcher = NaiveMatcher(swarm.matcher, threads, swarm.bots)
            swarm.index = threads  # no FAISS in this run: new and changed threads go to the numpy matrix
        else:
            timed = TimedIndex(swarm.index, probe)
            swarm.index = timed
            swarm.matcher = Matcher(swarm.embedder, timed, [p.profile() for p in swarm.personas.values()])
        swarm.matcher = TimedMatcher(swarm.matcher, probe)

    def turns(jobs: int, seconds: float) -> None:
        probe.phase_twos += 1
        probe.phase_two_jobs += jobs
        probe.phase_two_s += seconds

    def finished(swarm: Swarm) -> None:
        matcher = swarm.matcher.inner
        per_bot = [swarm.bots, swarm.bots_of, swarm.bot_accounts, swarm._queue,
                   getattr(swarm.dialogue, "_last_stance", None)]
        if isinstance(matcher, NaiveMatcher):  # the naive matcher's per-bot vectors are per-bot state
            per_bot.append(matcher)
        gc.collect()
        probe.state_bytes = retained_bytes(r for r in per_bot if r is not None)

    return SwarmHooks(ready=ready, turns=turns, finished=finished)


def model_time(embedder: Embedder, probe: Probe, before: tuple[float, int]) -> None:
    """The model's own busy time and texts since ``before`` (Embedder's counters: every caller, every thread)."""
    probe.encode_s += embedder.stats.model_seconds - before[0]
    probe.encoded += embedder.stats.encoded - before[1]


# -- CPU and memory of the processes -------------------------------------------------------------------------


def own_rss_mib() -> float:
    fields = stat_fields("self")
    return int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / MIB if fields else 0.0


@dataclass(frozen=True)
class CpuClock:
    machine: float  # busy core-seconds of the whole machine (/proc/stat)
    own: float
    rasa: float
    wall: float


def cpu_clock(rasa_pgid: int | None) -> CpuClock:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    except (OSError, ValueError):
        busy = float("nan")
    own = os.times()
    return CpuClock(busy, own.user + own.system, group_usage(rasa_pgid)[0], time.monotonic())


# -- the forum, the Rasa server and the action forwarder -----------------------------------------------------


def bench_settings(tmp: Path, rasa_url: str | None = None) -> Settings:
    """murmur's defaults, with the forum's limits out of the way and every path absolute (var/ is the project's)."""
    return parse_settings({
        "seed": SEED,
        "forum": {"limits": {"posts_per_minute": 1e9, "post_burst": 1_000_000},
                  "events": {"queue_size": 1_000_000}},  # the swarm's event follower is never dropped
        "index": {"cache_path": str(ROOT / "var" / "embeddings.sqlite")},
        "rasa": {"url": rasa_url, "model_dir": str(ROOT / "var" / "rasa-models")},
        "swarm": {"log_dir": str(tmp / "runs")},
        # the forum is the whole corpus, so the reply bank (the corpus minus the forum) would be empty: the splice
        # generator draws on the forum itself; bench/realism.py measures the bank on a split of the corpus
        "replies": {"backend": "splice"},
    })


def corpus_sources(tmp: Path, quick: bool) -> list[Path]:
    """The corpus files, or every QUICK_EVERY-th thread of each with --quick."""
    sources = []
    for source in CORPUS_FILES:
        if quick:
            sample = tmp / f"sample-{source.name.removesuffix('.gz')}"
            with open_jsonl(source) as handle:
                lines = handle.read().splitlines()
            sample.write_text("\n".join(lines[::QUICK_EVERY]) + "\n", encoding="utf-8")
            source = sample
        sources.append(source)
    return sources


async def seed_template(tmp: Path, settings: Settings, quick: bool) -> tuple[Path, int]:
    """The corpus imported once; each run gets a fresh copy, so every run starts from the same forum."""
    db = tmp / "template.db"
    count = 0
    for source in corpus_sources(tmp, quick):
        stats = await import_path(source, db, settings)
        count += stats.threads_added
    return db, count


def copy_db(template: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{template}{suffix}")
        if source.exists():
            shutil.copyfile(source, f"{target}{suffix}")


def setup_texts(db: Path) -> list[str]:
    """What run_swarm embeds before the first step: every thread's parts (index and reply library), personas."""
    conn = connect_forum(db)
    try:
        texts = []
        for thread in forum_threads(conn):
            title, opening, replies = thread.parts()
            texts += [title, opening, *replies]
    finally:
        conn.close()
    for persona in load_personas(PERSONAS):
        texts += [*persona.interests, persona.bio]
    return list(dict.fromkeys(t for t in texts if t.strip()))


def base_cache(db: Path, embedder: Embedder, target: Path) -> int:
    """An embedding cache holding exactly the setup texts' vectors (from the project's cache, or encoded now).

    Every run starts from a copy of it, so neither matcher's run finds the texts of the other run (its replies,
    the sentences its replies drew on) already embedded: the one that ran second would be faster for it.
    """
    texts = setup_texts(db)
    vectors = embedder.embed(texts)  # the embedder's own cache (var/embeddings.sqlite) answers most
    cache = EmbeddingCache(target, embedder.dims)
    cache.put_many({text_key(embedder.model_id, t): v for t, v in zip(texts, vectors)})
    cache.close()
    return len(texts)


def use_cache_copy(embedder: Embedder, base: Path, target: Path) -> None:
    """Point the shared embedder at a fresh copy of the base cache (SQLite's backup: consistent, WAL or not)."""
    embedder.cache.close()
    with contextlib.closing(sqlite3.connect(base)) as source, contextlib.closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    embedder.cache = EmbeddingCache(target, embedder.dims)


@contextlib.asynccontextmanager
async def forum_on(db: Path, settings: Settings) -> AsyncIterator[str]:
    runner, port = await start_site(create_app(settings.forum, db=db, admin_token=ADMIN_TOKEN), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# -- one run -------------------------------------------------------------------------------------------------


@dataclass
class Run:
    bots: int
    matcher: str  # "murmur" or "naive"
    hours: float
    capped: bool
    result: SwarmResult
    probe: Probe
    setup_s: float  # run_swarm before the swarm's first step: reading the forum, the index, the library
    action_s: float  # murmur's action server, timed at the forwarder
    action_calls: int
    cpu_own_s: float
    cpu_rasa_s: float
    others_share: float  # of the machine, by processes other than this one and Rasa's
    own_rss_mib: tuple[float, float]  # before, after
    rasa_rss_mib: tuple[float, float]
    on_site: float | None
    decisions_log: Counter = field(default_factory=Counter)

    @property
    def seconds(self) -> float:
        """The run's wall time (bot accounts are made inside it, each just before its first post)."""
        return self.result.wall_seconds

    @property
    def actions(self) -> int:
        return self.result.tally.decisions + self.result.tally.turns

    def per_s(self, count: float) -> float:
        return count / self.seconds if self.seconds > 0 else float("nan")

    @property
    def decisions_per_phase_one_s(self) -> float:
        """Decisions per second of the run's time outside the turns: the swarm's own machinery, without Rasa."""
        seconds = self.seconds - self.probe.phase_two_s
        return self.result.tally.decisions / seconds if seconds > 0 else float("nan")

    def shares(self) -> dict[str, float]:
        """Share of the run's wall time in each of the swarm's seconds_in buckets; the rest is policy/other.

        Phase 1 (matching, embedding, the forum) is sequential, so its buckets are wall time. Phase 2 runs its
        turns concurrently, so the summed Rasa and generation seconds overlap: phase 2's measured wall time is
        split between them in proportion to their sums.
        """
        s = self.result.seconds_in
        rasa, generation = s.get("rasa", 0.0), s.get("generation", 0.0)
        busy = rasa + generation
        out = {
            "rasa": self.probe.phase_two_s * rasa / busy if busy else 0.0,
            "generation": self.probe.phase_two_s * generation / busy if busy else 0.0,
            "embedding": s.get("embedding", 0.0),
            "matching": s.get("matching", 0.0),
            "forum": s.get("forum", 0.0),
        }
        out["policy/other"] = max(0.0, self.seconds - sum(out.values()))
        return {k: v / self.seconds for k, v in out.items()}

    def action_share_of_rasa(self) -> float:
        rasa = self.result.seconds_in.get("rasa", 0.0)
        return min(1.0, self.action_s / rasa) if rasa else 0.0

    def us_per(self, method: str) -> float:
        calls = self.probe.calls[method]
        return self.probe.call_s[method] / calls * 1e6 if calls else float("nan")


def log_decisions(path: Path) -> Counter:
    """Every decision of a run as (time, bot, thread, outcome), to compare the two matchers' runs."""
    return Counter((r["t"], r["bot"], r["thread"], r["reason"]) for r in read_log(path) if r["kind"] == "decision")


async def one_run(*, template: Path, cache: Path, tmp: Path, settings: Settings, embedder: Embedder,
                  forwarder: ActionForwarder, rasa_pgid: int | None, bots: int, hours: float, naive: bool,
                  capped: bool, label: str, sites: dict[str, str], replay=None, mode: str | None = None) -> Run:
    """One run; ``replay`` (a ReplayPlan) starts from an empty forum and replays the corpus's people beside the bots."""
    matcher = mode or ("naive" if naive else "murmur")
    run_id = f"bench-{matcher}-{bots}-{label}"
    db = tmp / f"{run_id}.db"
    if replay is None:
        copy_db(template, db)
    use_cache_copy(embedder, cache, tmp / f"{run_id}-embeddings.sqlite")
    probe = Probe()
    forwarder.seconds, forwarder.calls = 0.0, 0
    gc.collect()
    own_before, (_, rasa_before) = own_rss_mib(), group_usage(rasa_pgid)
    async with forum_on(db, settings) as url:
        start = cpu_clock(rasa_pgid)
        began = time.perf_counter()
        model_before = (embedder.stats.model_seconds, embedder.stats.encoded)
        result = await run_swarm(settings, ForumAccess(url, ADMIN_TOKEN),
                                 SwarmJob(run_id, SEED, bots, PERSONAS, hours, replay=replay), progress=True,
                                 echo=lambda _: None, embedder=embedder, on_action_url=forwarder.point_at,
                                 hooks=bench_hooks(naive, probe))
        model_time(embedder, probe, model_before)
        total = time.perf_counter() - began
        end = cpu_clock(rasa_pgid)
    own_after, (_, rasa_after) = own_rss_mib(), group_usage(rasa_pgid)
    own_cpu, rasa_cpu = end.own - start.own, end.rasa - start.rasa
    others = (max(0.0, (end.machine - start.machine) - own_cpu - rasa_cpu)
              / ((end.wall - start.wall) * (os.cpu_count() or 1)))
    quality = join_quality(result.log_path, db, sites, DISTRACTOR_SITES, settings.swarm.relevance_threshold)
    run = Run(bots, matcher, hours, capped, result, probe, total - result.wall_seconds, forwarder.seconds,
              forwarder.calls, own_cpu, rasa_cpu, others, (own_before, own_after), (rasa_before, rasa_after),
              quality.on_site_share if quality.joins else None, log_decisions(result.log_path))
    embedder.cache.close()
    for path in (db, tmp / f"{run_id}-embeddings.sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return run


# -- report --------------------------------------------------------------------------------------------------


BUCKETS = ("rasa", "embedding", "matching", "forum", "generation", "policy/other")


def rule(head: str) -> str:
    return "-" * len(head)


def pairs(runs: list[Run]) -> list[dict[str, Run]]:
    return [{r.matcher: r for r in runs if r.bots == size} for size in sorted({r.bots for r in runs})]


def throughput_table(runs: list[Run]) -> str:
    head = (f"{'bots':>5} {'matcher':<7} {'sim h':>5} {'wall s':>6} {'decisions':>9} {'turns':>5} {'posts':>5} "
            f"{'actions/s':>9} {'turns/s':>7} {'posts/s':>7} {'sim-min/s':>9} {'dec/s ph1':>9} | "
            + " ".join(f"{b:>8}" for b in BUCKETS))
    lines = [head, rule(head)]
    for pair in pairs(runs):
        for r in pair.values():
            t = r.result.tally
            hours = f"{r.hours:g}" + ("*" if r.capped else "")
            shares = r.shares()
            lines.append(f"{r.bots:>5,} {r.matcher:<7} {hours:>5} {r.seconds:6.1f} {t.decisions:>9,} {t.turns:>5,} "
                         f"{t.posts:>5,} {r.per_s(r.actions):9.1f} {r.per_s(t.turns):7.2f} {r.per_s(t.posts):7.2f} "
                         f"{r.per_s(r.hours * 60):9.2f} {r.decisions_per_phase_one_s:9,.0f} | "
                         + " ".join(f"{shares[b]:8.1%}" for b in BUCKETS))
        for top, bottom, label in (("murmur", "naive", "m/n"), ("replay", "after", "r/a")):
            if top not in pair or bottom not in pair:
                continue
            m, n = pair[top], pair[bottom]
            ms, ns = m.shares(), n.shares()
            counts = (lambda r: r.actions, lambda r: r.result.tally.turns, lambda r: r.result.tally.posts,
                      lambda r: r.hours * 60)
            rates = [_ratio(m.per_s(count(m)), n.per_s(count(n))) for count in counts]
            cells = " ".join(f"{_ratio(ms[b], ns[b]):>8}" if b == "matching" else f"{'':>8}" for b in BUCKETS)
            lines.append(f"{'':>5} {label:<7} {'':>5} {'':>6} {'':>9} {'':>5} {'':>5} {rates[0]:>9} {rates[1]:>7} "
                         f"{rates[2]:>7} {rates[3]:>9} "
                         f"{_ratio(m.decisions_per_phase_one_s, n.decisions_per_phase_one_s):>9} | {cells}")
            if label == "r/a":
                lines.append(f"{'':>5} {'':<7} people's posts replayed: {m.result.tally.replayed:,} "
                             f"({m.per_s(m.result.tally.replayed):.1f}/s absorbed beside the bots)")
            if max(m.others_share, n.others_share) > NOISY:
                lines.append(f"{'':>5} ! other processes took {m.others_share:.0%} ({top}) and {n.others_share:.0%} "
                             f"({bottom}) of the machine: the rate ratios above are partly theirs")
        lines.append("")
    return "\n".join(lines).rstrip()


def detail_table(runs: list[Run]) -> str:
    head = (f"{'bots':>5} {'matcher':<7} {'scans':>5} {'us/scan':>7} {'events':>6} {'us/event':>8} {'faiss':>5} "
            f"{'in flight':>9} {'rasa:action':>11} {'model':>5} {'encoded':>7} {'on-site':>7} {'same dec.':>9} "
            f"{'state KiB':>9} {'RSS MiB':>7} {'Rasa MiB':>8} {'cpu own':>7} {'cpu Rasa':>8} {'others':>6} "
            f"{'setup s':>7}")
    lines = [head, rule(head)]
    for pair in pairs(runs):
        same = "-"
        if "murmur" in pair and "naive" in pair:
            a, b = pair["murmur"].decisions_log, pair["naive"].decisions_log
            same = f"{sum((a & b).values()) / max(1, max(sum(a.values()), sum(b.values()))):.1%}"
        for r in pair.values():
            match = r.result.seconds_in.get("matching", 0.0)
            faiss = f"{r.probe.faiss_s / match:5.0%}" if r.matcher == "murmur" and match else f"{'-':>5}"
            on_site = f"{r.on_site:7.1%}" if r.on_site is not None else f"{'-':>7}"
            in_flight = r.probe.phase_two_jobs / r.probe.phase_twos if r.probe.phase_twos else 0.0
            lines.append(
                f"{r.bots:>5,} {r.matcher:<7} {r.probe.calls['threads_for']:>5,} {r.us_per('threads_for'):7,.0f} "
                f"{r.probe.calls['personas_for']:>6,} {r.us_per('personas_for'):8,.0f} {faiss} {in_flight:9.1f} "
                f"{r.action_share_of_rasa():11.0%} {r.probe.encode_s / r.result.wall_seconds:5.0%} "
                f"{r.probe.encoded:>7,} {on_site} {same + ('*' if r.capped else ''):>9} "
                f"{r.probe.state_bytes / 1024:9,.0f} {r.own_rss_mib[1]:7,.0f} {r.rasa_rss_mib[1]:8,.0f} "
                f"{r.cpu_own_s / r.result.wall_seconds:7.0%} {r.cpu_rasa_s / r.result.wall_seconds:8.0%} "
                f"{r.others_share:6.0%} {r.setup_s:7.1f}")
        for r in pair.values():
            if r.result.tally.failures:
                lines.append(f"      ^ {r.matcher}: {r.result.tally.failures} failed turns or posts (see its run log)")
    return "\n".join(lines)


def memory_lines(runs: list[Run]) -> list[str]:
    out = []
    for matcher in ("murmur", "naive"):
        mine = sorted((r for r in runs if r.matcher == matcher), key=lambda r: r.bots)
        if len(mine) >= 2 and mine[-1].bots > mine[0].bots:
            lo, hi = mine[0], mine[-1]
            slope = (hi.probe.state_bytes - lo.probe.state_bytes) / (hi.bots - lo.bots)
            out.append(f"memory per bot, {matcher} matcher: {slope / 1024:.2f} KiB of swarm state (the slope from "
                       f"{lo.bots:,} to {hi.bots:,} bots; {hi.probe.state_bytes / 1024:,.0f} KiB in all at "
                       f"{hi.bots:,})")
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def machine(settings: Settings, threads: int, rasa: str) -> str:
    import faiss
    import torch

    from threadpoolctl import threadpool_info

    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), platform.processor())
    blas = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
    s = settings.swarm
    return (f"machine: {cores()} cores (nproc), {cpu}; Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), numpy {np.__version__} (BLAS threads {'/'.join(map(str, blas))}), "
            f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} OpenMP threads), Rasa {rasa}\n"
            f"forum: {threads:,} threads (corpus + distractors) on SQLite in a temp dir, served in this process; "
            f"{len(list(PERSONAS.glob('*.yml')))} corpus personas; swarm defaults: tick {s.tick_s:g} s, scan every "
            f"{s.scan_every_minutes:g} min, {s.candidates} candidates, join probability {s.join_probability:g}, "
            f"rasa.concurrency {settings.rasa.concurrency}; seed {SEED}")


NOTES = """\
actions = join decisions (tally.decisions) + turns; every rate is per wall second of the run (bot accounts are made
inside it, each just before its first post). sim-min/s = simulated minutes per wall second. dec/s ph1 = decisions per second of
the run outside its turns (phase 1: matching, join policy, posting, re-embedding): the swarm's own speed, Rasa
aside. Shares of the run's wall time: rasa = a turn as the swarm sees it (stance embedding, the wait for one of
rasa.concurrency's slots, Rasa's NLU and policies, murmur's action server writing the reply); embedding =
re-embedding threads that changed; matching = the matcher's calls and index upserts (FAISS search + persona
matching); forum = the swarm's HTTP calls to the forum (served in this process); generation = writing the posts
that open threads; policy/other = the rest (join policy, run log, event loop). Turns overlap, so phase 2's wall
time is split between rasa and generation in proportion to their summed seconds. m/n = murmur / naive.
scans, events = threads_for and personas_for calls, with their mean us; faiss = share of murmur's matching time
in ThreadIndex search, vector reconstruction and upsert; in flight = mean turns per phase 2 (turns overlap only
within one tick); rasa:action = share of the rasa time spent in murmur's action server (timed at the forwarder);
model = the embedding model's busy time (Embedder.encode, any caller or thread) over the wall time; encoded =
texts the model embedded; on-site = bot replies in threads of the persona's own site; same dec. = (time, bot,
thread, outcome) decision records the two runs share. state KiB = the swarm's per-bot state after the run (bots,
their queued scans and posts, the account map, the stance memory, and the naive matcher's per-bot vectors):
sys.getsizeof over gc referents, with personas, threads, index and embedder left out as shared. RSS = resident
MiB of this process and of the Rasa server at the run's end (allocators keep freed pages and Rasa keeps every
conversation's tracker, so RSS growth is no per-bot measure). cpu = CPU time over wall time (own can pass 100%:
torch uses 2 threads); others = other processes' share of the machine (over 10%: rates are low and noisy).
setup s = run_swarm before the first step (read the forum, index it from the cache, build the reply library)."""


# -- the bench -----------------------------------------------------------------------------------------------


async def bench(hours: dict[int, float], naive_cap: float | None, quick: bool,
                one_thread: bool, tmp: Path, replay: bool = False) -> None:
    settings = bench_settings(tmp)
    rasa_bin = rasa_bin_in(settings.rasa.venv_path())
    print("model: checking var/rasa-models (a missing model is trained now, about a minute) ...", file=sys.stderr)
    trained = await asyncio.to_thread(train_model, RASA_DIR, settings.rasa.model_dir, epochs=settings.rasa.epochs,
                                      rasa_bin=rasa_bin)
    began = time.perf_counter()
    template, threads = await seed_template(tmp, settings, quick)
    import_s = time.perf_counter() - began
    embedder = await asyncio.to_thread(Embedder, cache_path=settings.index.cache_path,
                                       batch_size=settings.index.batch_size, threads=settings.index.threads)
    if one_thread:  # now that the embedder has loaded torch, scipy and their BLAS libraries
        import faiss
        from threadpoolctl import threadpool_limits

        faiss.omp_set_num_threads(1)
        threadpool_limits(limits=1, user_api="blas")  # for the whole process: nothing restores it
    cache = tmp / "embeddings-base.sqlite"
    cached = await asyncio.to_thread(base_cache, template, embedder, cache)
    sites = {p["name"]: p["site"] for p in yaml.safe_load(SITES.read_text())["site_personas"]}
    runs: list[Run] = []
    async with ActionForwarder() as forwarder:
        print(f"starting the Rasa server with {trained.model_path.name} (30-60 s) ...", file=sys.stderr)
        async with RasaServer(trained.model_path, action_url=forwarder.url, rasa_bin=rasa_bin,
                              log_path=tmp / "rasa-server.log", ready_timeout_s=settings.rasa.start_timeout_s) as rasa:
            rasa_pgid = rasa._process.pid if rasa._process else None  # its own session: pgid == pid
            settings = bench_settings(tmp, rasa.url)  # run_swarm reaches this server as a Rasa server of your own
            common = dict(template=template, cache=cache, tmp=tmp, settings=settings, embedder=embedder,
                          forwarder=forwarder, rasa_pgid=rasa_pgid, sites=sites)
            print(f"warm-up: {WARMUP[0]} bots, {WARMUP[1]:g} h (untimed) ...", file=sys.stderr)
            warm = await one_run(**common, bots=WARMUP[0], hours=WARMUP[1], naive=False, capped=False, label="warm-up")
            if replay:  # the same bots and hours after the corpus (today's clock) and among its replayed people
                for step, (bots, h) in enumerate(sorted(hours.items()), 1):
                    plan_of = read_replay(corpus_sources(tmp, quick), align_sites=True, hours=h)
                    print(f"[{step}/{len(hours)}] {bots:,} bots, {h:g} h after the corpus, then replayed "
                          f"({len(plan_of.posts):,} people's posts in the window) ...", file=sys.stderr)
                    runs.append(await one_run(**common, bots=bots, hours=h, naive=False, capped=False, label="run",
                                              mode="after"))
                    runs.append(await one_run(**common, bots=bots, hours=h, naive=False, capped=False, label="run",
                                              mode="replay", replay=plan_of))
            plan = [] if replay else [(bots, h, naive) for bots, h in sorted(hours.items()) for naive in (False, True)]
            for step, (bots, h, naive) in enumerate(plan, 1):
                capped = naive and naive_cap is not None and h > naive_cap
                h = min(h, naive_cap) if capped else h
                print(f"[{step}/{len(plan)}] {bots:,} bots, {'naive' if naive else 'murmur'} matcher, {h:g} h ...",
                      file=sys.stderr)
                runs.append(await one_run(**common, bots=bots, hours=h, naive=naive, capped=capped, label="run"))
            started_s = rasa.started_in_s or 0.0
        version = rasa_version(rasa_bin)
    embedder.close()

    print()
    print(machine(settings, threads, version))
    print(f"setup: corpus import {import_s:.0f} s; every run starts from a copy of an embedding cache holding only "
          f"the {cached:,} texts embedded before the first step (threads' parts, personas);\nRasa "
          f"{trained.model_path.name} ({'trained now' if trained.trained else 'already trained'}), server ready in "
          f"{started_s:.0f} s; warm-up "
          f"run {warm.result.wall_seconds + warm.setup_s:.0f} s ({warm.result.tally.turns} turns)")
    if any(r.capped for r in runs):
        print(f"* the naive run was capped at {naive_cap:g} simulated hours (--naive-max-hours); its rates are per "
              f"second, but 'same decisions' compares different spans")
    print()
    print(throughput_table(runs))
    print()
    print(detail_table(runs))
    for line in memory_lines(runs):
        print(line)
    print()
    print(NOTES)


def hours_argument(text: str) -> dict[int, float]:
    try:
        pairs = [part.split("=") for part in text.split(",") if part.strip()]
        plan = {int(b.replace("_", "")): float(h) for b, h in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give BOTS=HOURS pairs separated by commas, e.g. 10=24,100=6")
    if not plan or min(plan) < 1 or min(plan.values()) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: bots and hours must be positive")
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"every {QUICK_EVERY}th corpus thread and fewer hours (a few minutes)")
    parser.add_argument("--hours", type=hours_argument,
                        help="simulated hours per bot count, e.g. 10=24,100=6,1000=1.5 (overrides the plan)")
    parser.add_argument("--naive-max-hours", type=float, default=None,
                        help="cap the naive baseline's simulated hours (rates stay per second)")
    parser.add_argument("--replay", action="store_true",
                        help="compare a swarm after the corpus (today's clock) with one among its replayed people")
    parser.add_argument("--one-thread", action="store_true",
                        help="limit FAISS's OpenMP and the BLAS libraries to one thread (torch keeps its own)")
    args = parser.parse_args()
    hours = args.hours or (QUICK_HOURS if args.quick else FULL_HOURS)
    against = ("after the corpus (today's clock) vs among its replayed people" if args.replay
               else "murmur's matcher vs a naive brute-force one")
    print(f"murmur swarm bench: {', '.join(f'{b:,} bots x {h:g} h' for b, h in sorted(hours.items()))} on the "
          f"simulated clock, {against}{' (--quick)' if args.quick else ''}")
    sys.stdout.flush()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="murmur-bench-swarm-") as tmp:
        asyncio.run(bench(hours, args.naive_max_hours, args.quick, args.one_thread, Path(tmp), args.replay))
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
