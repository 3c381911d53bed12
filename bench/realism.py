"""Realism, measured by hand: `.venv/bin/python bench/realism.py [--quick] [--hours 72] [--bots 12] [--every 6]`.

The bots' replies side by side with the people of the same threads, in the
same run, for the ``splice`` generator (the earlier baseline) and the ``bank``
generator (response selection from the reply bank, murmur's default):

1. A forum holding every n-th thread of the shipped corpus (default every 6th:
   ~300 threads over six sites); the bank is the rest of the corpus.
2. One swarm run per generator on a fresh copy of that forum: the twelve corpus
   personas, the same seed, the same simulated hours, each run with its own
   Rasa server (the model `murmur train` keeps).
3. Per run: responsiveness (median cosine between a reply and the post it
   answers), replies sharing an 8-word run with an earlier post, sources from
   another site, the detectors' copy features against the people's range, act
   fit (the bots' Rasa NLU reads an agree as agree ...), and the text-family
   detector's post-level ROC-AUC with its bootstrap interval.
4. The topic guard's calibration on the bank alone, the bank's memory and build
   time at 10k and 100k replies, and ten bank replies with the post each answers.

With ``--embedding-backends`` it compares instead the embedding backends
(``index.backend``: torch, onnx, onnx-int8): one bank run per backend on the same
forum, seed and hours, each judged with its own backend and with torch as one
fixed ruler; the share of bot replies on their persona's own site; and the
text-family detector on the torch run's dataset, embedded with each backend.

Nothing here is tuned on what it reports: the selection weights were chosen on
a different split of the corpus (every 4th thread from the second one), and the
topic threshold on the bank's own threads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bots.words.bank import BankReply, BankSource, BankThread, ReplyBank, read_bank  # noqa: E402
from bots.personas import CORPUS_PERSONAS  # noqa: E402
from bots.dialogue.server import RasaServer  # noqa: E402
from bots.swarm.evaluation import join_quality  # noqa: E402
from bots.swarm.runlog import read_log  # noqa: E402
from bots.dialogue.training import RASA_DIR, rasa_bin_in, train_model  # noqa: E402
from conversations.importers import CORPUS_THREADS  # noqa: E402
from detection.dataset import load_dataset  # noqa: E402
from detection.features import embed_forum  # noqa: E402
from detection.pipeline import run_detection  # noqa: E402
from detection.decorations import DECORATIONS  # noqa: E402
from detection.realism import bot_posts_from_log, measure  # noqa: E402
from index.backends import BACKENDS as EMBEDDING_BACKENDS  # noqa: E402
from index.cache import text_key  # noqa: E402
from index.documents import clip  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from murmur.config import parse_settings  # noqa: E402
from murmur.realism import corpus_forum, nlu_parser, run_and_measure  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-0123456789"
BACKENDS = ("splice", "bank")
PERSONA_SITES = ROOT / "index" / "corpus_personas.yml"
DISTRACTOR_SITES = {"history.meta", "bicycles.meta", "beer.meta", "coffee.meta"}
SCALES = (10_000, 100_000)


def rule(text: str) -> str:
    return f"\n{text}\n" + "-" * len(text)


def calibration(bank: ReplyBank, thresholds=(0.4, 0.45, 0.5, 0.55, 0.6)) -> list[tuple[float, int, float, float]]:
    """For each threshold: neighbour pairs among the bank's own threads at or above it, and their share from another site."""
    sites = np.array([t.site for t in bank.threads])
    sims = bank.thread_vectors @ bank.thread_vectors.T
    np.fill_diagonal(sims, -1)
    nearest = np.argsort(-sims, axis=1)[:, :10]
    top = np.take_along_axis(sims, nearest, 1)
    same = sites[nearest] == sites[:, None]
    rows = []
    for t in thresholds:
        above = top >= t
        rows.append((t, int(above.sum()), float(1 - same[above].mean()) if above.any() else 0.0,
                     float(above.any(1).mean())))
    return rows


