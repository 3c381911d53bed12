"""Index benchmark, measured by hand: `.venv/bin/python bench/index.py [--quick] [--sizes 10000,100000,1000000]`.

Four parts, each set against a baseline measured in the same run:

1. Quality on data/forum-corpus (shipped with the project): murmur's matcher against the naive
   one (index.evaluation.evaluate), overall and per persona.
2. Embedding throughput: murmur's Embedder (cache cold, then warm) against a
   plain SentenceTransformer.encode on the same texts, and the share of this
   machine's arithmetic limit that embedding reaches.
3. Search at each size: ThreadIndex (flat below its hnsw_threshold, HNSW
   above) against numpy brute force: latency, QPS, recall@10 against exact
   search, build time. Vectors are synthetic but shaped like real MiniLM
   embeddings (cluster centres plus noise drawn with the covariance of the
   corpus's own embeddings); a realism table compares them with the real ones.
4. Updates on a 100k index, flat and HNSW: upserts in batches of 1, 100 and
   10k, removals one at a time and batched, and compact(), against the same
   operations on a bare FAISS index.

numpy and FAISS run on all the cores this process may use (nproc).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the `index` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from tqdm import tqdm  # noqa: E402

from conversations.importers import CORPUS_DIR  # noqa: E402
from index.documents import clip  # noqa: E402
from index.embedder import DIMS, Embedder, model_folder  # noqa: E402
from index.evaluation import CorpusThread, EvalPersona, Scores, evaluate, load_corpus, load_personas  # noqa: E402
from index.threads import ThreadIndex  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = CORPUS_DIR
CACHE = ROOT / "var" / "embeddings.sqlite"
K = 10
QUERIES = 200
CENTRES = 2000
WITHIN_GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)  # candidate shares of variance inside a cluster
TARGET_RECALL = 0.95
EF_SWEEP = (128, 256)  # tried only when the default efSearch misses the target
REALISM_EFS = (16, 32, 64)
EMBED_ROUNDS = 2
PLAIN = "plain SentenceTransformer.encode (baseline)"
ENCODE = "murmur Embedder.encode (no cache)"
COLD = "murmur Embedder.embed, cache cold"
WARM = "murmur Embedder.embed, cache warm"
CHUNK = 50_000
UPDATE_SIZE = 100_000
SEED = 20240601
FRESH = 40_000  # new vectors for the update benchmark
NEW_IDS = 10 ** 9  # ids of new threads in the update benchmark
REMOVE_FROM = 50_000  # removed ids start here: inside 100k, past the replaced ones
GIB = 1024 ** 3


def cores() -> int:
    """What `nproc` says: the cores this process may run on, not the machine's total."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; enough for p50/p99 of a few hundred samples."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def rule(head: str) -> str:
    return "-" * len(head)


def section(title: str) -> None:
    print(f"\n== {title} ==")
    sys.stdout.flush()


# -- 1. quality ------------------------------------------------------------------------------------


def quality_table(murmur: Scores, naive: Scores) -> str:
    """The headline metrics; the ratio is murmur / naive (for the distractor share, lower is better)."""
    metrics = [("site precision@10", "site_precision", "higher"),
               ("distractor share of top-10", "distractor_share", "lower"),
               ("topic precision@10", "topic_precision", "higher"),
               ("topic nDCG@10", "topic_ndcg", "higher"),
               ("thread->persona first-rank accuracy", "thread_to_persona_first", "higher")]
    head = f"{'metric':<38} {'better':>6} {'murmur':>7} {'naive':>7} {'murmur/naive':>13}"
    lines = [head, rule(head)]
    for label, attr, better in metrics:
        m, n = getattr(murmur, attr), getattr(naive, attr)
        ratio = f"{m / n:13.2f}" if n else f"{'inf' if m else '-':>13}"
        lines.append(f"{label:<38} {better:>6} {m:7.3f} {n:7.3f} {ratio}")
    return "\n".join(lines)


def persona_table(murmur: Scores, naive: Scores, site: Sequence[EvalPersona], topic: Sequence[EvalPersona]) -> str:
    """One row per persona: site personas by precision only, topic personas by precision and nDCG."""
    head = f"{'persona':<24} {'level':<5} {'site':<13} {'P@10 murmur':>11} {'naive':>6} {'nDCG murmur':>11} {'naive':>6}"
    lines = [head, rule(head)]
    for level, personas in (("site", site), ("topic", topic)):
        for persona in personas:
            name = persona.profile.name
            m, n = murmur.per_persona[name], naive.per_persona[name]
            ndcg = f"{m['ndcg@10']:11.3f} {n['ndcg@10']:6.3f}" if "ndcg@10" in m else f"{'-':>11} {'-':>6}"
            lines.append(f"{name:<24} {level:<5} {persona.site:<13} {m['precision@10']:11.2f} "
                         f"{n['precision@10']:6.2f} {ndcg}")
    return "\n".join(lines)


# -- 2. embedding throughput -----------------------------------------------------------------------


@dataclass
class Rate:
    """Texts embedded by one path, timed in each round; the best round counts, the worst shows the noise."""

    case: str
    count: int
    seconds: list[float] = field(default_factory=list)
    model_call: bool = True  # False when no model ran (warm cache): no share of the arithmetic limit

    @property
    def per_s(self) -> float:
        return self.count / min(self.seconds)

    @property
    def spread(self) -> float:
        return max(self.seconds) / min(self.seconds)


