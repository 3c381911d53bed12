"""ThreadIndex with real FAISS: upsert, update, remove, HNSW, save/load, bad files, killed saves."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from index.errors import IndexFileError, UnknownThread
from index.threads import ThreadIndex


def _vectors(n: int, dims: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 20), dims))
    points = centres[rng.integers(len(centres), size=n)] + 0.3 * rng.normal(size=(n, dims))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def _exact(vectors: np.ndarray, ids: list[int], query: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [ids[i] for i in order]


@pytest.mark.parametrize("threshold", [10_000, 50], ids=["flat", "hnsw"])
def test_search_update_and_remove_change_results(threshold):
    vectors = _vectors(400)
    ids = list(range(1000, 1400))
    index = ThreadIndex(32, "m", hnsw_threshold=threshold, ef_search=200)
    index.upsert(ids, vectors)
    assert index.kind == ("flat" if threshold > 400 else "hnsw")
    query = vectors[7]
    hits = index.search(query, 10)
    assert hits[0].thread_id == 1007 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len({h.thread_id for h in hits} & set(_exact(vectors, ids, query, 10))) >= 9

    index.upsert([1007], -query.reshape(1, -1))  # the thread changed: it is no longer near the query
    assert 1007 not in [h.thread_id for h in index.search(query, 10)]
    assert index.search(-query, 1)[0].thread_id == 1007
    assert len(index) == 400

    index.remove([1008, 1009, 99999])
    remaining = [h.thread_id for h in index.search(vectors[8], 50)]
    assert 1008 not in remaining and 1009 not in remaining and len(remaining) == 50
    assert len(index) == 398
    with pytest.raises(UnknownThread, match="1008"):
        index.vector(1008)
    assert np.allclose(index.vectors([1010, 1007, 1011]), np.vstack([vectors[10], -query, vectors[11]]), atol=1e-6)
    with pytest.raises(UnknownThread, match="1009"):
        index.vectors([1010, 1009])


def test_dead_entries_are_compacted_and_never_returned():
    vectors = _vectors(200)
    index = ThreadIndex(32, "m", hnsw_threshold=50, compact_fraction=0.2)
    index.upsert(list(range(200)), vectors)
    for round_ in range(5):  # repeated updates of the same threads
        index.upsert(list(range(30)), _vectors(30, seed=round_ + 1))
        results = index.search_many(vectors[:5], 20)
        assert all(len({h.thread_id for h in hits}) == len(hits) == 20 for hits in results)
        assert index.dead_count <= 0.2 * (len(index) + index.dead_count)  # compacted past the dead fraction
    assert len(index) == 200


def test_save_and_load_round_trip(tmp_path):
    vectors = _vectors(300)
    for threshold in (10_000, 100):
        index = ThreadIndex(32, "model-a", hnsw_threshold=threshold)
        index.upsert(list(range(300)), vectors)
        index.remove([5])
        index.last_seq = 42
        path = tmp_path / f"{threshold}.index"
        index.save(path)
        loaded = ThreadIndex.load(path, model_id="model-a", dims=32)
        assert loaded.kind == index.kind and len(loaded) == 299 and loaded.last_seq == 42
        queries = vectors[:20]
        assert [[h.thread_id for h in r] for r in loaded.search_many(queries, 10)] == \
               [[h.thread_id for h in r] for r in index.search_many(queries, 10)]
        loaded.upsert([300], vectors[:1])  # still writable after loading
        assert 300 in loaded
        assert loaded.dead_count == (0 if index.kind == "flat" else 1)  # HNSW keeps its tombstones, not rebuilt on save


def test_an_index_of_another_model_is_refused(tmp_path):
    path = tmp_path / "t.index"
    index = ThreadIndex(32, "model-a")
    index.upsert([1], _vectors(1))
    index.save(path)
    with pytest.raises(IndexFileError, match="built with model-a.*murmur index build"):
        ThreadIndex.load(path, model_id="model-b", dims=32)
    with pytest.raises(IndexFileError, match="32 dims"):
        ThreadIndex.load(path, model_id="model-a", dims=384)


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "missing"])
def test_a_damaged_index_file_is_refused_with_the_fix(tmp_path, damage):
    path = tmp_path / "t.index"
    index = ThreadIndex(32, "m")
    index.upsert([1, 2], _vectors(2))
    index.save(path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "garbage":
        path.write_bytes(b"not an index")
    else:
        path.unlink()
    with pytest.raises(IndexFileError, match="murmur index build"):
        ThreadIndex.load(path, model_id="m", dims=32)


def test_a_failed_save_leaves_the_old_index(tmp_path, monkeypatch):
    path = tmp_path / "t.index"
    index = ThreadIndex(32, "m")
    index.upsert([1], _vectors(1))
    index.save(path)
    index.upsert([2], _vectors(1, seed=3))
    monkeypatch.setattr("os.fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        index.save(path)
    assert len(ThreadIndex.load(path, model_id="m", dims=32)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["t.index"]  # no temporary file left behind


SAVER = """
import sys, numpy as np
from index.threads import ThreadIndex
index = ThreadIndex(64, "m")
rng = np.random.default_rng(0)
vectors = rng.normal(size=(20000, 64)).astype(np.float32)
index.upsert(list(range(20000)), vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
print("ready", flush=True)
while True:
    index.save(sys.argv[1])
"""


@pytest.mark.slow
def test_a_process_killed_mid_save_leaves_a_loadable_index(tmp_path):
    path = tmp_path / "t.index"
    for delay in (0.05, 0.13, 0.21, 0.37):
        process = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.kill()
        process.wait()
        process.stdout.close()
        if path.exists():
            assert len(ThreadIndex.load(path, model_id="m", dims=64)) == 20000
    assert path.exists()