def scaled_bank(base: ReplyBank, size: int, embedder: Embedder) -> tuple[float, int, float]:
    """A bank of ``size`` replies shaped like the real one (texts made unique, vectors near real ones, put in the
    embedding cache first): build seconds with a warm cache, bytes held, and peak traced memory."""
    rng = np.random.default_rng(0)
    threads, replies = [], []
    while len(replies) < size:
        for reply in base.replies:
            if len(replies) >= size:
                break
            copy = len(replies) // len(base.replies)
            thread = base.threads[reply.thread]
            if reply.id == base.replies_of([reply.thread])[0]:
                threads.append(BankThread(len(threads), f"{thread.external_id}#{copy}", thread.site,
                                          f"{thread.title} ({copy})", thread.tags, f"{thread.question} ({copy})", None))
            replies.append(BankReply(len(replies), f"{reply.post_id}#{copy}", len(threads) - 1,
                                     f"{reply.context} ({copy})", f"{reply.text} ({copy})", reply.asks))
    source = BankSource(threads, replies)
    texts = {clip(r.text) for r in replies} | {clip(r.context) for r in replies} | {
        clip(t.title) for t in threads} | {clip(f"{t.title}\n{t.question}") for t in threads}
    vectors = rng.standard_normal((len(texts), embedder.dims)).astype(np.float32) * 0.1
    vectors += base.reply_vectors[rng.integers(0, len(base.replies), len(texts))]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embedder.cache.put_many({text_key(embedder.model_id, t): v for t, v in zip(texts, vectors)})
    tracemalloc.start()
    began = time.perf_counter()
    bank = ReplyBank(source, embedder)
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, bank.nbytes(), peak


def detector_line(folder: Path, out: Path, embedder: Embedder, seed: int) -> dict:
    report = run_detection(folder, out, detectors=["text"], seed=seed, progress=False, embedder=embedder)
    return report.results["detectors"]["text"]["posts"]["roc_auc"]


def fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


async def bench(args: argparse.Namespace, tmp: Path) -> dict:
    base = parse_settings({"seed": args.seed})
    rasa_bin = rasa_bin_in(base.rasa.venv_path())
    print("model: checking var/rasa-models (a missing model is trained now, about a minute) ...", flush=True)
    trained = await asyncio.to_thread(train_model, RASA_DIR, base.rasa.model_dir, epochs=base.rasa.epochs,
                                      rasa_bin=rasa_bin)
    embedder = await asyncio.to_thread(Embedder, cache_path=base.index.cache_path, batch_size=base.index.batch_size,
                                       threads=base.index.threads)
    template = tmp / "template.db"
    threads = await corpus_forum(template, base, args.every)
    print(f"forum: every {args.every}th corpus thread, {threads} threads; the bank is the rest", flush=True)
    results: dict = {"forum_threads": threads, "every": args.every, "bots": args.bots, "hours": args.hours,
                     "seed": args.seed, "runs": {}}
    async with RasaServer(trained.model_path, action_url="http://127.0.0.1:9/unused", rasa_bin=rasa_bin,
                          log_path=tmp / "rasa-parse.log") as parser_server:
        parse = nlu_parser(parser_server.url)
        if args.embedding_backends:
            embedder.close()
            results["embedding_backends"] = await embedding_backends(args, tmp, template, parse)
            return results
        for backend in BACKENDS:
            settings = parse_settings({"seed": args.seed, "replies": {"backend": backend},
                                       "swarm": {"log_dir": str(tmp / "runs")}})
            print(f"{backend}: {args.bots} bots over {args.hours:g} simulated hours ...", flush=True)
            began = time.perf_counter()
            run = await run_and_measure(settings, template=template, folder=tmp / backend, admin_token=ADMIN_TOKEN,
                                        embedder=embedder, parse=parse, personas_dir=CORPUS_PERSONAS, bots=args.bots,
                                        hours=args.hours, run_id=f"realism-{backend}", progress=not args.quiet,
                                        echo=lambda line: print(f"    {line}", flush=True))
            wall = time.perf_counter() - began
            text_auc = await asyncio.to_thread(detector_line, run.dataset, tmp / backend / "report", embedder, args.seed)
            results["runs"][backend] = {"realism": run.realism.as_dict(), "text_post_roc_auc": text_auc,
                                        "posts": run.result.tally.posts, "turns": run.result.tally.turns,
                                        "silent": run.result.tally.silent, "wall_s": wall,
                                        "skipped": dict(run.result.tally.skipped), "examples": run.examples}
    bank = await asyncio.to_thread(lambda: ReplyBank(read_bank([CORPUS_THREADS]), embedder))
    results["calibration"] = calibration(bank)
    scale_embedder = Embedder(cache_path=None)
    results["scale"] = {size: scaled_bank(bank, size, scale_embedder) for size in SCALES}
    results["embed_rate"] = _embed_rate(embedder, bank)
    embedder.close()
    return results