def sample_texts(threads: Sequence[CorpusThread], count: int) -> list[str]:
    """Title + opening post (as murmur embeds it), spread evenly over every site and the distractors."""
    rows = np.linspace(0, len(threads) - 1, count).round().astype(int)
    return list(dict.fromkeys(clip(f"{threads[i].text.title}\n{threads[i].text.opening}") for i in rows))


def timed(call: Callable[[], object]) -> tuple[float, object]:
    began = time.perf_counter()
    result = call()
    return time.perf_counter() - began, result


def embedding_rates(texts: list[str], batch_size: int, folder: Path) -> tuple[list[Rate], float]:
    """Plain encode against murmur's Embedder (no cache, cache cold, cache warm), interleaved over EMBED_ROUNDS rounds.

    Each round's cold run gets a new Embedder over a fresh cache file. One untimed pass over the same texts first
    creates the kernels for every batch shape (torch caches them per process), so no row pays for first calls.
    Returns the rates and the largest difference between murmur's vectors and the plain ones.
    """
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(str(model_folder()), device="cpu", local_files_only=True)

    def encode_plain() -> np.ndarray:
        return plain.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)

    encode_plain()
    rates = {case: Rate(case, len(texts), model_call=case != WARM) for case in (PLAIN, ENCODE, COLD, WARM)}
    drift = 0.0
    for round_ in tqdm(range(EMBED_ROUNDS), desc="embedding rounds", unit="round"):
        murmur = Embedder(cache_path=folder / f"cold-{round_}.sqlite", batch_size=batch_size)
        steps = [(PLAIN, encode_plain), (ENCODE, lambda: murmur.encode(texts)), (COLD, lambda: murmur.embed(texts)),
                 (WARM, lambda: murmur.embed(texts))]
        vectors = {}
        for case, call in steps:
            seconds, vectors[case] = timed(call)
            rates[case].seconds.append(seconds)
        if murmur.stats.cache_hits != len(texts):
            raise SystemExit(f"bench: the warm run hit the cache {murmur.stats.cache_hits} times, expected {len(texts)}")
        drift = max(drift, float(np.abs(vectors[COLD] - vectors[PLAIN]).max()))
        murmur.close()
    return list(rates.values()), drift


def matmul_gflops(threads: int) -> float:
    """Best float32 matmul rate over a few runs, at the model's shapes (384 wide, 1536 for the feed-forward)."""
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((4096, 384), dtype=np.float32)
    b = rng.standard_normal((384, 1536), dtype=np.float32)
    flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]
    best = float("inf")
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        for _ in range(10):
            began = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - began)
    return flops / best / 1e9


@dataclass
class Limit:
    """The arithmetic ceiling on texts/s, two ways of counting the work per token."""

    gflops: float
    threads: int
    tokens: float
    params: int
    matmul_params: int

    def texts_per_s(self, params: int) -> float:
        return self.gflops * 1e9 / (2 * params * self.tokens)


def embedding_limit(texts: list[str], threads: int) -> Limit:
    """Measured matmul peak over FLOPs a text; tokens counted with the model's own tokenizer, capped at its window."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_folder()), device="cpu", local_files_only=True)
    cap = int(model.max_seq_length)
    lengths = [min(cap, len(ids)) for ids in model.tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]]
    params = sum(p.numel() for p in model.parameters())
    bert = model[0].auto_model
    matmul_params = sum(p.numel() for p in bert.encoder.parameters())  # embeddings are a lookup; the pooler is unused
    return Limit(matmul_gflops(threads), threads, float(np.mean(lengths)), params, matmul_params)


def embedding_table(rates: list[Rate], limit: Limit) -> str:
    """texts/s per path (best round), as a ratio of the plain encode and as shares of the two arithmetic limits."""
    ceilings = (limit.texts_per_s(limit.params), limit.texts_per_s(limit.matmul_params))
    head = (f"{'case':<44} {'texts':>5} {'best s':>7} {'worst/best':>10} {'texts/s':>9} {'x baseline':>10} "
            f"{'of limit (all params)':>21} {'of limit (encoder)':>18}")
    lines = [head, rule(head)]
    base = rates[0]
    for r in rates:
        shares = (f"{r.per_s / ceilings[0]:21.0%} {r.per_s / ceilings[1]:18.0%}" if r.model_call
                  else f"{'-':>21} {'-':>18}")
        lines.append(f"{r.case:<44} {r.count:>5} {min(r.seconds):7.3f} {r.spread:10.2f} {r.per_s:9.1f} "
                     f"{r.per_s / base.per_s:10.2f} {shares}")
    return "\n".join(lines)


def limit_note(limit: Limit) -> str:
    """How the limit was estimated, both ways of counting the parameters."""
    return (f"limit = matmul peak / FLOPs per text. Matmul peak: numpy float32 (4096x384)@(384x1536), best of 10, "
            f"BLAS on {limit.threads} threads\n(torch's thread count) = {limit.gflops:.0f} GFLOP/s. FLOPs per text = "
            f"2 x params x {limit.tokens:.1f} tokens (mean, counted with the model's tokenizer, capped at 256).\n"
            f"all params: {limit.params / 1e6:.1f}M -> {2 * limit.params * limit.tokens / 1e9:.2f} GFLOP a text, limit "
            f"{limit.texts_per_s(limit.params):.0f} texts/s. But {(limit.params - limit.matmul_params) / 1e6:.1f}M of "
            f"them are the word-embedding table (a lookup)\nand the unused pooler, so the honest count is the "
            f"{limit.matmul_params / 1e6:.1f}M encoder params -> limit {limit.texts_per_s(limit.matmul_params):.0f} "
            f"texts/s. Attention scores (~+{attention_share(limit):.0%} at this length) and padding are not "
            f"counted.")


def attention_share(limit: Limit, layers: int = 6) -> float:
    """Extra FLOPs of QK^T and attention x V over the encoder's matmuls, per token: 4 x tokens x width a layer."""
    return layers * 4 * limit.tokens * DIMS / (2 * limit.matmul_params)


