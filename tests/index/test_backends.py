"""The model run by torch, by ONNX Runtime in fp32 and in int8: the same vectors within tolerance, never mixed."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embedder import Embedder
from index.errors import IndexFileError, ModelUnavailable
from index.threads import ThreadIndex
from tests.conftest import read_corpus_sample

# measured on corpus posts: fp32 gives the same numbers as torch; int8 a cosine of 0.993 on average, 0.96 at worst
TOLERANCE = {"onnx": (0.9999, 0.9999), "onnx-int8": (0.95, 0.985)}  # (every text at least, the mean at least)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    posts = [p["body"][:1200] for t in read_corpus_sample("threads.jsonl.gz", 40, every=37) for p in t["posts"][:2]]
    return posts[:48] + ["a", "Espresso?", "word " * 400]  # very short, a question, one past the model's window


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def torch_vectors(texts):
    return Embedder(cache_path=None, backend="torch").encode(texts)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_each_backend_gives_torchs_vectors_within_the_measured_tolerance(backend, texts, torch_vectors, onnx_dir):
    embedder = Embedder(cache_path=None, backend=backend, onnx_dir=onnx_dir)
    vectors = embedder.encode(texts)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * torch_vectors).sum(axis=1)
    lowest, mean = TOLERANCE[backend]
    assert cosine.min() >= lowest and cosine.mean() >= mean, (cosine.min(), cosine.mean())
    assert embedder.stats.truncated >= 1  # the text past the window is counted as cut, as with torch
    assert (onnx_dir / "manifest.json").exists()


def test_the_cache_and_saved_indexes_never_mix_backends(tmp_path, onnx_dir):
    cache = tmp_path / "cache.sqlite"
    torch_embedder = Embedder(cache_path=cache, backend="torch")
    torch_embedder.embed(["grind finer for sour espresso"])
    torch_embedder.close()
    int8 = Embedder(cache_path=cache, backend="onnx-int8", onnx_dir=onnx_dir)
    int8.embed(["grind finer for sour espresso"])
    assert int8.stats.encoded == 1 and int8.stats.cache_hits == 0  # torch's cached vector is not int8's
    assert int8.model_id != torch_embedder.model_id and "onnx-int8" in int8.model_id
    index = ThreadIndex(torch_embedder.dims, torch_embedder.model_id)
    index.upsert([1], torch_embedder.encode(["a thread"]))
    index.save(tmp_path / "threads.index")
    with pytest.raises(IndexFileError, match="via onnx-int8"):
        ThreadIndex.load(tmp_path / "threads.index", model_id=int8.model_id, dims=int8.dims)


def test_a_missing_runtime_or_a_damaged_export_is_refused_with_the_fix(tmp_path, onnx_dir, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
        with pytest.raises(ModelUnavailable, match=r"onnx-int8 needs ONNX Runtime.*pip install onnxruntime.*backend: torch"):
            Embedder(cache_path=None, backend="onnx-int8", onnx_dir=onnx_dir)
    damaged = tmp_path / "onnx"
    shutil.copytree(onnx_dir, damaged)
    model = damaged / "model-int8.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(ModelUnavailable, match=r"model-int8.onnx.*checksum.*delete .* and run again"):
        Embedder(cache_path=None, backend="onnx-int8", onnx_dir=damaged)
    with pytest.raises(ModelUnavailable, match="unknown backend 'cuda'"):
        Embedder(cache_path=None, backend="cuda")


def _open_export(folder: str) -> str:
    from index.backends import onnx_file
    from index.embedder import model_folder

    return str(onnx_file("onnx", model_folder(), Path(folder)))


def test_processes_starting_together_share_one_export(onnx_dir, texts):
    """Ray workers open the same export folder at once: each gets the checked export, none trips on another."""
    Embedder(cache_path=None, backend="onnx", onnx_dir=onnx_dir)  # exported (once) by the module's first test or here
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        opened = list(pool.map(_open_export, [str(onnx_dir)] * 8))
    assert set(opened) == {str(onnx_dir / "model.onnx")}
    names = {p.name for p in onnx_dir.iterdir()}
    assert {"manifest.json", "model.onnx"} <= names and not [n for n in names if n.endswith(".tmp")]
