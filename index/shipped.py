"""The embedding vectors of the shipped corpus's texts, shipped with it (``data/derived/vectors-<backend>.npz``).

Every first run embeds the same texts (the forum's threads, the reply bank, the distractors): ~19k texts, minutes
on two cores, with results that differ in the last bits from machine to machine (ONNX Runtime rounds differently
on other core counts). Shipping the vectors makes the first run fast and the corpus's decisions the same
everywhere. The pack is keyed like the embedding cache (model, backend and text, hashed), so it is used only for
the exact model and backend it was made with; the embedder takes a vector from it when its cache misses and puts
it in the cache. A pack whose checksum, model or contents do not match is refused once, with a warning naming the
file and the fix, and the embedder computes instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from core.files import sha256_of
from core.shipped import DERIVED_DIR, ShippedFileRefused, checked, read_manifest, record, refused
from index.documents import ThreadText, clip

log = logging.getLogger("murmur.index")

KEY_BYTES = 16  # of the cache key's sha256: 128 bits, no collision among millions of texts
ENCODINGS = ("float16", "float32")
NORM_TOLERANCE = 0.01  # every shipped vector is unit length (float16 rounding moves it by ~1e-4)


def shipped_sources() -> tuple[tuple[Path, str], ...]:
    """What is embedded of each shipped source: every post of the corpus (the reply bank, its contexts, the
    detectors' posts), the thread documents of the distractors (the index), all of the seed threads."""
    from conversations.importers import CORPUS_DISTRACTORS, CORPUS_THREADS, SEED_THREADS

    return ((CORPUS_THREADS, "posts"), (CORPUS_DISTRACTORS, "threads"), (SEED_THREADS, "posts"))


def pack_name(backend: str) -> str:
    return f"vectors-{backend}.npz"


def _source_texts(path: Path, what: str) -> Iterator[str]:
    from conversations.importers import open_source

    threads, _ = open_source(path)
    for thread in threads:
        title, opening, replies = ThreadText(0, thread.title, thread.posts[0].body if thread.posts else "",
                                             tuple(p.body for p in thread.posts[1:])).parts()
        yield title
        yield opening
        yield from replies
        if what == "posts":
            yield from (clip(p.body) for p in thread.posts)


def corpus_texts(sources: Iterable[tuple[Path, str]] | None = None) -> list[str]:
    """Every text murmur embeds from the shipped data, once each, in a stable order."""
    return sorted({text for path, what in (sources or shipped_sources()) for text in _source_texts(path, what)
                   if text.strip()})


def source_checksums(sources: Iterable[tuple[Path, str]] | None = None) -> dict[str, str]:
    return {f"{path.parent.name}/{path.name}": sha256_of(path) for path, _ in (sources or shipped_sources())}


def short_key(key: str) -> bytes:
    return bytes.fromhex(key[:2 * KEY_BYTES])


def write_pack(keys: Sequence[str], vectors: np.ndarray, *, model_id: str, backend: str, encoding: str,
               folder: Path = DERIVED_DIR, sources: dict[str, str] | None = None) -> Path:
    """Write ``vectors`` (one row per cache key) as the shipped pack for ``backend`` and list it in the manifest."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding: {encoding!r}; use one of {', '.join(ENCODINGS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    packed_keys = np.frombuffer(b"".join(short_key(keys[i]) for i in order), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
    name = pack_name(backend)
    tmp = folder / f".{name}.tmp.npz"
    with tmp.open("wb") as handle:  # uncompressed: float vectors do not compress, and loading stays a plain read
        np.savez(handle, keys=packed_keys, vectors=np.asarray(vectors, dtype=np.float32)[order].astype(encoding))
    tmp.replace(folder / name)
    record(name, {"model_id": model_id, "backend": backend, "encoding": encoding, "count": len(keys),
                  "dims": int(vectors.shape[1]), "sources": sources or source_checksums()}, folder)
    return folder / name


class ShippedVectors:
    """The shipped pack for one model and backend: cache key -> vector, read and checked on first use."""

    def __init__(self, model_id: str, backend: str, dims: int, folder: Path = DERIVED_DIR) -> None:
        self.model_id = model_id
        self.backend = backend
        self.dims = dims
        self.folder = Path(folder)
        self.refusal: str | None = None  # why the pack was refused, once it was
        self._rows: dict[bytes, int] | None = None
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The shipped vectors of those ``keys`` that the pack holds, as float32."""
        rows = self._loaded()
        if not rows:
            return {}
        found = {key: rows.get(short_key(key)) for key in keys}
        found = {key: row for key, row in found.items() if row is not None}
        if not found:
            return {}
        block = self._vectors[list(found.values())].astype(np.float32)
        if self._vectors.dtype != np.float32:  # rounded to fewer bits: unit length again, as the model gives them
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        return dict(zip(found, block))

    def _loaded(self) -> dict[bytes, int]:
        with self._lock:
            if self._rows is None:
                self._rows = {}
                try:
                    self._rows = self._load()
                except ShippedFileRefused as exc:
                    self.refusal = str(exc)
                    log.warning("shipped vectors refused, computing instead: %s", exc)
            return self._rows

    def _load(self) -> dict[bytes, int]:
        name = pack_name(self.backend)
        if name not in read_manifest(self.folder)["files"] and not (self.folder / name).exists():
            return {}  # nothing shipped for this backend: nothing to refuse
        shipped = checked(name, self.folder)
        entry, path = shipped.entry, shipped.path
        if entry.get("model_id") != self.model_id:
            raise refused(path, f"made with {entry.get('model_id')!r}, but this embedder runs {self.model_id!r}")
        try:
            with np.load(path, allow_pickle=False) as pack:
                keys, vectors = pack["keys"], pack["vectors"]
        except (OSError, ValueError, KeyError) as exc:
            raise refused(path, f"not a vector pack ({exc})") from None
        count = entry.get("count")
        if (keys.shape != (count, KEY_BYTES) or keys.dtype != np.uint8 or vectors.shape != (count, self.dims)
                or vectors.dtype.name != entry.get("encoding")):
            raise refused(path, f"holds keys {keys.shape} {keys.dtype} and vectors {vectors.shape} {vectors.dtype}, "
                                f"not the {count} x {self.dims} {entry.get('encoding')} its manifest entry says")
        norms = np.linalg.norm(vectors.astype(np.float32), axis=1)
        if not np.all(np.isfinite(norms)) or np.any(np.abs(norms - 1) > NORM_TOLERANCE):
            raise refused(path, "holds vectors that are not unit length")
        self._vectors = vectors
        return {keys[i].tobytes(): i for i in range(len(keys))}


def pack_problems(model_id: str, backend: str, dims: int, folder: Path = DERIVED_DIR) -> list[str]:
    """Why the shipped pack for ``backend`` is not what this checkout would compute (empty: it is), without
    computing a vector: the model, the sources' checksums and the exact set of texts."""
    from index.cache import text_key

    name = pack_name(backend)
    try:
        entry = checked(name, folder).entry
    except ShippedFileRefused as exc:
        return [str(exc)]
    problems = []
    if entry.get("model_id") != model_id:
        problems.append(f"{name} was made with {entry.get('model_id')!r}; the installed model is {model_id!r}")
    if entry.get("sources") != source_checksums():
        problems.append(f"{name} was made from other versions of the shipped corpus files")
    with np.load(Path(folder) / name, allow_pickle=False) as pack:
        held = {row.tobytes() for row in pack["keys"]}
    wanted = {short_key(text_key(model_id, t)) for t in corpus_texts()}
    if held != wanted:
        problems.append(f"{name} holds {len(held - wanted):,} texts murmur no longer embeds and lacks "
                        f"{len(wanted - held):,} that it does")
    return problems