# -- 3. synthetic vectors shaped like MiniLM's ------------------------------------------------------


def normalised(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def covariance_root(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and symmetric square root of the covariance of real embeddings: N(0, I) @ root has their covariance."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(real.T))
    root = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    return real.mean(axis=0).astype(np.float32), root.astype(np.float32)


class ClusteredVectors:
    """Points around fixed cluster centres, both drawn with the covariance of real embeddings.

    Isotropic noise around random unit centres has the wrong shape (real MiniLM vectors share a mean direction
    and their variance sits in ~90 of the 384 dimensions), and it makes neighbourhoods look like random ones.
    Here centre = mean + sqrt(1 - within) * N(0, cov) and point = centre + sqrt(within) * N(0, cov), normalised,
    so the spectrum and the mean similarity match the real vectors; ``within`` sets how tight clusters are.
    """

    def __init__(self, mean: np.ndarray, root: np.ndarray, within: float, seed: int, centres: int = CENTRES) -> None:
        self.root = root
        self.within = within
        self.rng = np.random.default_rng(seed)
        self.centres = mean + np.sqrt(1 - within) * self._noise(centres)

    def _noise(self, count: int) -> np.ndarray:
        return self.rng.standard_normal((count, DIMS), dtype=np.float32) @ self.root

    def sample(self, count: int, chunk: int = 100_000) -> np.ndarray:
        out = np.empty((count, DIMS), dtype=np.float32)
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            owners = self.rng.integers(0, len(self.centres), n)
            out[start:start + n] = normalised(self.centres[owners] + np.sqrt(self.within) * self._noise(n))
        return out


@dataclass
class Shape:
    """Neighbourhood statistics of a vector set: what an approximate index finds easy or hard."""

    n: int
    pair: float  # mean cosine of two random vectors
    nn1: float  # mean cosine to the nearest neighbour
    nn10: float  # ... to the 10th nearest
    dims: float  # participation ratio of the covariance spectrum: how many dimensions carry the variance
    recall: dict[int, float] = field(default_factory=dict)  # HNSW recall@10 at each efSearch


def shape(vectors: np.ndarray, probes: int = 1000, seed: int = SEED) -> Shape:
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), probes, replace=False)
    scores = vectors[rows] @ vectors.T
    scores[np.arange(probes), rows] = -np.inf
    top = -np.sort(-np.partition(scores, -K, axis=1)[:, -K:], axis=1)
    pair = float(scores[np.isfinite(scores)].mean())
    spectrum = np.linalg.eigvalsh(np.cov(vectors.T))
    return Shape(len(vectors), pair, float(top[:, 0].mean()), float(top[:, K - 1].mean()),
                 float(spectrum.sum() ** 2 / (spectrum ** 2).sum()))


def calibrate(real: np.ndarray, seed: int) -> tuple[float, Shape, Shape]:
    """The within-cluster share whose nearest-neighbour similarity, at the real set's size, is closest to the real one."""
    target = shape(real)
    mean, root = covariance_root(real)
    best: tuple[float, float, Shape] | None = None
    for within in tqdm(WITHIN_GRID, desc="calibrating spread", unit="try"):
        candidate = shape(ClusteredVectors(mean, root, within, seed).sample(len(real)))
        gap = abs(candidate.nn1 - target.nn1)
        if best is None or gap < best[0]:
            best = (gap, within, candidate)
    assert best is not None
    return best[1], target, best[2]


def hnsw_recall(vectors: np.ndarray, seed: int) -> dict[int, float]:
    """Recall@10 of murmur's HNSW (its default parameters) on a vector set, 200 of its vectors held out as queries."""
    rng = np.random.default_rng(seed)
    held = rng.choice(len(vectors), QUERIES, replace=False)
    keep = np.setdiff1d(np.arange(len(vectors)), held)
    base, queries = vectors[keep], vectors[held]
    index = ThreadIndex(DIMS, "bench", hnsw_threshold=0)
    index.upsert(range(len(base)), base)
    truth = exact_top_many(base, queries)
    return {ef: recall(hnsw_results(index, queries, ef), truth) for ef in REALISM_EFS}


def hnsw_results(index: ThreadIndex, queries: np.ndarray, ef: int) -> np.ndarray:
    with ef_search(index, ef):
        return hit_ids(index.search_many(queries, K))


