"""Shipped vectors against fresh ones, by hand: `.venv/bin/python bench/shipped.py [--hours 24] [--bots 20]`.

Does a run with the vectors shipped in data/derived make the same decisions as one with vectors computed now?

1. Fresh: every shipped text (index/shipped.py) embedded now on this machine with the configured backend, into
   a cache of this run's own (no pack, no earlier cache): the first-run cost the pack saves, and the baseline.
2. Encodings: the fresh vectors rounded to float16 and to int8 (one scale per vector), each against float32:
   cosine to the fresh vector, the 10 nearest thread documents kept, and the bytes a pack takes.
3. Runs: the demo's forum (every 6th corpus thread) and swarm (the 12 corpus personas, seed 0) on fresh copies,
   each with its own Rasa server: with the fresh vectors (baseline), with the shipped pack, and with a float32
   pack written from the fresh vectors (the pack's own path, with no rounding). Run logs are compared record by
   record; where they differ, the first difference and the counts of turns and posts are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bots.personas import CORPUS_PERSONAS  # noqa: E402
from bots.swarm.runlog import read_log  # noqa: E402
from conversations.server import create_app  # noqa: E402
from core.shipped import DERIVED_DIR, read_manifest  # noqa: E402
from index.cache import text_key  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.shipped import ShippedVectors, corpus_texts, pack_name, write_pack  # noqa: E402
from murmur.assembly import run_swarm  # noqa: E402
from murmur.swarm_job import ForumAccess, SwarmJob  # noqa: E402
from murmur.config import load_settings, parse_settings  # noqa: E402
from murmur.realism import corpus_forum  # noqa: E402
from murmur.serving import start_site  # noqa: E402

ADMIN_TOKEN = "bench-shipped-admin-token-0123"
CHUNK = 256


def embed_fresh(texts: list[str], cache: Path, settings) -> tuple[np.ndarray, float, str]:
    index = settings.index
    embedder = Embedder(cache_path=cache, batch_size=index.batch_size, threads=index.threads, backend=index.backend,
                        onnx_dir=index.onnx_dir, shipped=False)
    began = time.perf_counter()
    parts = []
    with tqdm(total=len(texts), unit="text", desc="embedding every shipped text fresh") as bar:
        for start in range(0, len(texts), CHUNK):
            parts.append(embedder.embed(texts[start:start + CHUNK]))
            bar.update(len(texts[start:start + CHUNK]))
    seconds = time.perf_counter() - began
    model = embedder.model_id
    embedder.close()
    return np.vstack(parts), seconds, model


def rounded(vectors: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "float16":
        out = vectors.astype(np.float16).astype(np.float32)
    else:  # int8, one scale per vector
        scale = np.abs(vectors).max(axis=1, keepdims=True) / 127
        out = np.round(vectors / scale).astype(np.int8).astype(np.float32) * scale
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def encodings_table(texts: list[str], fresh: np.ndarray) -> None:
    titles = [i for i, t in enumerate(texts) if "\n" in t][:3000]  # title + opening post: thread documents
    base = fresh[titles]
    truth = np.argsort(-(base @ base.T), axis=1)[:, 1:11]
    print(f"\n{'encoding':<9} {'bytes/text':>10} {'pack MB':>8} {'min cos':>9} {'p01 cos':>9} {'10-NN kept':>10}")
    for encoding, size in (("float32", 4), ("float16", 2), ("int8", 1)):
        approx = fresh if encoding == "float32" else rounded(fresh, encoding)
        cos = np.sum(approx * fresh, axis=1)
        got = np.argsort(-(approx[titles] @ approx[titles].T), axis=1)[:, 1:11]
        kept = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)])
        per = 384 * size + (4 if encoding == "int8" else 0) + 16
        print(f"{encoding:<9} {per:>10} {per * len(texts) / 1e6:>8.1f} {cos.min():>9.6f} {np.quantile(cos, 0.01):>9.6f} "
              f"{kept:>10.4f}")


async def swarm_run(name: str, embedder: Embedder, template: Path, folder: Path, args, settings) -> list[str]:
    folder.mkdir(parents=True)
    db = folder / "forum.db"
    shutil.copyfile(template, db)
    run_settings = parse_settings({"seed": args.seed, "swarm": {"log_dir": str(folder / "runs")},
                                   "rasa": {"model_dir": str(settings.rasa.model_dir.resolve())}})
    runner, port = await start_site(create_app(run_settings.forum, db=db, admin_token=ADMIN_TOKEN), "127.0.0.1", 0)
    began = time.perf_counter()
    try:
        result = await run_swarm(run_settings, ForumAccess(f"http://127.0.0.1:{port}", ADMIN_TOKEN),
                                 SwarmJob("bench-shipped", bots=args.bots, personas_dir=CORPUS_PERSONAS,
                                          hours=args.hours),
                                 progress=False, echo=lambda line: None, embedder=embedder)
    finally:
        await runner.cleanup()
    tally = result.tally
    print(f"  {name:<22} {tally.turns:>5} turns {tally.posts:>4} posts  {time.perf_counter() - began:6.1f} s "
          f"(vectors: {embedder.stats.shipped_hits:,} shipped, {embedder.stats.encoded:,} computed)", flush=True)
    return result.log_path.read_text(encoding="utf-8").splitlines()


TOLERANCE = 2e-4  # a recorded score (4 decimals) that moved by a rounding step of the vectors, no more


def _same(a: object, b: object) -> bool:
    """Whether two run-log records make the same decision: equal, but for numbers within TOLERANCE."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOLERANCE
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def compare(baseline: list[str], other: list[str], name: str) -> None:
    if baseline == other:
        print(f"  {name}: the same run log as the fresh vectors ({len(baseline)} records, byte for byte)")
        return
    kinds = lambda lines: {k: sum(f'"kind": "{k}"' in line for line in lines) for k in ("turn", "post")}  # noqa: E731
    differing = [i for i, (a, b) in enumerate(zip(baseline, other)) if a != b]
    decisions = [i for i in differing if not _same(json.loads(baseline[i]), json.loads(other[i]))]
    print(f"  {name}: {len(differing)} of {len(baseline)} records differ from the fresh run's "
          f"(fresh {kinds(baseline)}, {name} {kinds(other)}); "
          + (f"{len(decisions)} differ by more than {TOLERANCE:g} in a number, or in anything else" if decisions or len(baseline) != len(other)
             else f"every one only in a recorded score, by {TOLERANCE:g} at most: the same decisions"))
    for i in (decisions or differing)[:1]:
        print(f"    first: fresh   {baseline[i][:300]}")
        print(f"           {name:<7} {other[i][:300]}")