async def embedding_backends(args: argparse.Namespace, tmp: Path, template: Path, parse) -> dict:
    """The bank generator once per embedding backend, judged by its own backend and by torch (one fixed ruler)."""
    import yaml

    persona_sites = {p["name"]: p["site"] for p in yaml.safe_load(PERSONA_SITES.read_text())["site_personas"]}
    out: dict = {}
    embedders = {}
    for backend in EMBEDDING_BACKENDS:
        settings = parse_settings({"seed": args.seed, "index": {"backend": backend},
                                   "swarm": {"log_dir": str(tmp / f"runs-{backend}")}})
        embedders[backend] = embedder = await asyncio.to_thread(
            Embedder, cache_path=settings.index.cache_path, batch_size=settings.index.batch_size,
            threads=settings.index.threads, backend=backend, onnx_dir=settings.index.onnx_dir)
        print(f"{backend}: {args.bots} bots over {args.hours:g} simulated hours (bank) ...", flush=True)
        began = time.perf_counter()
        run = await run_and_measure(settings, template=template, folder=tmp / f"emb-{backend}", admin_token=ADMIN_TOKEN,
                                    embedder=embedder, parse=parse, personas_dir=CORPUS_PERSONAS, bots=args.bots,
                                    hours=args.hours, run_id=f"realism-{backend}", progress=not args.quiet,
                                    echo=lambda line: print(f"    {line}", flush=True))
        quality = join_quality(run.result.log_path, run.db, persona_sites, DISTRACTOR_SITES,
                               settings.swarm.relevance_threshold)
        out[backend] = {"realism": run.realism.as_dict(), "wall_s": time.perf_counter() - began,
                        "joins": quality.joins, "on_site_share": quality.on_site_share,
                        "distractor_share": quality.distractor_share, "dataset": str(run.dataset),
                        "log": str(run.result.log_path)}
    ruler = embedders["torch"]
    for backend, row in out.items():  # the same ruler for every run: torch
        dataset = load_dataset(Path(row["dataset"]))
        judged = measure(dataset, embed_forum(dataset.forum, ruler),
                         bot_posts_from_log(list(read_log(Path(row["log"]))), dataset))
        row["torch_ruler"] = {"responsiveness_bots": judged.responsiveness_bots,
                              "responsiveness_people": judged.responsiveness_people}
    reference = Path(out["torch"]["dataset"])
    for backend, embedder in embedders.items():  # one dataset, each backend's vectors
        out[backend]["text_auc_on_torch_run"] = await asyncio.to_thread(
            detector_line, reference, tmp / f"detect-{backend}", embedder, args.seed)
        embedder.close()
    return out