def realism_table(within: float, real: Shape, synthetic: Shape) -> str:
    head = (f"{'vectors':<44} {'N':>6} {'pair cos':>8} {'1-NN cos':>8} {'10-NN cos':>9} {'dims':>5} "
            + " ".join(f"{'R@10 ef' + str(ef):>10}" for ef in REALISM_EFS))
    lines = [head, rule(head)]
    for label, s in (("real: corpus posts, MiniLM", real),
                     (f"synthetic: {CENTRES} centres, within={within:.2f}", synthetic)):
        lines.append(f"{label:<44} {s.n:>6} {s.pair:8.3f} {s.nn1:8.3f} {s.nn10:9.3f} {s.dims:5.0f} "
                     + " ".join(f"{s.recall[ef]:10.3f}" for ef in REALISM_EFS))
    return "\n".join(lines)


# -- 3. search -------------------------------------------------------------------------------------


def exact_top_many(matrix: np.ndarray, queries: np.ndarray, k: int = K, chunk: int = 50) -> np.ndarray:
    """The baseline and the ground truth: queries @ matrix.T, argpartition, then sort the k best."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start:start + chunk] @ matrix.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start:start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def exact_top(matrix: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def hit_ids(results: list) -> np.ndarray:
    return np.array([[hit.thread_id for hit in hits] for hits in results], dtype=np.int64)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / truth.shape[1] for f, t in zip(found, truth)]))


class ef_search:
    """Sets efSearch on the FAISS HNSW inside a ThreadIndex for a while (it has no public knob after build)."""

    def __init__(self, index: ThreadIndex, ef: int) -> None:
        self.hnsw = faiss.downcast_index(index._index.index).hnsw
        self.ef, self.saved = ef, self.hnsw.efSearch

    def __enter__(self) -> None:
        self.hnsw.efSearch = self.ef

    def __exit__(self, *exc: object) -> None:
        self.hnsw.efSearch = self.saved


def build_index(vectors: np.ndarray, desc: str, **options: int) -> tuple[ThreadIndex, float]:
    """Upsert every vector in 50k chunks, as an indexer catching up would; ids are row numbers."""
    index = ThreadIndex(DIMS, "bench", **options)
    bar = tqdm(total=len(vectors), desc=desc, unit="vec", unit_scale=True)
    began = time.perf_counter()
    for start in range(0, len(vectors), CHUNK):
        chunk = vectors[start:start + CHUNK]
        index.upsert(range(start, start + len(chunk)), chunk)
        bar.update(len(chunk))
    seconds = time.perf_counter() - began
    bar.close()
    return index, seconds


@dataclass
class SearchRow:
    case: str
    n: int
    ef: str
    latencies_ms: list[float]
    batch_seconds: float
    recall: float
    build_seconds: float | None = None

    @property
    def qps_single(self) -> float:
        return len(self.latencies_ms) / (sum(self.latencies_ms) / 1000)

    @property
    def qps_batch(self) -> float:
        return QUERIES / self.batch_seconds


def one_at_a_time(search_one: Callable[[np.ndarray], object], queries: np.ndarray,
                  desc: str) -> tuple[list[float], np.ndarray]:
    """Per-query latency in ms, each query alone, and what each returned."""
    latencies, found = [], []
    for query in tqdm(queries, desc=desc, unit="query", leave=False):
        began = time.perf_counter()
        found.append(search_one(query))
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies, np.array(found)


def numpy_row(matrix: np.ndarray, queries: np.ndarray) -> tuple[SearchRow, np.ndarray]:
    """Brute force in numpy; its batched answer is the exact ground truth every index is scored against."""
    n = len(matrix)
    batch_seconds, truth = timed(lambda: exact_top_many(matrix, queries))
    latencies, found = one_at_a_time(lambda q: exact_top(matrix, q), queries, f"numpy {n:,}")
    return SearchRow("numpy brute force (baseline)", n, "exact", latencies, batch_seconds, recall(found, truth)), truth


def index_rows(index: ThreadIndex, case: str, queries: np.ndarray, truth: np.ndarray,
               build_seconds: float) -> list[SearchRow]:
    """One row for a flat index; for HNSW one at its default efSearch, and more if that misses the recall target."""
    def measure(ef: str) -> SearchRow:
        latencies, found = one_at_a_time(lambda q: [h.thread_id for h in index.search(q, K)], queries,
                                         f"{case} {len(index):,}")
        batch_seconds, _ = timed(lambda: index.search_many(queries, K))
        return SearchRow(case, len(index), ef, latencies, batch_seconds, recall(found, truth))

    if index.kind == "flat":
        rows = [measure("exact")]
    else:
        rows = [measure(f"{index.ef_search}")]
        if rows[0].recall < TARGET_RECALL:
            for ef in EF_SWEEP:
                with ef_search(index, ef):
                    rows.append(measure(str(ef)))
    rows[0].build_seconds = build_seconds
    return rows


def search_table(rows: list[SearchRow]) -> str:
    """Rows grouped by size; ratios are QPS over the numpy baseline's QPS at the same size."""
    head = (f"{'case':<30} {'N':>9} {'efSearch':>8} {'build s':>8} {'build vec/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'QPS 1x1':>8} {'QPS x200':>8} {'recall@10':>9} {'x numpy 1x1':>11} {'x numpy x200':>12}")
    lines = [head, rule(head)]
    baseline: SearchRow | None = None
    for r in rows:
        if r.case.startswith("numpy"):
            baseline = r
            if len(lines) > 2:
                lines.append("")
        assert baseline is not None and baseline.n == r.n
        build = f"{r.build_seconds:8.1f} {r.n / r.build_seconds:11,.0f}" if r.build_seconds else f"{'-':>8} {'-':>11}"
        lines.append(f"{r.case:<30} {r.n:>9,} {r.ef:>8} {build} {percentile(r.latencies_ms, 50):8.3f} "
                     f"{percentile(r.latencies_ms, 99):8.3f} {r.qps_single:8.0f} {r.qps_batch:8.0f} {r.recall:9.3f} "
                     f"{r.qps_single / baseline.qps_single:11.1f} {r.qps_batch / baseline.qps_batch:12.1f}")
    return "\n".join(lines)


