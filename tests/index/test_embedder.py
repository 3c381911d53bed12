"""The real all-MiniLM-L6-v2, loaded offline from its PyPI package, with a persistent cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from index.embedder import DIMS, Embedder, model_folder
from index.errors import EmptyText


def test_vectors_are_normalised_and_mean_something(embedder):
    vectors = embedder.embed(["How fine should I grind for espresso?", "Espresso grind size for a new machine",
                              "Which telescope eyepiece for Saturn?"])
    assert vectors.shape == (3, DIMS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert model_folder().is_dir() and "site-packages" in str(model_folder())


def test_cache_avoids_embedding_anything_twice_across_runs(tmp_path):
    cache = tmp_path / "cache.sqlite"
    first = Embedder(cache_path=cache)
    texts = ["alpha beta", "gamma delta", "alpha beta"]
    a = first.embed(texts)
    assert first.stats.encoded == 2 and first.stats.encode_calls == 1  # the repeated text once
    first.embed(texts)
    assert first.stats.encoded == 2 and first.stats.encode_calls == 1
    first.close()
    second = Embedder(cache_path=cache)  # a new process would see the same
    b = second.embed(texts + ["epsilon"])
    assert second.stats.encoded == 1 and second.stats.cache_hits == 3
    assert np.array_equal(a, b[:3])
    second.close()


def test_empty_text_is_refused_with_its_position(embedder):
    with pytest.raises(EmptyText, match="text 1"):
        embedder.embed(["fine", "   "])


def test_long_text_is_cut_explicitly_and_counted(embedder):
    before = embedder.stats.truncated
    long_text = "espresso " * 1000 + str(np.random.default_rng().integers(1 << 30))  # fresh, so it is encoded
    vector = embedder.embed_one(long_text)
    assert embedder.stats.truncated == before + 1
    assert vector.shape == (DIMS,)


def test_threads_may_share_one_embedder(embedder):
    """Swarm turns embed from several worker threads at once: no tokenizer errors, the same vectors, exact counts."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    words = ["espresso", "grinder", "sourdough", "telescope", "kernel", "ubuntu", "hops", "tyres", "monstera", "switch"]
    batches = [[" ".join(random.Random(f"{b}:{i}").choices(words, k=random.Random(f"{b}:{i}").randint(1, 400)))
                for i in range(8)] for b in range(32)]
    before = embedder.stats.encode_calls
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(embedder.encode, batches))
    assert embedder.stats.encode_calls - before == len(batches)
    for batch, vectors in zip(batches[:3], together[:3]):
        assert np.allclose(vectors, embedder.encode(batch), atol=1e-5)