def report_embedding_backends(results: dict) -> None:
    rows = results["embedding_backends"]
    print(rule(f"The bank per embedding backend: {results['forum_threads']} corpus threads, {results['bots']} corpus "
               f"personas, {results['hours']:g} simulated hours, seed {results['seed']}"))
    width = 34
    print(f"{'backend':<10} {'bot replies':>11} {'responsiveness bots/people (own)':>{width}} "
          f"{'(torch ruler)':>{width}} {'on-site':>8} {'distractors':>11} {'text AUC, torch run':>24}")
    for backend, row in rows.items():
        r, t, auc = row["realism"], row["torch_ruler"], row["text_auc_on_torch_run"]
        own = (f"{fmt(r['responsiveness_bots'])}/{fmt(r['responsiveness_people'])} "
               f"({r['responsiveness_bots'] - r['responsiveness_people']:+.3f})")
        fixed = (f"{fmt(t['responsiveness_bots'])}/{fmt(t['responsiveness_people'])} "
                 f"({t['responsiveness_bots'] - t['responsiveness_people']:+.3f})")
        print(f"{backend:<10} {r['bot_replies']:>11} {own:>{width}} {fixed:>{width}} {row['on_site_share']:>8.1%} "
              f"{row['distractor_share']:>11.1%} {fmt(auc['mean']):>8} [{fmt(auc['ci'][0])}, {fmt(auc['ci'][1])}]")
    print("goal for a default backend: responsiveness within people - 0.03 (the realism test), and no loss against "
          "torch beyond the runs' spread")


def _embed_rate(embedder: Embedder, bank: ReplyBank, n: int = 200) -> float:
    texts = [f"{clip(r.text)} #{time.time_ns()}" for r in bank.replies[:n]]
    began = time.perf_counter()
    embedder.encode(texts)
    return n / (time.perf_counter() - began)