# -- 4. updates ------------------------------------------------------------------------------------


@dataclass
class UpdateRow:
    case: str
    kind: str
    calls: int
    items: int
    seconds: float
    baseline: UpdateRow | None = None
    note: str = ""

    @property
    def per_s(self) -> float:
        return self.items / self.seconds


def timed_calls(calls: Sequence[Callable[[], object]], desc: str) -> float:
    bar = tqdm(calls, desc=desc, unit="call", leave=False)
    began = time.perf_counter()
    for call in bar:
        call()
    return time.perf_counter() - began


def upsert_rows(index: ThreadIndex, fresh: np.ndarray, plan: Sequence[tuple[int, int]]) -> list[UpdateRow]:
    """New threads in batches of each size: bare FAISS add_with_ids on a clone first, then ThreadIndex.upsert."""
    bare = faiss.clone_index(index._index)
    rows, used = [], 0
    for batch, calls in plan:
        chunks = []
        for _ in range(calls):
            chunks.append((np.arange(NEW_IDS + used, NEW_IDS + used + batch, dtype=np.int64), fresh[used:used + batch]))
            used += batch
        seconds = timed_calls([lambda ids=ids, v=v: bare.add_with_ids(v, ids) for ids, v in chunks],
                              f"faiss add, batch {batch:,}")
        base = UpdateRow(f"bare faiss add_with_ids, batch {batch:,}", index.kind, calls, batch * calls, seconds)
        seconds = timed_calls([lambda ids=ids, v=v: index.upsert(ids.tolist(), v) for ids, v in chunks],
                              f"upsert, batch {batch:,}")
        rows += [base, UpdateRow(f"upsert new, batch {batch:,}", index.kind, calls, batch * calls, seconds, base)]
    return rows


def replace_rows(index: ThreadIndex, fresh: np.ndarray, batch: int, calls: int) -> list[UpdateRow]:
    """New vectors for existing threads (ids 0..): a tombstone and an add in murmur; remove + add on bare flat FAISS."""
    ids = [np.arange(c * batch, (c + 1) * batch, dtype=np.int64) for c in range(calls)]
    vectors = [fresh[c * batch:(c + 1) * batch] for c in range(calls)]
    rows, base = [], None
    if index.kind == "flat":
        bare = faiss.clone_index(index._index)
        labels = [np.array([index._label_of[int(i)] for i in chunk], dtype=np.int64) for chunk in ids]

        def swap(chunk: np.ndarray, v: np.ndarray) -> None:
            bare.remove_ids(chunk)
            bare.add_with_ids(v, chunk)

        seconds = timed_calls([lambda c=c, v=v: swap(c, v) for c, v in zip(labels, vectors)], "faiss remove+add")
        base = UpdateRow(f"bare faiss remove_ids+add, batch {batch}", index.kind, calls, batch * calls, seconds)
        rows.append(base)
    seconds = timed_calls([lambda c=c, v=v: index.upsert(c.tolist(), v) for c, v in zip(ids, vectors)], "upsert replace")
    note = "" if base else "FAISS HNSW cannot replace (no remove)"
    rows.append(UpdateRow(f"upsert replace, batch {batch}", index.kind, calls, batch * calls, seconds, base, note))
    return rows


def remove_rows(index: ThreadIndex, singles: int, batched: int, bare_singles: int) -> list[UpdateRow]:
    """Removals one id a call and many ids in one call: ThreadIndex (tombstones) against bare FAISS remove_ids."""
    single_ids = list(range(REMOVE_FROM, REMOVE_FROM + singles))
    batch_ids = list(range(REMOVE_FROM + singles, REMOVE_FROM + singles + batched))
    rows: list[UpdateRow] = []
    base_single = base_batch = None
    if index.kind == "flat":
        bare = faiss.clone_index(index._index)
        labels = [index._label_of[t] for t in single_ids[:bare_singles]]
        seconds = timed_calls([lambda l=l: bare.remove_ids(np.array([l], dtype=np.int64)) for l in labels],
                              "faiss remove 1")
        base_single = UpdateRow("bare faiss remove_ids, 1 id a call", "flat", bare_singles, bare_singles, seconds)
        many = np.array([index._label_of[t] for t in batch_ids], dtype=np.int64)
        seconds, _ = timed(lambda: bare.remove_ids(many))
        base_batch = UpdateRow(f"bare faiss remove_ids, {batched:,} ids a call", "flat", 1, batched, seconds)
        rows += [base_single, base_batch]
    else:
        try:
            faiss.clone_index(index._index).remove_ids(np.array([index._label_of[single_ids[0]]], dtype=np.int64))
        except RuntimeError:
            rows.append(UpdateRow("bare faiss remove_ids", index.kind, 0, 0, float("nan"),
                                  note="FAISS: not implemented for HNSW"))
    seconds = timed_calls([lambda t=t: index.remove([t]) for t in single_ids], "remove 1")
    rows.append(UpdateRow("remove, 1 id a call", index.kind, singles, singles, seconds, base_single))
    seconds, _ = timed(lambda: index.remove(batch_ids))
    rows.append(UpdateRow(f"remove, {batched:,} ids a call", index.kind, 1, batched, seconds, base_batch))
    return rows


