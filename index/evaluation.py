"""Matching quality on real forum data, murmur's matcher side by side with a naive one.

The corpus is data/forum-corpus (shipped with the project): topical Stack Exchange threads with
"meta" threads mixed in as off-topic distractors. Personas are written per
site (site level: does a persona find its site and avoid the distractors?)
and with narrow interests inside a site (topic level: relevance judged by
the threads' Stack Exchange tags). The naive matcher is the obvious first
attempt: thread = title + first 300 characters of the opening post, persona =
bio + interests in one text, exact inner-product search.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from conversations.importers.jsonl import open_jsonl
from index.documents import ThreadText, thread_vectors
from index.embedder import Embedder
from index.matching import Matcher, PersonaProfile
from index.threads import ThreadIndex

PERSONAS_FILE = Path(__file__).with_name("corpus_personas.yml")
K = 10


@dataclass(frozen=True)
class CorpusThread:
    id: int
    site: str
    tags: frozenset[str]
    distractor: bool
    text: ThreadText


@dataclass(frozen=True)
class EvalPersona:
    profile: PersonaProfile
    site: str
    relevant_tags: frozenset[str] = frozenset()


def load_corpus(folder: Path, limit_per_file: int | None = None) -> list[CorpusThread]:
    threads: list[CorpusThread] = []
    for name, distractor in (("threads.jsonl.gz", False), ("distractors.jsonl.gz", True)):
        with open_jsonl(folder / name) as handle:
            for count, line in enumerate(handle):
                if limit_per_file is not None and count >= limit_per_file:
                    break
                record = json.loads(line)
                posts = record["posts"]
                text = ThreadText(len(threads) + 1, record["title"], posts[0]["body"], tuple(p["body"] for p in posts[1:]))
                threads.append(CorpusThread(len(threads) + 1, record["site"], frozenset(record["tags"]), distractor, text))
    return threads


def load_personas(path: Path = PERSONAS_FILE) -> tuple[list[EvalPersona], list[EvalPersona]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))

    def read(entries: list[dict]) -> list[EvalPersona]:
        return [EvalPersona(PersonaProfile(e["name"], tuple(e["interests"]), e.get("bio", "")), e["site"],
                            frozenset(e.get("relevant_tags", ()))) for e in entries]

    return read(data["site_personas"]), read(data["topic_personas"])


class NaiveMatcher:
    """The baseline: one vector per thread (title + 300 characters), one blended vector per persona."""

    def __init__(self, embedder: Embedder, threads: Sequence[CorpusThread]) -> None:
        self.embedder = embedder
        self.ids = np.array([t.id for t in threads])
        self.vectors = embedder.embed([f"{t.text.title}\n{t.text.opening[:300]}" for t in threads])

    def persona_vector(self, persona: PersonaProfile) -> np.ndarray:
        return self.embedder.embed_one(f"{persona.bio} {', '.join(persona.interests)}")

    def threads_for(self, persona: PersonaProfile, k: int = K) -> list[int]:
        scores = self.vectors @ self.persona_vector(persona)
        return self.ids[np.argsort(-scores, kind="stable")[:k]].tolist()

    def personas_for(self, personas: Sequence[PersonaProfile]) -> np.ndarray:
        """Rank of personas per thread: the argmax persona position for every thread."""
        matrix = np.vstack([self.persona_vector(p) for p in personas])
        return np.argmax(self.vectors @ matrix.T, axis=1)


def build_matcher(embedder: Embedder, threads: Sequence[CorpusThread], personas: Sequence[EvalPersona]) -> Matcher:
    index = ThreadIndex(embedder.dims, embedder.model_id)
    index.upsert([t.id for t in threads], thread_vectors(embedder, [t.text for t in threads]))
    return Matcher(embedder, index, [p.profile for p in personas])


def ndcg(relevance: Sequence[bool], total_relevant: int, k: int = K) -> float:
    dcg = sum(1 / math.log2(rank + 2) for rank, rel in enumerate(relevance[:k]) if rel)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, total_relevant)))
    return dcg / ideal if ideal else 0.0


@dataclass
class Scores:
    site_precision: float = 0.0
    distractor_share: float = 0.0
    topic_precision: float = 0.0
    topic_ndcg: float = 0.0
    thread_to_persona_first: float = 0.0
    per_persona: dict[str, dict[str, float]] = field(default_factory=dict)


def evaluate(embedder: Embedder, threads: Sequence[CorpusThread], site_personas: Sequence[EvalPersona],
             topic_personas: Sequence[EvalPersona]) -> tuple[Scores, Scores]:
    """(murmur, naive) scores on the same threads and personas."""
    by_id = {t.id: t for t in threads}
    everyone = [*site_personas, *topic_personas]
    matcher = build_matcher(embedder, threads, everyone)
    naive = NaiveMatcher(embedder, threads)
    results = []
    for name in ("murmur", "naive"):
        scores = Scores()

        def top(persona: EvalPersona) -> list[int]:
            if name == "murmur":
                return [m.thread_id for m in matcher.threads_for(persona.profile.name, K)]
            return naive.threads_for(persona.profile, K)

        site_p, distract = [], []
        for persona in site_personas:
            ids = top(persona)
            site_p.append(sum(by_id[i].site == persona.site for i in ids) / K)
            distract.append(sum(by_id[i].distractor for i in ids) / K)
            scores.per_persona[persona.profile.name] = {"precision@10": site_p[-1]}
        topic_p, topic_n = [], []
        for persona in topic_personas:
            relevant = {t.id for t in threads if t.site == persona.site and t.tags & persona.relevant_tags}
            hits = [i in relevant for i in top(persona)]
            topic_p.append(sum(hits) / K)
            topic_n.append(ndcg(hits, len(relevant)))
            scores.per_persona[persona.profile.name] = {"precision@10": topic_p[-1], "ndcg@10": topic_n[-1]}
        topical = [t for t in threads if not t.distractor]
        if name == "murmur":
            firsts = [everyone_site(matcher.personas_for(t.id, 1)[0].persona, everyone) == t.site for t in topical]
        else:
            winners = naive.personas_for([p.profile for p in everyone])
            position = {t.id: row for row, t in enumerate(threads)}
            firsts = [everyone[winners[position[t.id]]].site == t.site for t in topical]
        scores.site_precision = float(np.mean(site_p))
        scores.distractor_share = float(np.mean(distract))
        scores.topic_precision = float(np.mean(topic_p))
        scores.topic_ndcg = float(np.mean(topic_n))
        scores.thread_to_persona_first = float(np.mean(firsts))
        results.append(scores)
    return results[0], results[1]


def everyone_site(name: str, personas: Sequence[EvalPersona]) -> str:
    return next(p.site for p in personas if p.profile.name == name)