def report(results: dict) -> None:
    runs = results["runs"]
    splice, bank = runs["splice"]["realism"], runs["bank"]["realism"]
    print(rule(f"Realism on a corpus forum ({results['forum_threads']} threads, every {results['every']}th), "
               f"{results['bots']} corpus personas, {results['hours']:g} simulated hours, seed {results['seed']}"))
    people = bank["responsiveness_people"]
    rows = [
        ("bot replies (people's replies in the same threads)", f"{splice['bot_replies']} ({splice['people_replies']})",
         f"{bank['bot_replies']} ({bank['people_replies']})", ""),
        ("responsiveness: median cosine reply -> the post it answers",
         f"{fmt(splice['responsiveness_bots'])} (people {fmt(splice['responsiveness_people'])})",
         f"{fmt(bank['responsiveness_bots'])} (people {fmt(people)})", f">= people - 0.03 = {fmt(people - 0.03)}"),
        ("sources from another site's thread", fmt(splice["cross_site_share"]), fmt(bank["cross_site_share"]), "<= 0.01"),
        ("replies sharing an 8-word run with an earlier post (anyone's / someone else's)",
         f"{fmt(splice['run_any_share'])} / {fmt(splice['run_other_share'])}",
         f"{fmt(bank['run_any_share'])} / {fmt(bank['run_other_share'])}", "0"),
    ]
    for name in ("copy_share_mean", "shared_sentences_mean"):
        low, high = bank["copy_people_range"][name]
        rows.append((f"{name} per account: bots' median (share outside people's 5-95% [{fmt(low)}, {fmt(high)}])",
                     f"{fmt(splice['copy_bots'][name])} ({fmt(splice['copy_bots_outside'][name], 2)})",
                     f"{fmt(bank['copy_bots'][name])} ({fmt(bank['copy_bots_outside'][name], 2)})", "inside"))
    for act in ("agree", "disagree", "ask_follow_up", "all"):
        rows.append((f"act fit, {act} (NLU on the posted text; n)",
                     f"{fmt(splice['act_fit'].get(act))} ({splice['act_counts'].get(act, sum(splice['act_counts'].values()))})",
                     f"{fmt(bank['act_fit'].get(act))} ({bank['act_counts'].get(act, sum(bank['act_counts'].values()))})",
                     ">= 0.7" if act == "all" else ""))
    rows.append(("people's replies the NLU reads as agree / disagree / question", "",
                 " / ".join(fmt(bank["people_intents"].get(k), 2) for k in ("agree", "disagree", "ask_question")), ""))
    rows.append(("text-family detector, post-level ROC-AUC [95% interval]",
                 *(f"{fmt(runs[b]['text_post_roc_auc']['mean'])} [{fmt(runs[b]['text_post_roc_auc']['ci'][0])}, "
                   f"{fmt(runs[b]['text_post_roc_auc']['ci'][1])}]" for b in BACKENDS), "report"))
    rows.append(("posts / turns / silent turns", *(f"{runs[b]['posts']} / {runs[b]['turns']} / {runs[b]['silent']}"
                                                   for b in BACKENDS), ""))
    for name in (*DECORATIONS, "median_words"):
        def shown(run: dict) -> str:
            b, p = run["decorations_bots"].get(name), run["decorations_people"].get(name)
            if b is None or p is None:
                return ""
            return f"{b:.0f} (people {p:.0f})" if name == "median_words" else f"{b:.1%} (people {p:.1%})"
        rows.append((f"decoration: {name.replace('_', ' ')} (share of replies)" if name != "median_words"
                     else "reply length, median words", shown(splice), shown(bank),
                     "" if name == "median_words" else "within 1 point of people"))
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'splice':>24}  {'bank':>24}  goal")
    for name, a, b, goal in rows:
        print(f"{name:{width}}  {a:>24}  {b:>24}  {goal}")
    print(f"silences of the bank run: {runs['bank']['skipped'].get('nothing_relevant_to_say', 0)} nothing_relevant_to_say, "
          f"{runs['bank']['skipped'].get('reply_taken', 0)} reply_taken")
    print(rule("Topic guard, calibrated on the bank's own threads (10 nearest each)"))
    for t, pairs, cross, covered in results["calibration"]:
        print(f"threshold {t:.2f}: {pairs:6d} neighbour pairs, {cross:.2%} from another site; "
              f"{covered:.0%} of threads have a neighbour")
    print(rule("The bank at scale (warm embedding cache; embedding itself at the measured rate)"))
    for size, (seconds, held, peak) in results["scale"].items():
        print(f"{size:>7,} replies: build {seconds:.1f} s + embedding ~{size * 1.6 / results['embed_rate'] / 60:.0f} min "
              f"cold ({results['embed_rate']:.0f} texts/s, ~1.6 texts a reply); holds {held / 2**20:.0f} MiB "
              f"(vectors, FAISS, run table), peak traced {peak / 2**20:.0f} MiB")
    print(rule("Ten bank replies, each with the post it answers"))
    for example in runs["bank"]["examples"][:10]:
        print(f"\n[{example['thread']}] {example['persona']} ({example['act']}), answering:\n  > "
              + example["answers"][:300].replace("\n", " ") + "\n  " + example["reply"].replace("\n", "\n  "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=72.0)
    parser.add_argument("--bots", type=int, default=12)
    parser.add_argument("--every", type=int, default=6, help="the forum holds every n-th corpus thread")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="24 simulated hours")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--embedding-backends", action="store_true",
                        help="compare the embedding backends (torch, onnx, onnx-int8) on the bank instead")
    parser.add_argument("--json", type=Path, default=None,
                        help="where the numbers go (var/realism.json; var/realism-backends.json with --embedding-backends)")
    args = parser.parse_args()
    if args.quick:
        args.hours = 24.0
    args.json = args.json or ROOT / "var" / ("realism-backends.json" if args.embedding_backends else "realism.json")
    with tempfile.TemporaryDirectory(prefix="murmur-bench-realism-") as tmp:
        results = asyncio.run(bench(args, Path(tmp)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    if args.embedding_backends:
        report_embedding_backends(results)
    else:
        report(results)
    print(f"\nnumbers: {args.json}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
