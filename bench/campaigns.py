"""Campaigns, measured by hand: `.venv/bin/python bench/campaigns.py [--quick] [--hours 24] [--bots 40]`.

On the replayed corpus with its people (the demo's forum: every 6th thread of the shipped corpus, sites aligned,
the people's posts replayed at their own times beside the bots; fitted behaviour, accounts shaped like the
people's), one swarm run per cell of a sweep over the campaign's delay (2 min, 30 min, 6 h) and its size (5, 20,
50 accounts), plus one plain swarm of the same accounts as the cost baseline. Every run starts from a copy of the
same held forum, with the same seed. Per cell:

- murmur's coordination detector (detection/coordination.py, one fixed configuration for every cell: nothing is
  tuned on the cells it is judged on), with co-stance read on the goal's topic (the analyst names the contested
  topic, never who is in the campaign) and without it: account ROC-AUC, recall at 1% false-positive rate, cluster
  AMI against campaign_id, weighted precision, and the false-positive rate on people who co-reply in bursts;
- time to detection: after how many of its on-goal posts (and forum hours) at least three of its accounts score
  above the people's top 1% (detection.coordination.time_to_detection);
- the reference detector, the outside coordination-network-toolkit, on the same export (co-reply, co-link and
  co-similar networks in the same window, clustered the same way) for its AMI beside murmur's;
- the shaping effect: the difference-in-differences of the share of others' posts on the campaign's side, its
  target threads against matched controls (detection/shaping.py), with its interval;
- the run's cost: actions per second against the plain swarm's.

The campaign pushes one side of one topic that the reply bank holds replies on both sides of (chosen by the words
the bank has, never by what the detector makes of them). Results go to var/bench-campaigns-POPULATION.json.
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

from bots.campaigns import parse_campaign  # noqa: E402
from conversations.server import create_app  # noqa: E402
from detection.coordination import evaluate, from_events, score, time_to_detection  # noqa: E402
from detection.dataset import load_dataset  # noqa: E402
from detection.export import export_forum  # noqa: E402
from detection.shaping import shaping_effect  # noqa: E402
from detection.toolkit import toolkit_network  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from murmur.assembly import run_swarm  # noqa: E402
from murmur.campaign_report import stance_reader_sides  # noqa: E402
from murmur.config import parse_settings  # noqa: E402
from murmur.demo import _hold, _replay_plan, personas_dir  # noqa: E402
from murmur.serving import start_site  # noqa: E402
from murmur.swarm_job import ForumAccess, SwarmJob  # noqa: E402

DELAYS = (("2 min", 120.0), ("30 min", 1800.0), ("6 h", 21600.0))
SIZES = (5, 20, 50)
TOKEN = "bench-campaigns-admin-token-0123456789"
GOAL = {"topic": "learning calculus by practice problems", "side": "pro"}
AUDIENCE = {"personas": ["calculus-lecturer", "school-math-teacher"], "top_k": 3}
AMI_MARGIN = 0.05  # a cell counts as murmur's only when its AMI is this much above the toolkit's
FOLLOWERS = 4  # amplifiers per driver post, the same in every cell: a bigger campaign has more drivers, not louder ones


def campaign_for(size: int, delay_s: float):
    return parse_campaign({"id": f"c{size}-{int(delay_s)}", "goal": GOAL, "audience": AUDIENCE, "accounts": size,
                           "synchrony": {"delay_s": delay_s, "jitter_s": delay_s / 4, "followers": FOLLOWERS},
                           "organic_share": 0.3}, "bench")


async def one_run(settings, held: Path, folder: Path, plan, run_id: str, embedder, campaign=None) -> dict:
    """A swarm (with ``campaign``, if given) on a fresh copy of the held forum, exported for the detectors."""
    db = folder / f"{run_id}.db"
    shutil.copy(held, db)
    runner, port = await start_site(create_app(settings.forum, db=db, admin_token=TOKEN), "127.0.0.1", 0)
    try:
        result = await run_swarm(settings, ForumAccess(f"http://127.0.0.1:{port}", TOKEN),
                                 SwarmJob(run_id, personas_dir=personas_dir(settings), replay=plan, campaign=campaign),
                                 embedder=embedder, progress=False, echo=lambda line: None)
    finally:
        await runner.cleanup()
    dataset = folder / f"{run_id}-dataset"
    export_forum(db, dataset)
    tally = result.tally
    actions = tally.decisions + tally.posts
    log = [json.loads(line) for line in Path(result.log_path).open(encoding="utf-8")]
    on_goal = sum(1 for r in log if r["kind"] == "post" and r.get("campaign"))
    return {"run": run_id, "posts": tally.posts, "on_goal": on_goal, "decisions": tally.decisions, "wall_s": result.wall_seconds,
            "actions_per_s": actions / max(result.wall_seconds, 1e-9), "dataset": str(dataset), "log": str(result.log_path)}


def evaluate_run(dataset_dir: Path, *, window_s: float, seed: int, reference: bool, side_of) -> dict:
    """murmur's detector (with co-stance on the goal's topic, and without), and the toolkit's networks clustered and
    scored the same way, on one export."""
    dataset = load_dataset(dataset_dir)
    started = time.perf_counter()
    sides = side_of(list(dataset.forum.post_body))
    _, ours = evaluate(dataset, window_s=window_s, seed=seed, sides=sides)
    figures: dict = {"murmur": ours.figures(), "murmur_s": time.perf_counter() - started,
                     "murmur_no_stance": evaluate(dataset, window_s=window_s, seed=seed)[1].figures()}
    campaign = next((c for c in dataset.truth.post_campaign if c), None)
    found = time_to_detection(dataset, campaign, window_s=window_s, seed=seed, sides=sides) if campaign else None
    figures["detected_after"] = {"posts": found.posts if found else None, "hours": found.hours if found else None,
                                 "of_posts": found.of_posts if found else 0}
    if reference:
        started = time.perf_counter()
        events = toolkit_network(dataset, dataset_dir / "toolkit", window_s=window_s)
        theirs = score(dataset, from_events(dataset.forum, events, seed=seed))
        figures |= {"toolkit": theirs.figures(), "toolkit_s": time.perf_counter() - started}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one cell (2 min, 20 accounts) and the baseline")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--bots", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--population", choices=["people", "persona"], default="people",
                        help="accounts' volumes drawn from the people (most post once or twice), or the personas' own")
    args = parser.parse_args()
    settings = parse_settings({"seed": args.seed, "swarm": {"bots": args.bots, "hours": args.hours,
                                                            "behaviour": "fitted", "population": args.population},
                               "forum": {"limits": {"posts_per_minute": 100_000, "post_burst": 100_000}}})
    cells = [(DELAYS[0], 20)] if args.quick else [(d, s) for d in DELAYS for s in SIZES]
    embedder = Embedder(cache_path=ROOT / "var" / "embeddings.sqlite")
    side_of = stance_reader_sides(embedder, GOAL["topic"])  # the analyst names the contested topic, not who
    out: dict = {"hours": args.hours, "bots": args.bots, "seed": args.seed, "population": args.population, "goal": GOAL,
                 "cells": []}
    with tempfile.TemporaryDirectory(prefix="murmur-campaigns-") as tmp:
        folder = Path(tmp)
        # its own run logs: a run id (plain, c20-120, ...) is the same in every bench run
        settings = settings.model_copy(update={"swarm": settings.swarm.model_copy(update={"log_dir": folder / "runs"})})
        plan = _replay_plan(folder / "people.jsonl", args.hours)
        held = folder / "held.db"
        asyncio.run(_hold(held, plan, settings))
        baseline = asyncio.run(one_run(settings, held, folder, plan, "plain", embedder))
        print(f"plain swarm: {baseline['posts']} posts, {baseline['actions_per_s']:.1f} actions/s", flush=True)
        out["baseline"] = baseline
        for (label, delay_s), size in cells:
            started = time.perf_counter()
            campaign = campaign_for(size, delay_s)
            ran = asyncio.run(one_run(settings, held, folder, plan, campaign.id, embedder, campaign))
            figures = evaluate_run(Path(ran["dataset"]), window_s=600.0, seed=args.seed, reference=True, side_of=side_of)
            if ran["on_goal"]:
                shaped = shaping_effect(load_dataset(Path(ran["dataset"])), campaign.id, GOAL["side"], side_of,
                                        seed=args.seed)
                figures["shaping"] = {"effect": shaped.effect, "interval": shaped.interval, "pairs": shaped.pairs,
                                      "replies_to_campaign": shaped.replies_to_campaign}
                print("\n".join(shaped.lines()), flush=True)
            else:  # its accounts never found a thread awake, or words on its side: nothing to shape with
                figures["shaping"] = {"effect": float("nan"), "interval": (float("nan"), float("nan")), "pairs": 0,
                                      "replies_to_campaign": 0}
            cell = {"delay": label, "size": size, **ran, **figures,
                    "cost_ratio": baseline["actions_per_s"] / max(ran["actions_per_s"], 1e-9)}
            out["cells"].append(cell)
            ours, theirs, plain = figures["murmur"], figures.get("toolkit", {}), figures["murmur_no_stance"]
            print(f"{label:>6} x {size:>2}: murmur AUC {ours['roc_auc']:.3f} AMI {ours['ami']:.3f} (without co-stance "
                  f"{plain['roc_auc']:.3f} / {plain['ami']:.3f}) wP "
                  f"{ours['weighted_precision']:.3f} recall@1%FPR {ours['recall_at_fpr']:.3f} burst FPR "
                  f"{ours['burst_fpr']:.3f} | toolkit AUC {theirs.get('roc_auc', float('nan')):.3f} AMI "
                  f"{theirs.get('ami', float('nan')):.3f} | {ran['posts']} posts, cost x{cell['cost_ratio']:.2f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    print_table(out)
    report = ROOT / "var" / f"bench-campaigns-{args.population}.json"
    report.write_text(json.dumps(out, indent=2, default=str))
    print(f"results: {report}")


def _detected(cell: dict) -> str:
    found = cell["detected_after"]
    if found["posts"] is None:
        return f"never ({found['of_posts']} posts)"
    return f"{found['posts']} of {found['of_posts']} posts, {found['hours']:.1f} h"


def print_table(out: dict) -> None:
    print("\n| delay | accounts | on-goal posts | murmur AUC | recall @1% FPR | AMI | AUC / AMI without co-stance | "
          "weighted P | burst FPR | detected after | toolkit AUC | toolkit AMI | shaping (95% CI) | cost x |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in out["cells"]:
        m, t, sh, n = c["murmur"], c.get("toolkit", {}), c["shaping"], c.get("murmur_no_stance", {})
        print(f"| {c['delay']} | {c['size']} | {c.get('on_goal', '-')} | {m['roc_auc']:.3f} | {m['recall_at_fpr']:.3f} | "
              f"{m['ami']:.3f} | {n.get('roc_auc', float('nan')):.3f} / {n.get('ami', float('nan')):.3f} | "
              f"{m['weighted_precision']:.3f} | {m['burst_fpr']:.3f} | {_detected(c)} | "
              f"{t.get('roc_auc', float('nan')):.3f} | "
              f"{t.get('ami', float('nan')):.3f} | {sh['effect']:+.3f} ({sh['interval'][0]:+.3f}..{sh['interval'][1]:+.3f}) | "
              f"{c['cost_ratio']:.2f} |")
    def beats(ours) -> int:  # by more than a margin: two AMIs near 0 differ by noise, not by detection
        return sum(ours(c) > c.get("toolkit", {}).get("ami", float("inf")) + AMI_MARGIN for c in out["cells"])
    wins = beats(lambda c: c["murmur"]["ami"])
    plain = beats(lambda c: c.get("murmur_no_stance", {}).get("ami", -1.0))
    print(f"murmur's AMI above the toolkit's by more than {AMI_MARGIN} in {wins} of {len(out['cells'])} cells "
          f"({plain} without co-stance, on the same traces the toolkit builds)")


if __name__ == "__main__":
    main()
