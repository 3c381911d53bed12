"""The thread index's section of config.yml (``index:``): embeddings, their cache and backend, and FAISS."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from core.settings import Section


class IndexSettings(Section):
    """The thread index: embeddings, their cache, and FAISS."""

    path: Path = Path("var/threads.index")
    cache_path: Path = Path("var/embeddings.sqlite")
    hnsw_threshold: int = Field(50_000, ge=1, description="threads past which exact search gives way to HNSW")
    hnsw_m: int = Field(32, ge=4, le=128)
    ef_construction: int = Field(80, ge=8)
    ef_search: int = Field(64, ge=8)
    batch_size: int = Field(16, ge=1, le=1024, description="texts per model call (ONNX: per length-sorted batch; "
                                                            "measured here: 8-16 best, 128 35% slower)")
    threads: int | None = Field(None, ge=1, description="threads for embedding; empty means the backend's default")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx", description="how the model runs: torch, or ONNX Runtime in fp32 (the vectors of torch, faster) or "
                            "int8 (2.2x torch, relevance within 0.002, but bank replies measurably less responsive); "
                            "exported once to onnx_dir")
    shipped_vectors: bool = Field(True, description="take the shipped corpus's vectors (data/derived) when the cache "
                                                   "misses; false computes every vector on this machine")
    onnx_dir: Path = Field(Path("var/onnx"), description="where the ONNX exports of the model are kept")