def compact_row(index: ThreadIndex) -> UpdateRow:
    dead = index.dead_count
    what = "batched remove_ids" if index.kind == "flat" else f"rebuild of {len(index):,} live vectors"
    seconds, _ = timed(index.compact)
    return UpdateRow("compact()", index.kind, 1, dead, seconds, note=f"{dead:,} dead; {what}")


def update_rows(index: ThreadIndex, fresh: np.ndarray, quick: bool) -> list[UpdateRow]:
    """Every update on one index, in an order that never crosses compact_fraction before compact() is timed."""
    plan = [(1, 300 if quick else 1000), (100, 30 if quick else 100), (10_000, 1 if quick else 2)]
    used = sum(b * c for b, c in plan)
    rows = upsert_rows(index, fresh[:used], plan)
    rows += replace_rows(index, fresh[used:], 100, 20)
    rows += remove_rows(index, singles=1000, batched=1000, bare_singles=30 if quick else 100)
    rows.append(compact_row(index))
    return rows


def update_table(rows: list[UpdateRow]) -> str:
    """ms per call and items/s; the ratio is murmur's rate over the bare-FAISS rate just above it."""
    head = (f"{'case':<40} {'kind':<5} {'calls':>6} {'items':>7} {'seconds':>8} {'ms/call':>9} {'items/s':>10} "
            f"{'x faiss':>8}  note")
    lines = [head, rule(head)]
    kind = None
    for r in rows:
        if kind and r.kind != kind:
            lines.append("")
        kind = r.kind
        if not r.calls:
            lines.append(f"{r.case:<40} {r.kind:<5} {'-':>6} {'-':>7} {'-':>8} {'-':>9} {'-':>10} {'-':>8}  {r.note}")
            continue
        ratio = f"{r.per_s / r.baseline.per_s:8.2f}" if r.baseline else f"{'-':>8}"
        lines.append(f"{r.case:<40} {r.kind:<5} {r.calls:>6,} {r.items:>7,} {r.seconds:8.3f} "
                     f"{r.seconds / r.calls * 1000:9.3f} {r.per_s:10,.0f} {ratio}  {r.note}")
    return "\n".join(lines)


# -- memory ----------------------------------------------------------------------------------------


