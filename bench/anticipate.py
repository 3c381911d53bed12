"""Anticipation at scale, measured by hand: `.venv/bin/python bench/anticipate.py [--scales 1,10,100]`.

`murmur anticipate` walks a forum's history in time order, updating every
account's profile post by post and ranking the whole pool for each new thread.
This measures, for the shipped corpus (1x: 1,848 threads, 1,879 accounts,
8,470 posts) and for synthetic forums shaped like it at 10x and 100x (100x:
~185k threads, ~188k accounts, ~850k posts), threads ranked per second and
the peak memory of the process, each scale in a fresh process so the peaks
do not mix. The baseline is the most-active ranking on the same walk: the
cost of the walk itself (reading every post, keeping counts) without the
profiles, FAISS and the hybrid.

Synthetic forums keep the corpus's shapes: posts per thread, how active
accounts are (each synthetic account copies a real one's activity), tags, and
thread vectors drawn around the real threads' (real vector + noise, so topics
cluster as they do); no text is embedded (embedding is measured in
bench/index.py), and BM25 runs at 1x only (its documents are the text).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from conversations.importers import CORPUS_THREADS, open_source  # noqa: E402
from index.anticipation import History, walk  # noqa: E402
from index.embedder import Embedder  # noqa: E402

SAMPLE_QUERIES = 2000  # at 10x and 100x only the last threads are ranked (every post before them is still walked)


def synthetic(real: History, vectors: np.ndarray, scale: int, seed: int = 0) -> tuple[History, np.ndarray]:
    """A forum ``scale`` times the corpus, shaped like it (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_threads, n_accounts = len(real.thread_ids) * scale, len(real.accounts) * scale
    activity = np.bincount([p[1] for p in real.posts], minlength=len(real.accounts)).astype(float) + 1
    weights = np.tile(activity, scale)
    weights /= weights.sum()
    template = rng.integers(0, len(real.thread_ids), n_threads)  # each synthetic thread copies a real one's shape
    home = rng.integers(0, len(real.thread_ids), n_accounts)  # and each account a real thread's topic
    span = max(real.thread_created) - min(real.thread_created)
    created = np.sort(rng.uniform(0, span * scale, n_threads))
    out_vectors = vectors[template] + rng.normal(0, 0.08, (n_threads, vectors.shape[1])).astype(np.float32)
    out_vectors /= np.linalg.norm(out_vectors, axis=1, keepdims=True)
    replies_of = np.maximum(np.bincount([p[2] for p in real.posts], minlength=len(real.thread_ids)) - 1, 0)
    askers = rng.choice(n_accounts, size=n_threads, p=weights)
    counts = replies_of[template]
    authors = rng.choice(n_accounts, size=int(counts.sum()), p=weights)  # one draw for every reply
    delays = rng.exponential(3600 * 6, size=len(authors))
    topical: dict[int, np.ndarray] = {}
    by_home = np.argsort(home % len(real.thread_ids), kind="stable")
    bounds = np.searchsorted((home % len(real.thread_ids))[by_home], np.arange(len(real.thread_ids) + 1))
    for shape in range(len(real.thread_ids)):
        topical[shape] = by_home[bounds[shape]:bounds[shape + 1]]  # accounts whose home topic is this thread's
    h = History([f"s:{a}" for a in range(n_accounts)], [], [], [], [], [], [], [], [])
    r = 0
    for t in range(n_threads):
        shape, asker = int(template[t]), int(askers[t])
        h.thread_ids.append(f"s:{t}")
        h.thread_sites.append(real.thread_sites[shape])
        h.thread_tags.append(real.thread_tags[shape])
        h.thread_texts.append(real.thread_texts[shape])
        h.thread_created.append(float(created[t]))
        h.thread_asker.append(asker)
        h.posts.append((float(created[t]), asker, t, "q"))
        joined = set()
        near = topical[shape]
        for i in range(int(counts[t])):
            author = int(near[rng.integers(len(near))]) if len(near) and rng.random() < 0.5 else int(authors[r])
            h.posts.append((float(created[t]) + float(delays[r]) + i, author, t, "a"))
            r += 1
            if author != asker:
                joined.add(author)
        h.joined.append(frozenset(joined))
    h.posts.sort(key=lambda p: (p[0], p[2], p[1]))
    return h, out_vectors


def measure(scale: int) -> dict:
    """One scale, in this process: threads/s for murmur and for the most-active baseline, and the peak memory."""
    embedder = Embedder(cache_path=ROOT / "var" / "embeddings.sqlite")
    threads, _ = open_source(CORPUS_THREADS)
    real = History.of(threads)
    from index.anticipation import _thread_vectors

    vectors = _thread_vectors(real, embedder)
    history, vectors = (real, vectors) if scale == 1 else synthetic(real, vectors, scale)
    first = sorted(history.thread_created)[max(0, len(history.thread_ids) - SAMPLE_QUERIES)] if scale > 1 else None
    out = {"scale": scale, "threads": len(history.thread_ids), "accounts": len(history.accounts),
           "posts": len(history.posts)}
    for label, methods in (("most_active", ("most_active",)), ("murmur", ("murmur",))):
        began = time.perf_counter()
        result = walk(history, embedder, methods=methods, vectors=vectors, start=first)
        seconds = time.perf_counter() - began
        out[label] = {"queries": len(result.queries), "seconds": seconds, "threads_per_s": len(result.queries) / seconds,
                      "posts_walked_per_s": len(history.posts) / seconds if first is None else None}
    if scale == 1:
        began = time.perf_counter()
        result = walk(history, embedder, methods=("bm25",), vectors=vectors)
        out["bm25"] = {"threads_per_s": len(result.queries) / (time.perf_counter() - began)}
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10,100", help="comma-separated multiples of the corpus")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one scale, in a child process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for scale in (int(s) for s in args.scales.split(",")):
        print(f"scale {scale}x ...", file=sys.stderr, flush=True)
        child = subprocess.run([sys.executable, __file__, "--one", str(scale)], capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(f"{'scale':>5} {'threads':>8} {'accounts':>8} {'posts':>8} {'ranked':>7} {'murmur thr/s':>12} "
          f"{'most-active thr/s':>17} {'ratio':>6} {'peak RSS MiB':>12}")
    for r in rows:
        m, b = r["murmur"], r["most_active"]
        print(f"{r['scale']:>4}x {r['threads']:>8,} {r['accounts']:>8,} {r['posts']:>8,} {m['queries']:>7,} "
              f"{m['threads_per_s']:>12.1f} {b['threads_per_s']:>17.1f} {m['threads_per_s'] / b['threads_per_s']:>6.2f} "
              f"{r['peak_rss_mib']:>12,.0f}")
    if "bm25" in rows[0]:
        print(f"BM25 baseline at 1x: {rows[0]['bm25']['threads_per_s']:.1f} threads/s")
    print("ranked = threads ranked (at 10x and 100x the last 2,000; every earlier post is still walked and profiled); "
          "ratio = murmur's rate over the most-active baseline's on the same walk; peak RSS includes the embedding "
          "model (~0.5 GiB), loaded to read the corpus's thread vectors from the cache")


if __name__ == "__main__":
    main()
