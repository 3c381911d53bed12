"""ThreadIndex: thread vectors in FAISS, keyed by thread id.

Exact search (flat inner product) while small; past ``hnsw_threshold``
vectors it is rebuilt as HNSW, whose recall against exact search is measured
in ``bench/index.py``. FAISS's HNSW cannot remove vectors, so both kinds use
one design: every upsert adds the vector under a fresh internal label and
marks the thread's old label dead; searches over-fetch and skip dead labels;
once dead labels pass ``compact_fraction`` of the index it is compacted (one
batched removal for flat, a rebuild for HNSW). Saving writes one file through
a temporary file and a rename, so a killed save leaves the old index loadable.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexFileError, UnknownThread

FORMAT = "murmur-thread-index/1"
REBUILD_HINT = "rebuild it with `murmur index build`"


@dataclass(frozen=True)
class Hit:
    thread_id: int
    score: float


class ThreadIndex:
    def __init__(self, dims: int, model_id: str, *, hnsw_threshold: int = 50_000, hnsw_m: int = 32,
                 ef_construction: int = 80, ef_search: int = 64, compact_fraction: float = 0.2) -> None:
        self.dims = dims
        self.model_id = model_id
        self.hnsw_threshold = hnsw_threshold
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.compact_fraction = compact_fraction
        self.kind = "flat"
        self.last_seq = 0  # the forum event this index has caught up with
        self._index = self._empty("flat")
        self._label_of: dict[int, int] = {}  # thread id -> live label
        self._thread_of: dict[int, int] = {}  # live label -> thread id
        self._dead: set[int] = set()
        self._next_label = 0

    # -- structure ---------------------------------------------------------------------------

    def _empty(self, kind: str) -> faiss.Index:
        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dims, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
        else:
            inner = faiss.IndexFlatIP(self.dims)
        return faiss.IndexIDMap2(inner)

    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, thread_id: object) -> bool:
        return thread_id in self._label_of

    @property
    def dead_count(self) -> int:
        return len(self._dead)

    def thread_ids(self) -> list[int]:
        return list(self._label_of)

    def vector(self, thread_id: int) -> np.ndarray:
        label = self._label_of.get(thread_id)
        if label is None:
            raise UnknownThread(f"thread {thread_id} is not in the index; index it first (murmur index build)")
        return self._index.reconstruct(label)

    def vectors(self, thread_ids: Sequence[int]) -> np.ndarray:
        """Several threads' vectors in one call (one row each, in order)."""
        labels = []
        for thread_id in thread_ids:
            label = self._label_of.get(thread_id)
            if label is None:
                raise UnknownThread(f"thread {thread_id} is not in the index; index it first (murmur index build)")
            labels.append(label)
        if not labels:
            return np.empty((0, self.dims), dtype=np.float32)
        return self._index.reconstruct_batch(np.asarray(labels, dtype=np.int64))

    def _check(self, vectors: np.ndarray, count: int) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dims) if vectors.size else vectors
        if vectors.shape != (count, self.dims):
            raise ValueError(f"expected {count} vectors of {self.dims} dims, got shape {vectors.shape}")
        return vectors

    # -- writes --------------------------------------------------------------------------------

    def upsert(self, thread_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add threads, or replace their vectors; the last vector wins for a repeated id."""
        vectors = self._check(np.asarray(vectors), len(thread_ids))
        if not len(thread_ids):
            return
        labels = np.arange(self._next_label, self._next_label + len(thread_ids), dtype=np.int64)
        self._next_label += len(thread_ids)
        for thread_id, label in zip(thread_ids, labels.tolist()):
            old = self._label_of.get(int(thread_id))
            if old is not None:
                self._dead.add(old)
                del self._thread_of[old]
            self._label_of[int(thread_id)] = label
            self._thread_of[label] = int(thread_id)
        self._index.add_with_ids(vectors, labels)
        if self.kind == "flat" and len(self) > self.hnsw_threshold:
            self._rebuild("hnsw")
        else:
            self._maybe_compact()

    def remove(self, thread_ids: Iterable[int]) -> int:
        """Forget threads; unknown ids are ignored. Returns how many were removed."""
        removed = 0
        for thread_id in thread_ids:
            label = self._label_of.pop(int(thread_id), None)
            if label is not None:
                del self._thread_of[label]
                self._dead.add(label)
                removed += 1
        self._maybe_compact()
        return removed

    def _maybe_compact(self) -> None:
        if self._dead and len(self._dead) > self.compact_fraction * max(1, self._index.ntotal):
            self.compact()

    def compact(self) -> None:
        """Drop dead entries for real: one batched removal (flat) or a rebuild (HNSW)."""
        if not self._dead:
            return
        if self.kind == "flat":
            self._index.remove_ids(np.fromiter(self._dead, dtype=np.int64))
            self._dead.clear()
        else:
            self._rebuild("hnsw")

    def _rebuild(self, kind: str) -> None:
        labels = np.fromiter(self._thread_of, dtype=np.int64, count=len(self._thread_of))
        vectors = np.vstack([self._index.reconstruct(int(label)) for label in labels]) if len(labels) else \
            np.empty((0, self.dims), dtype=np.float32)
        self.kind = kind
        self._index = self._empty(kind)
        if len(labels):
            self._index.add_with_ids(vectors, labels)
        self._dead.clear()

    # -- search ----------------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int = 10) -> list[Hit]:
        """The k threads nearest one query vector, best first."""
        return self.search_many(np.asarray(query).reshape(1, -1), k)[0]

    def search_many(self, queries: np.ndarray, k: int = 10) -> list[list[Hit]]:
        queries = self._check(np.asarray(queries), len(queries))
        if k < 1:
            raise ValueError("k must be at least 1")
        live = len(self)
        if live == 0:
            return [[] for _ in range(len(queries))]
        want = min(k, live)
        # over-fetch to step over dead entries; widen (rarely) when a query still comes up short
        fetch = min(self._index.ntotal, want + min(len(self._dead), 3 * want + 16))
        while True:
            scores, labels = self._index.search(queries, fetch)
            results = [self._live_hits(row_scores, row_labels, want) for row_scores, row_labels in zip(scores, labels)]
            if fetch >= self._index.ntotal or all(len(hits) == want for hits in results):
                return results
            fetch = min(self._index.ntotal, fetch * 4)

    def _live_hits(self, scores: np.ndarray, labels: np.ndarray, want: int) -> list[Hit]:
        hits = []
        for score, label in zip(scores.tolist(), labels.tolist()):
            thread_id = self._thread_of.get(label)
            if thread_id is not None:
                hits.append(Hit(thread_id, score))
                if len(hits) == want:
                    break
        return hits

    # -- persistence -----------------------------------------------------------------------------

    def _meta(self) -> dict:
        return {
            "format": FORMAT, "model_id": self.model_id, "dims": self.dims, "kind": self.kind, "last_seq": self.last_seq,
            "hnsw_threshold": self.hnsw_threshold, "hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction,
            "ef_search": self.ef_search, "compact_fraction": self.compact_fraction, "next_label": self._next_label,
        }

    def save(self, path: Path | str) -> None:
        """Write index, id map, model and dimensions to one file, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "flat":
            self.compact()  # cheap for flat; an HNSW index keeps its dead labels (they are derived again on load)
        labels = np.fromiter(self._thread_of, dtype=np.int64, count=len(self._thread_of))
        threads = np.fromiter(self._thread_of.values(), dtype=np.int64, count=len(self._thread_of))
        index_bytes = faiss.serialize_index(self._index)
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.frombuffer(json.dumps(self._meta()).encode(), dtype=np.uint8),
                 labels=labels, threads=threads, index=index_bytes)
        payload = buffer.getvalue()
        digest = hashlib.sha256(payload).hexdigest().encode()
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(digest + b"\n" + payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path | str, *, model_id: str, dims: int) -> "ThreadIndex":
        """Read a saved index; refuse a corrupt file or one built with another model, saying how to rebuild."""
        path = Path(path)
        if not path.exists():
            raise IndexFileError(f"{path}: no index here yet; build it with `murmur index build`")
        raw = path.read_bytes()
        digest, _, payload = raw.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise IndexFileError(f"{path}: the file is corrupt (checksum mismatch); {REBUILD_HINT}")
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes())
                labels, threads, index_bytes = data["labels"], data["threads"], data["index"]
        except (ValueError, KeyError, OSError) as exc:
            raise IndexFileError(f"{path}: not a murmur thread index ({exc}); {REBUILD_HINT}") from None
        if meta.get("format") != FORMAT:
            raise IndexFileError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}; {REBUILD_HINT}")
        if meta["model_id"] != model_id or meta["dims"] != dims:
            raise IndexFileError(
                f"{path}: built with {meta['model_id']} ({meta['dims']} dims), but this murmur embeds with "
                f"{model_id} ({dims} dims); searching it would give wrong results, so {REBUILD_HINT}")
        index = cls(dims, model_id, hnsw_threshold=meta["hnsw_threshold"], hnsw_m=meta["hnsw_m"],
                    ef_construction=meta["ef_construction"], ef_search=meta["ef_search"],
                    compact_fraction=meta["compact_fraction"])
        index.kind = meta["kind"]
        index.last_seq = meta["last_seq"]
        index._next_label = meta["next_label"]
        index._index = faiss.deserialize_index(index_bytes)
        if index.kind == "hnsw":
            faiss.downcast_index(index._index.index).hnsw.efSearch = index.ef_search
        index._thread_of = dict(zip(labels.tolist(), threads.tolist()))
        index._label_of = {t: l for l, t in index._thread_of.items()}
        stored = set(faiss.vector_to_array(index._index.id_map).tolist())
        if not set(index._thread_of) <= stored:
            raise IndexFileError(f"{path}: id map and index disagree; {REBUILD_HINT}")
        index._dead = stored - set(index._thread_of)
        return index