def status_kib(key: str) -> int:
    """A line of /proc/self/status (VmRSS now, VmHWM the peak), in KiB; 0 where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Linux resets VmHWM to the current RSS on '5' > clear_refs, so a later peak belongs to what ran after."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class CpuClock:
    """Busy core-seconds of the whole machine (/proc/stat) and of this process, at one moment."""

    machine: float
    own: float
    wall: float


def cpu_clock() -> CpuClock | None:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # everything but idle and iowait (guest time is inside user)
    own = os.times()
    return CpuClock(busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.monotonic())


def other_load(since: CpuClock | None) -> str:
    """What other processes took of the machine since a moment: numbers from a busy machine are slow and noisy."""
    now = cpu_clock()
    if since is None or now is None:
        return "other processes' CPU use: unknown (no /proc/stat)"
    others = max(0.0, (now.machine - since.machine) - (now.own - since.own))
    share = others / ((now.wall - since.wall) * (os.cpu_count() or 1))
    warning = "  <- NOT a quiet machine: rates are low and latencies noisy" if share > 0.1 else ""
    return f"other processes used {share:.0%} of the machine's CPU during this part{warning}"


# -- run -------------------------------------------------------------------------------------------


def machine() -> str:
    import torch

    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), platform.processor())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return (f"machine: {cores()} cores (nproc), {cpu}, {memory:.0f} GiB RAM; Python {platform.python_version()}, "
            f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads)")


def sizes_argument(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes as integers separated by commas, e.g. 10000,100000")
    if not sizes or sizes[0] <= QUERIES:
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be above {QUERIES}")
    return sizes


def run_quality(embedder: Embedder, threads: list[CorpusThread]) -> None:
    site, topic = load_personas()
    seconds, (murmur, naive) = timed(lambda: evaluate(embedder, threads, site, topic))
    section("1. Quality: murmur's matcher vs the naive one (title + 300 chars, one blended persona vector)")
    print(f"corpus: {CORPUS} ({sum(not t.distractor for t in threads)} threads + "
          f"{sum(t.distractor for t in threads)} distractors); {len(site)} site personas, {len(topic)} topic personas; "
          f"k={K}; {seconds:.1f} s with cache {CACHE.relative_to(ROOT)}")
    print(quality_table(murmur, naive))
    print()
    print(persona_table(murmur, naive, site, topic))


def run_embedding(threads: list[CorpusThread], count: int, batch_size: int) -> None:
    import torch

    texts = sample_texts(threads, count)
    with tempfile.TemporaryDirectory(prefix="murmur-bench-") as tmp:
        rates, drift = embedding_rates(texts, batch_size, Path(tmp))
    limit = embedding_limit(texts, torch.get_num_threads())
    section(f"2. Embedding throughput: {len(texts)} corpus texts (title + opening post), batch {batch_size}, "
            f"torch {torch.get_num_threads()} threads")
    print(embedding_table(rates, limit))
    print(f"best of {EMBED_ROUNDS} interleaved rounds; murmur's vectors vs the plain ones: max |difference| {drift:.2e}"
          f" (murmur runs index.backend's default; cosine, not bits, is the measure across backends)")
    print(limit_note(limit))
    with tempfile.TemporaryDirectory(prefix="murmur-bench-") as tmp:
        rows = backend_rates(texts, Path(tmp))
    section("2b. Each backend and thread count, on the same texts (no cache): texts/s, x torch at 2 threads, "
            "share of the encoder limit (2 threads), peak RSS")
    base = next(r for r in rows if r[0] == "torch" and r[1] == 2)[2]
    encoder_limit = limit.texts_per_s(limit.matmul_params)
    for backend, count, rate, cosine, rss in rows:
        print(f"{backend:<10} {count} thread{'s' if count > 1 else ' '} {rate:8.1f} texts/s {rate / base:6.2f}x "
              f"{rate / encoder_limit:6.0%} of limit   cosine to torch: min {cosine[0]:.4f}, mean {cosine[1]:.4f}   "
              f"peak RSS {rss:,.0f} MiB")
    print(f"(the limit counts fp32 work; int8 can pass it)")


def backend_rates(texts: list[str], folder: Path) -> list[tuple[str, int, float, tuple[float, float], float]]:
    """(backend, threads, texts/s best of two, cosine to torch (min, mean), peak RSS MiB) for every backend."""
    import resource

    from index.backends import BACKENDS

    reference = None
    out = []
    for backend in BACKENDS:
        for count in (1, 2):
            embedder = Embedder(cache_path=None, backend=backend, threads=count, onnx_dir=ROOT / "var" / "onnx")
            embedder.encode(texts[:16])  # first calls build kernels
            best = min(timed(lambda: embedder.encode(texts))[0] for _ in range(2))
            vectors = embedder.encode(texts)
            if reference is None:
                reference = vectors
            cosine = (vectors * reference).sum(axis=1)
            out.append((backend, count, len(texts) / best, (float(cosine.min()), float(cosine.mean())),
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return out


def cold_build() -> tuple[float, int]:
    """`murmur index build` over the corpus with its distractors, on a fresh embedding cache (the default backend)."""
    import asyncio

    from index.build import build_from_forum
    from murmur.config import parse_settings
    from murmur.loading import import_path

    with tempfile.TemporaryDirectory(prefix="murmur-bench-") as tmp:
        settings = parse_settings({"index": {"cache_path": str(Path(tmp) / "cold.sqlite"),
                                             "onnx_dir": str(ROOT / "var" / "onnx")}})
        db = Path(tmp) / "forum.db"
        for source in (CORPUS / "threads.jsonl.gz", CORPUS / "distractors.jsonl.gz"):
            asyncio.run(import_path(source, db, settings, quiet=True))
        embedder = Embedder(cache_path=settings.index.cache_path, backend=settings.index.backend,
                            onnx_dir=settings.index.onnx_dir)
        began = time.perf_counter()
        index = build_from_forum(db, settings.index, embedder)
        seconds = time.perf_counter() - began
        embedder.close()
    return seconds, len(index)


def size_case(n: int, generator: ClusteredVectors, quick: bool) -> tuple[list[SearchRow], list[UpdateRow]]:
    """numpy and ThreadIndex at one size; at 100k the indexes then take the update benchmark (they are spent after)."""
    threshold = ThreadIndex(DIMS, "bench").hnsw_threshold
    vectors = generator.sample(n + QUERIES)
    base, queries = vectors[:n], vectors[n:]
    row, truth = numpy_row(base, queries)
    rows = [row]
    built = {}
    if n <= threshold or n <= UPDATE_SIZE:
        options = {} if n <= threshold else {"hnsw_threshold": 2 ** 62}
        built["flat"] = build_index(base, f"ThreadIndex flat {n:,}", **options)
    if n > threshold:
        built["hnsw"] = build_index(base, f"ThreadIndex HNSW {n:,}")
    for kind, (index, seconds) in built.items():
        rows += index_rows(index, f"ThreadIndex {kind}", queries, truth, seconds)
    updates = []
    if n == UPDATE_SIZE:
        fresh = generator.sample(FRESH)
        for index, _ in built.values():
            updates += update_rows(index, fresh, quick)
    return rows, updates


def updates_alone(generator: ClusteredVectors, quick: bool) -> list[UpdateRow]:
    """The update benchmark when the sizes skip 100k: build both kinds at 100k just for it."""
    base, fresh = generator.sample(UPDATE_SIZE), generator.sample(FRESH)
    updates = []
    for kind, options in (("flat", {"hnsw_threshold": 2 ** 62}), ("HNSW", {})):
        index, _ = build_index(base, f"ThreadIndex {kind} {UPDATE_SIZE:,}", **options)
        updates += update_rows(index, fresh, quick)
    return updates


def print_realism(real: np.ndarray, generator: ClusteredVectors, target: Shape, synthetic: Shape) -> None:
    target.recall = hnsw_recall(real, SEED)
    synthetic.recall = hnsw_recall(generator.sample(len(real)), SEED)
    section("3. Search: synthetic vectors shaped like real MiniLM ones (realism check first)")
    print("within = share of the real covariance put inside clusters, picked so the 1-NN cosine matches at the real "
          "set's size;\ndims = participation ratio of the covariance spectrum; R@10 = murmur's HNSW (M=32, "
          "efConstruction 80) against exact search, 200 held-out queries")
    print(realism_table(generator.within, target, synthetic))
    sys.stdout.flush()


def print_search(rows: list[SearchRow]) -> None:
    defaults = ThreadIndex(DIMS, "bench")
    section("3. Search: ThreadIndex vs numpy brute force, 200 held-out queries, k=10")
    print(f"ThreadIndex defaults: hnsw_threshold {defaults.hnsw_threshold:,}, M {defaults.hnsw_m}, efConstruction "
          f"{defaults.ef_construction}, efSearch {defaults.ef_search}. Built by upserting {CHUNK // 1000}k chunks into "
          f"one index:\nat or below the threshold it stays flat; above it, the chunk that passes the threshold turns it "
          f"into HNSW (a rebuild,\ninside the build time) and later chunks are added to the HNSW directly. The flat "
          f"rows above the threshold use\nhnsw_threshold=2**62. 1x1 = one query per call (ThreadIndex.search / "
          f"matrix @ q), x200 = all 200 in one call\n(search_many / queries @ matrix.T). Recall against numpy's exact "
          f"answer; efSearch {EF_SWEEP} set on the inner FAISS\nHNSW only when the default misses {TARGET_RECALL}.")
    print(search_table(rows))


def print_updates(updates: list[UpdateRow]) -> None:
    section(f"4. Updates on a {UPDATE_SIZE // 1000}k index: ThreadIndex vs bare FAISS (IndexIDMap2 over the same "
            f"kind, cloned from it)")
    print("ThreadIndex.upsert adds under a fresh label and tombstones the old one; remove only tombstones; compact() "
          "drops\ntombstones for real (HNSW: a rebuild). Removed ids were never replaced, so every call removes one "
          "live thread.")
    print(update_table(updates))


def run_search(sizes: list[int], real: np.ndarray, quick: bool) -> None:
    """Synthetic vectors calibrated on the real ones, searched at every size; a 100k pair of indexes takes updates."""
    within, target, synthetic = calibrate(real, SEED)
    generator = ClusteredVectors(*covariance_root(real), within, SEED)
    print_realism(real, generator, target, synthetic)
    rows: list[SearchRow] = []
    updates: list[UpdateRow] = []
    peak = ""
    for n in sizes:
        gc.collect()
        biggest = n == sizes[-1] and n > UPDATE_SIZE
        before, was_reset = status_kib("VmRSS"), biggest and reset_peak_rss()
        size_rows, size_updates = size_case(n, generator, quick)
        rows += size_rows
        updates += size_updates
        if biggest:
            scope = "since just before it" if was_reset else "over the whole process (VmHWM could not be reset)"
            peak = (f"memory, {n:,} case: peak RSS {status_kib('VmHWM') / 1024 ** 2:.2f} GiB {scope} (RSS before it "
                    f"{before / 1024 ** 2:.2f} GiB; one copy of the vectors is {n * DIMS * 4 / GIB:.2f} GiB, held by "
                    f"numpy and again by FAISS)")
    if UPDATE_SIZE not in sizes:
        updates = updates_alone(generator, quick)
    print_search(rows)
    if peak:
        print(peak)
    print_updates(updates)


def real_vectors(embedder: Embedder, threads: Sequence[CorpusThread]) -> np.ndarray:
    """Every distinct title + opening post and reply murmur embeds for the corpus, from the cache.

    Titles alone are left out: each is a near-copy of its own title + opening post, pairs no real corpus has.
    """
    texts: list[str] = []
    for thread in threads:
        _, opening, replies = thread.text.parts()
        texts += [opening, *replies]
    return embedder.embed(list(dict.fromkeys(texts)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10k and 100k, 128 texts (under 3 minutes)")
    parser.add_argument("--sizes", type=sizes_argument, help="search sizes, e.g. 10000,100000,1000000 (overrides --quick)")
    args = parser.parse_args()
    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    texts = 128 if args.quick else 512
    faiss.omp_set_num_threads(cores())
    threadpool_limits(limits=cores(), user_api="blas")

    began = time.perf_counter()
    embedder = Embedder(cache_path=CACHE)
    print(f"murmur index bench: quality, embedding ({texts} texts), search at {', '.join(f'{n:,}' for n in sizes)}, "
          f"updates at {UPDATE_SIZE:,}; seed {SEED}")
    print(machine())
    threads = load_corpus(CORPUS)
    run_quality(embedder, threads)
    clock = cpu_clock()
    run_embedding(threads, texts, embedder.batch_size)
    seconds, built = cold_build()
    print(f"cold `murmur index build` over the corpus and its distractors ({built:,} threads, default backend "
          f"{embedder.backend}, fresh cache): {seconds:.0f} s")
    print(other_load(clock))
    real = real_vectors(embedder, threads)
    embedder.close()
    clock = cpu_clock()
    run_search(sizes, real, args.quick)
    print(other_load(clock))
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
