"""Wiring for ``murmur data``: recompute the shipped vectors and act labels, and check them against this checkout.

The files' formats and checks live with what uses them (``index/shipped.py``, ``bots/words/shipped_acts.py``); this
module only builds the embedder and the Rasa server they are computed with, from the settings.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from murmur.config import Settings

ENCODING = "float16"  # bench/shipped.py: the same run log as float32, half the bytes
CHUNK = 256


def refresh_vectors(settings: Settings, *, encoding: str = ENCODING, echo: Callable[[str], None] = print) -> Path:
    """Embed every shipped text anew (never from a cache or the old pack) and write the pack for index.backend."""
    from index.cache import text_key
    from index.embedder import Embedder
    from index.shipped import corpus_texts, write_pack

    index = settings.index
    embedder = Embedder(cache_path=index.cache_path, batch_size=index.batch_size, threads=index.threads,
                        backend=index.backend, onnx_dir=index.onnx_dir, shipped=False)
    try:
        texts = corpus_texts()
        echo(f"embedding {len(texts):,} shipped texts with {embedder.model_id} ({os.cpu_count()} cores) ...")
        parts = []
        with tqdm(total=len(texts), unit="text", desc="embedding the shipped texts", dynamic_ncols=True) as bar:
            for start in range(0, len(texts), CHUNK):
                chunk = texts[start:start + CHUNK]
                vectors = embedder.encode(chunk)
                embedder.cache.put_many({text_key(embedder.model_id, t): v for t, v in zip(chunk, vectors)})
                parts.append(vectors)
                bar.update(len(chunk))
        keys = [text_key(embedder.model_id, t) for t in texts]
        path = write_pack(keys, np.vstack(parts), model_id=embedder.model_id, backend=index.backend, encoding=encoding)
    finally:
        embedder.close()
    echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {encoding}; made on {platform.machine()})")
    return path


async def refresh_labels(settings: Settings, *, echo: Callable[[str], None] = print) -> Path:
    """Read every shipped bank text with the project's Rasa model (trained when missing) and write the labels."""
    import asyncio

    from bots.words.acts import read_texts
    from bots.words.shipped_acts import bank_texts, write_labels
    from murmur.assembly import rasa_pool_for, train_shared_model

    model = await asyncio.to_thread(train_shared_model, settings, False, echo)
    texts = await asyncio.to_thread(bank_texts)
    async with rasa_pool_for(settings, "http://127.0.0.1:9/webhook", echo) as pool:  # /model/parse calls no action
        echo(f"reading {len(texts):,} bank texts with {model.model_path.name} ...")
        with tqdm(total=len(texts), unit="text", desc="reading the bank's acts", dynamic_ncols=True) as bar:
            name, labels = await read_texts(pool.any_url(), texts, concurrency=settings.rasa.concurrency,
                                            progress=bar.update)
    path = write_labels(labels, model=Path(name).name, fingerprint=model.fingerprint)
    echo(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB, {len(labels):,} labels of {Path(name).name})")
    return path


def current_model(settings: Settings) -> tuple[str, str]:
    """(the Rasa model file's name, its fingerprint) that this checkout's bots/dialogue/rasa and settings train."""
    from bots.dialogue.training import RASA_DIR, fingerprint, model_name, rasa_bin_in, rasa_version

    fp = fingerprint(RASA_DIR, epochs=settings.rasa.epochs, rasa_version=rasa_version(rasa_bin_in(settings.rasa.venv_path())))
    return f"{model_name(fp)}.tar.gz", fp


def check_shipped(settings: Settings, folder: Path | None = None) -> list[str]:
    """One line per shipped file: ``ok: ...`` or ``stale: ...; run `murmur data refresh ...```."""
    from bots.words.shipped_acts import LABELS_FILE, labels_problems
    from core.shipped import REFRESH
    from index.embedder import DIMS, model_id
    from core.shipped import DERIVED_DIR
    from index.shipped import pack_name, pack_problems

    folder = folder or DERIVED_DIR
    backend = settings.index.backend
    lines = []
    problems = pack_problems(model_id(backend), backend, DIMS, folder)
    lines += ([f"stale: {p}; run `{REFRESH} --no-labels`" for p in problems] or
              [f"ok: {pack_name(backend)} holds the vectors of every shipped text for {model_id(backend)}"])
    model, fp = current_model(settings)
    problems = labels_problems(model, fp, folder)
    lines += ([f"stale: {p}; run `{REFRESH} --no-vectors`" for p in problems] or
              [f"ok: {LABELS_FILE} holds the act labels of every shipped bank text for {model}"])
    return lines