async def main(args: argparse.Namespace) -> None:
    settings = load_settings(None)
    backend = settings.index.backend
    entry = read_manifest()["files"].get(pack_name(backend), {})
    print(f"backend {backend}; shipped pack: {entry.get('count', 0):,} texts, {entry.get('encoding')}, "
          f"{(DERIVED_DIR / pack_name(backend)).stat().st_size / 1e6:.1f} MB", flush=True)
    texts = corpus_texts()
    with tempfile.TemporaryDirectory(prefix="murmur-bench-shipped-") as tmp_name:
        tmp = Path(tmp_name)
        fresh_cache = tmp / "fresh.sqlite"
        fresh, seconds, model = embed_fresh(texts, fresh_cache, settings)
        print(f"fresh: {len(texts):,} texts in {seconds:.0f} s ({len(texts) / seconds:.0f} texts/s): the first-run work "
              "the pack saves", flush=True)
        encodings_table(texts, fresh)
        write_pack([text_key(model, t) for t in texts], fresh, model_id=model, backend=backend, encoding="float32",
                   folder=tmp / "fp32", sources={})
        began = time.perf_counter()
        pack = ShippedVectors(model, backend, fresh.shape[1])
        found = pack.get_many([text_key(model, t) for t in texts])
        print(f"\nshipped pack: {len(found):,} of {len(texts):,} texts found, read and checked in "
              f"{time.perf_counter() - began:.2f} s ({seconds / max(time.perf_counter() - began, 1e-3):.0f}x faster "
              f"than embedding them)", flush=True)
        template = tmp / "template.db"
        threads = await corpus_forum(template, settings, args.every)
        print(f"\nruns: every {args.every}th corpus thread ({threads} threads), {args.bots} bots, {args.hours:g} simulated "
              f"hours, seed {args.seed}, each with its own Rasa server", flush=True)
        variants = {
            "fresh (baseline)": lambda: Embedder(cache_path=tmp / "fresh-run.sqlite", shipped=False),
            "shipped pack": lambda: Embedder(cache_path=tmp / "shipped-run.sqlite"),
            "float32 pack": lambda: Embedder(cache_path=tmp / "fp32-run.sqlite",
                                             shipped=ShippedVectors(model, backend, fresh.shape[1], folder=tmp / "fp32")),
        }
        shutil.copyfile(fresh_cache, tmp / "fresh-run.sqlite")
        logs = {}
        for n, (name, make) in enumerate(variants.items()):
            embedder = make()
            logs[name] = await swarm_run(name, embedder, template, tmp / f"run-{n}", args, settings)
            embedder.close()
        print()
        keep = ROOT / "var" / "bench-shipped"  # the run logs, to read after the run
        keep.mkdir(parents=True, exist_ok=True)
        for name, lines in logs.items():
            (keep / f"{name.split()[0]}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"run logs kept in {keep}")
        baseline = logs.pop("fresh (baseline)")
        for name, lines in logs.items():
            compare(baseline, lines, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--bots", type=int, default=20)
    parser.add_argument("--every", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    asyncio.run(main(parser.parse_args()))
