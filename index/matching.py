"""Matcher: persona -> threads ("which conversations should this persona join") and
thread -> personas ("who ought to be in this conversation"), with scores and reasons.

A persona is searched with one vector per interest, not one blended vector:
a persona who cares about espresso extraction and about milk steaming should
find threads about either, and a blend of the two finds neither well. A
thread's score for a persona is its best interest's cosine similarity, and
that interest is the reason given. Interest phrases are short and can be
ambiguous ("health effects" of beer or of coffee?), so the score also
carries a smaller share of the persona's context: the similarity to its bio
and interests taken together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.embedder import Embedder
from index.errors import EmptyText, UnknownPersona
from index.threads import ThreadIndex

CONTEXT_WEIGHT = 0.25


@dataclass(frozen=True)
class PersonaProfile:
    """What matching needs of a persona (the full persona format belongs to bots/)."""

    name: str
    interests: tuple[str, ...]
    bio: str = ""


@dataclass(frozen=True)
class ThreadMatch:
    thread_id: int
    score: float
    reason: str  # the interest that matched best


@dataclass(frozen=True)
class PersonaMatch:
    persona: str
    score: float
    reason: str


class Matcher:
    def __init__(self, embedder: Embedder, index: ThreadIndex, personas: Sequence[PersonaProfile] = (),
                 *, context_weight: float = CONTEXT_WEIGHT, candidates: int = 3) -> None:
        self.embedder = embedder
        self.index = index
        self.context_weight = context_weight
        self.candidates = candidates  # per interest, k * candidates threads are re-scored
        self._personas: dict[str, PersonaProfile] = {}
        self._owner: list[int] = []  # row of _vectors -> persona position
        self._reasons: list[str] = []
        self._vectors = np.empty((0, embedder.dims), dtype=np.float32)
        self.set_personas(personas)

    def set_personas(self, personas: Sequence[PersonaProfile]) -> None:
        texts, owner, reasons = [], [], []
        for position, persona in enumerate(personas):
            interests = [i for i in persona.interests if i.strip()]
            if not interests:
                raise EmptyText(f"persona {persona.name!r}: no interests to match on; give it at least one")
            texts.extend(interests)
            owner.extend([position] * len(interests))
            reasons.extend(interests)
        self._personas = {p.name: p for p in personas}
        self._names = [p.name for p in personas]
        self._owner, self._reasons = owner, reasons
        self._vectors = self.embedder.embed(texts) if texts else np.empty((0, self.embedder.dims), dtype=np.float32)
        self._contexts = np.vstack([self._context(p, self._vectors[[r for r, o in enumerate(owner) if o == n]])
                                    for n, p in enumerate(personas)]) if personas else self._vectors[:0]

    def _context(self, persona: PersonaProfile, interest_vectors: np.ndarray) -> np.ndarray:
        parts = [interest_vectors.mean(axis=0)]
        if persona.bio.strip():
            parts.append(self.embedder.embed_one(persona.bio))
        context = np.mean(parts, axis=0)
        return (context / np.linalg.norm(context)).astype(np.float32)

    @property
    def persona_names(self) -> list[str]:
        return list(self._names)

    def _interest_rows(self, name: str) -> list[int]:
        if name not in self._personas:
            raise UnknownPersona(f"no persona named {name!r}; known: {', '.join(self._names) or 'none'}")
        position = self._names.index(name)
        return [row for row, owner in enumerate(self._owner) if owner == position]

    def _best_threads(self, vectors: np.ndarray, reasons: Sequence[str], context: np.ndarray | None, k: int) -> list[ThreadMatch]:
        candidates = {hit.thread_id for hits in self.index.search_many(vectors, k * self.candidates) for hit in hits}
        if not candidates:
            return []
        ids = sorted(candidates)
        thread_vectors = self.index.vectors(ids)
        similarities = thread_vectors @ vectors.T  # threads x interests
        best = similarities.argmax(axis=1)
        scores = similarities.max(axis=1)
        if context is not None and self.context_weight:
            scores = scores + self.context_weight * (thread_vectors @ context)
        order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))[:k]
        return [ThreadMatch(ids[i], float(scores[i]), reasons[best[i]]) for i in order]

    def threads_for(self, persona: str, k: int = 10) -> list[ThreadMatch]:
        """The k threads that best fit one of the persona's interests, best first."""
        rows = self._interest_rows(persona)
        context = self._contexts[self._names.index(persona)]
        return self._best_threads(self._vectors[rows], [self._reasons[r] for r in rows], context, k)

    def threads_for_interests(self, interests: Sequence[str], k: int = 10) -> list[ThreadMatch]:
        """The same search for ad-hoc interests (e.g. from the command line)."""
        interests = [i for i in interests if i.strip()]
        if not interests:
            raise EmptyText("interests: nothing to match on; give at least one interest")
        vectors = self.embedder.embed(interests)
        context = vectors.mean(axis=0)
        return self._best_threads(vectors, interests, context / np.linalg.norm(context), k)

    def personas_for_vector(self, vector: np.ndarray, k: int | None = None) -> list[PersonaMatch]:
        """Personas ranked by their best interest's similarity to a thread vector."""
        if not self._names:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        similarities = self._vectors @ vector
        context_scores = self.context_weight * (self._contexts @ vector)
        best: dict[int, tuple[float, int]] = {}
        for row, score in enumerate(similarities.tolist()):
            owner = self._owner[row]
            if owner not in best or score > best[owner][0]:
                best[owner] = (score, row)
        ranked = sorted(((owner, score + float(context_scores[owner]), row) for owner, (score, row) in best.items()),
                        key=lambda item: (-item[1], item[0]))
        matches = [PersonaMatch(self._names[owner], score, self._reasons[row]) for owner, score, row in ranked]
        return matches[:k] if k else matches

    def persona_scores(self, thread_vectors: np.ndarray) -> np.ndarray:
        """Every persona's score for every thread vector (threads x personas), as ``personas_for_vector`` scores."""
        similarities = np.asarray(thread_vectors, dtype=np.float32) @ self._vectors.T  # threads x interests
        best = np.full((len(similarities), len(self._names)), -np.inf, dtype=np.float32)
        for row, owner in enumerate(self._owner):
            np.maximum(best[:, owner], similarities[:, row], out=best[:, owner])
        return best + self.context_weight * (np.asarray(thread_vectors, dtype=np.float32) @ self._contexts.T)

    def audience_threads(self, thread_ids: Sequence[int], *, personas: Sequence[str] = (), interests: Sequence[str] = (),
                         top_k: int = 3, k: int = 10) -> list[ThreadMatch]:
        """The threads an audience is expected in, best first: what a platform knows of who ought to be where.

        A thread scores the summed scores of the audience's personas that the ranking puts in its top ``top_k`` (the
        thread -> personas ranking of ``personas_for``), plus its best cosine to the audience's interests. Threads
        with neither are left out. Ties go to the lower thread id, so a seeded run picks the same targets.
        """
        ids = [t for t in thread_ids if t in self.index]
        for name in personas:
            self._interest_rows(name)  # an unknown persona is named, not silently skipped
        if not ids:
            return []
        vectors = self.index.vectors(ids)
        scores = np.zeros(len(ids), dtype=np.float64)
        reasons = [""] * len(ids)
        if personas:
            table = self.persona_scores(vectors)
            ranks = (-table).argsort(axis=1, kind="stable")[:, :top_k]
            wanted = {self._names.index(name) for name in personas}
            for i, top in enumerate(ranks):
                members = [int(p) for p in top if int(p) in wanted]
                scores[i] += sum(float(table[i, p]) for p in members)
                if members:
                    reasons[i] = ", ".join(self._names[p] for p in members)
        interests = [i for i in interests if i.strip()]
        if interests:
            similarity = (vectors @ self.embedder.embed(interests).T).max(axis=1)
            for i in np.flatnonzero(similarity > 0):
                scores[i] += float(similarity[i])
                reasons[i] = reasons[i] or "interests"
        order = sorted((i for i in range(len(ids)) if scores[i] > 0), key=lambda i: (-scores[i], ids[i]))[:k]
        return [ThreadMatch(ids[i], float(scores[i]), reasons[i]) for i in order]

    def personas_for(self, thread_id: int, k: int | None = None) -> list[PersonaMatch]:
        """Who ought to be in this conversation, best first."""
        return self.personas_for_vector(self.index.vector(thread_id), k)
