"""How a thread becomes one vector.

A thread is what it is about (its title and opening post) plus what people
made of it (the replies). Its vector is the normalised weighted sum of:
the title alone (short, on-topic, and weighted so a long rambling opening
post cannot drown it), the title with the opening post, and the mean of
its first replies. Every part is embedded (and cached) separately, so a new
reply costs one embedding, not a re-embedding of the thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the embedder's shipped vectors (index/shipped.py) are made of these documents
    from index.embedder import Embedder

TITLE_WEIGHT = 1.0
OPENING_WEIGHT = 1.0
REPLIES_WEIGHT = 0.5
MAX_REPLIES = 4  # the first replies say what the thread is about; later ones drift
MAX_CHARS = 1200  # ~256 word pieces, the model's window: longer text is cut here, explicitly


def clip(text: str) -> str:
    return text.strip()[:MAX_CHARS]


@dataclass(frozen=True)
class ThreadText:
    thread_id: int
    title: str
    opening: str
    replies: tuple[str, ...] = ()

    def parts(self) -> tuple[str, str, list[str]]:
        title = clip(self.title)
        opening = clip(f"{self.title}\n{self.opening}")
        replies = [clip(r) for r in self.replies if r.strip()][:MAX_REPLIES]
        return title, opening, replies


def thread_vectors(embedder: Embedder, threads: Sequence[ThreadText]) -> np.ndarray:
    """One normalised vector per thread, from one batched (and cached) embedding call."""
    texts: list[str] = []
    spans = []
    for thread in threads:
        title, opening, replies = thread.parts()
        spans.append((len(texts), len(replies)))
        texts.extend([title, opening, *replies])
    vectors = embedder.embed(texts) if texts else np.empty((0, embedder.dims), dtype=np.float32)
    out = np.empty((len(threads), embedder.dims), dtype=np.float32)
    for row, (start, n_replies) in enumerate(spans):
        combined = TITLE_WEIGHT * vectors[start] + OPENING_WEIGHT * vectors[start + 1]
        if n_replies:
            combined = combined + REPLIES_WEIGHT * vectors[start + 2:start + 2 + n_replies].mean(axis=0)
        out[row] = combined / np.linalg.norm(combined)
    return out
