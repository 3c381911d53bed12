"""A real forum for the detection tests: real Stack Exchange threads from the shared corpus, plus five
groups of synthetic accounts, each with one known property, written through the real ForumStore with
its clock set per post (bots get ground truth and provenance like a swarm's would).

- ``regular``: posts at a fixed interval, to the second (timing);
- ``jittered``: the same schedule with +-45% jitter, into the same kind of threads (timing's control);
- ``duplicate``: near-duplicate messages across accounts (text);
- ``coordinated``: squads of four that post in the same threads within minutes (coordination);
- ``focused``: posts only in the threads nearest one narrow interest (relevance).

Bots other than ``duplicate`` write real human text from corpus threads that are not imported (the
unused text nearest the thread they post in, as a retrieval bot would), and bots other than
``regular`` and ``jittered`` post at human-like delays after real posts.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from conversations.importers import import_threads
from conversations.importers.jsonl import parse_thread
from conversations.models import Provenance, format_time, parse_time
from conversations.store import ForumStore
from tests.conftest import read_corpus_sample

GROUP_SIZE = 8
POSTS_EACH = 6
GROUPS = ("regular", "jittered", "duplicate", "coordinated", "focused")
INTERESTS = ("espresso extraction, grind size and brewing coffee", "neural network training and machine learning models")
CAMPAIGNS = (
    "Honestly the best thing I ever did for my setup was switching to the Arcturus hand grinder, it is cheap, "
    "consistent and the burrs last for years. You can find it on the Arcturus site with a discount this week.",
    "If you are struggling with this, try the Nimbus course on practical deep learning, it explains everything "
    "step by step and the community forum answers questions within a day. Worth every cent in my opinion.",
    "I had exactly the same problem last month and the fix was to buy the Halcyon starter kit, everything you "
    "need comes in one box and the instructions are clear even for complete beginners.",
)
SWAPS = {"best": "greatest", "cheap": "inexpensive", "consistent": "reliable", "problem": "issue", "fix": "solution",
         "everything": "all", "clear": "simple", "struggling": "stuck", "month": "week", "buy": "get", "years": "ages"}
OPENERS = ("", "Honestly, ", "FWIW ", "Just my two cents: ", "Same here. ", "")


@dataclass
class BuiltForum:
    db: Path
    groups: dict[str, list[str]]  # group -> account ids as the dataset writes them
    humans: list[str]


def _variant(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for i, word in enumerate(words):
        if word in SWAPS and rng.random() < 0.5:
            words[i] = SWAPS[word]
    return rng.choice(OPENERS) + " ".join(words)


def _stamp(seconds: float) -> str:
    return format_time(datetime.fromtimestamp(seconds, timezone.utc))


async def build_forum(db: Path, embedder, seed: int = 11) -> BuiltForum:
    rng = random.Random(seed)
    now = {"t": "2020-01-01T00:00:00.000000Z"}
    records = read_corpus_sample("threads.jsonl.gz", 180, every=10)
    imported, held_out = records[0::2], records[1::2]
    spare_texts = [p["body"] for r in held_out for p in r["posts"] if len(p["body"].split()) >= 15]
    rng.shuffle(spare_texts)
    spare_texts = spare_texts[:300]  # 192 are used; each candidate costs an embedding on a cold cache
    async with ForumStore(db, clock=lambda: now["t"]) as store:
        await import_threads(store, [parse_thread(r, f"corpus:{i}") for i, r in enumerate(imported)])
        threads = []
        for thread_id in range(1, len(imported) + 1):
            thread, posts = await store.get_thread(thread_id)
            threads.append((thread, posts[0].id, [parse_time(p.created_at).timestamp() for p in posts]))
        topics = embedder.embed([f"{t.title}\n{(await store.get_thread(t.id))[1][0].body}"[:1200] for t, _, _ in threads])
        spare_vectors = embedder.embed([text[:1200] for text in spare_texts])
        unused = np.ones(len(spare_texts), dtype=bool)

        def relevant_text(thread_index: int) -> str:
            """The unused human text nearest the thread: on topic, as a retrieval bot's would be, but no copy."""
            sims = np.where(unused, spare_vectors @ topics[thread_index], -np.inf)
            best = int(np.argmax(sims))
            unused[best] = False
            return spare_texts[best]

        humans = sorted({str(p.author.id) for t in range(1, len(imported) + 1) for p in (await store.get_thread(t))[1]})
        last = max(t for _, _, times in threads for t in times)
        groups: dict[str, list[str]] = {g: [] for g in GROUPS}

        async def post(account, thread_index: int, at: float, body: str, persona: str) -> None:
            thread, opening, _ = threads[thread_index]
            now["t"] = _stamp(at)
            created, _ = await store.create_post(account, thread.id, body, parent_id=opening)
            await store.record_provenance(Provenance(persona, "run-test", "scripted", action="answer", score=0.5),
                                          post_id=created.id)

        async def bot(group: str, n: int):
            persona = f"{group}-persona"
            account, _, _ = await store.create_synthetic_account(f"{group}_{n}", f"{group} {n}", persona, "run-test", "scripted")
            groups[group].append(str(account.id))
            return account, persona

        def human_like(thread_index: int, upto_s: float = 8 * 3600) -> float:
            return rng.choice(threads[thread_index][2]) + rng.uniform(600, upto_s)

        for n in range(GROUP_SIZE):
            interval = rng.choice([5400, 7200, 11820, 14400])
            start = last + 86400 * (1 + n) + rng.uniform(0, 3600)
            for group in ("regular", "jittered"):
                account, persona = await bot(group, n)
                times = [start + k * interval for k in range(POSTS_EACH)]
                if group == "jittered":
                    times = sorted(t + rng.uniform(-0.45, 0.45) * interval for t in times)
                for k, at in enumerate(times):
                    index = rng.randrange(len(threads))
                    await post(account, index, at, relevant_text(index), persona)
        for n in range(GROUP_SIZE):
            account, persona = await bot("duplicate", n)
            for k in range(POSTS_EACH):
                index = rng.randrange(len(threads))
                await post(account, index, human_like(index), _variant(CAMPAIGNS[(n + k) % len(CAMPAIGNS)], rng), persona)
        for squad in range(GROUP_SIZE // 4):
            members = [await bot("coordinated", squad * 4 + m) for m in range(4)]
            for index in rng.sample(range(len(threads)), POSTS_EACH):
                visit = human_like(index, 2 * 3600)
                for account, persona in members:
                    await post(account, index, visit + rng.uniform(0, 480), relevant_text(index), persona)
        for n in range(GROUP_SIZE):
            account, persona = await bot("focused", n)
            interest = embedder.embed_one(INTERESTS[n % len(INTERESTS)])
            nearest = np.argsort(-(topics @ interest))[:POSTS_EACH + 2]
            for index in rng.sample(list(nearest), POSTS_EACH):
                await post(account, int(index), human_like(int(index)), relevant_text(int(index)), persona)
    return BuiltForum(db=db, groups=groups, humans=humans)


@pytest.fixture(scope="session")
def built_forum(tmp_path_factory, embedder) -> BuiltForum:
    return asyncio.run(build_forum(tmp_path_factory.mktemp("detection") / "forum.db", embedder))


@pytest.fixture(scope="session")
def dataset_dir(built_forum, tmp_path_factory) -> Path:
    from detection.export import export_forum

    out = tmp_path_factory.mktemp("dataset") / "ds"
    export_forum(built_forum.db, out)
    return out


@dataclass
class Computed:
    """The dataset with its signals, and each group's account rows."""

    dataset: object
    signals: object
    accounts: object  # FeatureTable, one row per account
    rows: dict[str, np.ndarray]  # group (and "human") -> account rows


@pytest.fixture(scope="session")
def computed(dataset_dir, built_forum, embedder) -> Computed:
    from detection.dataset import load_dataset
    from detection.features import account_features, embed_forum, post_signals

    dataset = load_dataset(dataset_dir)
    signals = post_signals(dataset.forum, embed_forum(dataset.forum, embedder))
    index = {a: i for i, a in enumerate(dataset.forum.account_ids)}
    rows = {g: np.array([index[a] for a in ids]) for g, ids in built_forum.groups.items()}
    rows["human"] = np.array([index[a] for a in built_forum.humans])
    return Computed(dataset, signals, account_features(signals), rows)
