"""``murmur ladder``: the detection ladder, to see which artifact each step of the simulation removes.

Cells: generator {splice, bank} x clock {after, replay} x behaviour {persona,
fitted} x population {persona, people}. Every cell runs the same swarm (corpus
personas, seed, bots, days) on a fresh forum of the same corpus threads (every
n-th thread of the shipped corpus), exports it and runs ``murmur detect`` on it:

- clock ``after``: the forum holds the threads at their original times and the
  bots' days start after the last post (the people's years are not the bots');
- clock ``replay``: the people's posts are replayed at their own times, sites
  aligned, and the bots act inside the same window;
- behaviour ``persona`` (hand-written schedules) or ``fitted`` (rates, hours,
  gaps and reply delays drawn from the forum's people);
- generator ``splice`` (sentences from the forum's own threads) or ``bank``
  (one human reply from the reply bank, disjoint from the forum);
- population ``persona`` (one account per bot, posting as its persona's
  schedule allows) or ``people`` (accounts whose post budgets and handles are
  drawn from the forum's people, many accounts to a persona).

Per cell: the best single feature with its family, combined and boosted
ROC-AUC and detection at 1% FPR with intervals, the family that carries the
result, the honesty flags raised, and whether calendar time or account age
alone separates the classes. Beside them, how far the bots are from the people
(``detection/two_sample.py``): a classifier two-sample test per family (held-out
accuracy on balanced samples, with its binomial interval; 0.5 is indistinguishable),
Kolmogorov-Smirnov distances on posts per account, gaps, reply latency, hour,
length and answer fit, and posts per account alone as a one-feature baseline.
One HTML page (a table and a plot per family and per two-sample test) and one
JSON file.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bots.dialogue.server import RasaServer
from bots.dialogue.training import RASA_DIR, rasa_bin_in, train_model
from bots.personas import CORPUS_PERSONAS
from bots.swarm.replay import read_replay
from conversations.importers import CORPUS_THREADS
from conversations.importers.jsonl import open_jsonl
from conversations.server import create_app
from detection.calendar import calendar_separation
from detection.dataset import load_dataset
from detection.export import export_forum
from detection.features import FAMILIES
from detection.pipeline import run_detection
from murmur.assembly import run_swarm
from murmur.config import Settings
from murmur.forwarding import ActionForwarder
from murmur.loading import import_path
from murmur.serving import start_site
from murmur.swarm_job import ForumAccess, SwarmJob

GENERATORS = ("splice", "bank")
CLOCKS = ("after", "replay")
BEHAVIOURS = ("persona", "fitted")
POPULATIONS = ("persona", "people")
CALENDAR_LIMIT = 0.9  # a calendar check separating this well says the set-up, not the behaviour, decides
TOKEN = "ladder-admin-token-0123456789"


@dataclass(frozen=True)
class Cell:
    generator: str
    clock: str
    behaviour: str
    population: str = "persona"

    @property
    def name(self) -> str:
        return f"{self.generator}-{self.clock}-{self.behaviour}-{self.population}"


def cells_of(generators: Sequence[str] = GENERATORS, clocks: Sequence[str] = CLOCKS,
             behaviours: Sequence[str] = BEHAVIOURS, populations: Sequence[str] = ("persona",)) -> list[Cell]:
    return [Cell(g, c, b, p) for g in generators for c in clocks for b in behaviours for p in populations]


def corpus_sample(out: Path, every: int) -> Path:
    """Every n-th thread of the shipped corpus as a JSONL file: the people of every cell's forum."""
    path = out / "forum-threads.jsonl"
    with open_jsonl(CORPUS_THREADS) as source, path.open("w", encoding="utf-8") as target:
        for n, line in enumerate(source):
            if n % every == 0:
                target.write(line)
    return path


async def run_ladder(settings: Settings, *, out: Path, cells: Sequence[Cell], every: int = 6, days: float = 30.0,
                     bots: int = 12, people_accounts: int = 60, splits: int = 5, bootstrap: int = 200, embedder=None,
                     progress: bool = True,
                     echo: Callable[[str], None] = print, rasa_url: str | None = None,
                     on_action_url: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every cell and write ``ladder.json`` and ``ladder.html`` into ``out``; returns the JSON's content.

    With ``rasa_url`` (and ``on_action_url`` to route its actions) the cells share a Rasa server someone else runs;
    otherwise one is started here for all of them, with its actions forwarded to the running cell.
    """
    from index.build import open_embedder

    out.mkdir(parents=True, exist_ok=True)
    people = corpus_sample(out, every)
    embedder = embedder or open_embedder(settings.index)
    results: dict[str, Any] = {"every": every, "days": days, "bots": bots, "people_accounts": people_accounts,
                               "seed": settings.seed, "splits": splits,
                               "bootstrap": bootstrap, "personas": str(CORPUS_PERSONAS), "cells": {}}
    if rasa_url is not None:
        for cell in cells:
            accounts = _accounts(cell, bots, people_accounts)
            results["cells"][cell.name] = await _cell(settings, cell, out, people, every, days, accounts, splits,
                                                      bootstrap, embedder, progress, echo, rasa_url, on_action_url)
    else:
        rasa_bin = rasa_bin_in(settings.rasa.venv_path())
        model = train_model(RASA_DIR, settings.rasa.model_dir, epochs=settings.rasa.epochs, rasa_bin=rasa_bin, note=echo)
        async with ActionForwarder() as forwarder:
            echo(f"starting the Rasa server with {model.model_path.name} for every cell ...")
            async with RasaServer(model.model_path, action_url=forwarder.url, rasa_bin=rasa_bin,
                                  log_path=out / "rasa-server.log", ready_timeout_s=settings.rasa.start_timeout_s) as rasa:
                for cell in cells:
                    accounts = _accounts(cell, bots, people_accounts)
                    results["cells"][cell.name] = await _cell(settings, cell, out, people, every, days, accounts,
                                                              splits, bootstrap, embedder, progress, echo, rasa.url,
                                                              forwarder.point_at)
    (out / "ladder.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    write_page(results, out)
    return results


async def _cell(settings: Settings, cell: Cell, out: Path, people: Path, every: int, days: float, bots: int,
                splits: int, bootstrap: int, embedder, progress: bool, echo: Callable[[str], None], rasa_url: str,
                on_action_url: Callable[[str], None] | None) -> dict[str, Any]:
    folder = out / cell.name
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "forum.db"
    for stale in folder.glob("forum.db*"):
        stale.unlink()
    echo(f"[{cell.name}] {bots} bots over {days:g} days ...")
    plan = None
    if cell.clock == "replay":
        plan = read_replay([people], align_sites=True, hours=days * 24)
    else:
        await import_path(people, db, settings, quiet=True)
    cell_settings = settings.model_copy(update={
        "rasa": settings.rasa.model_copy(update={"url": rasa_url}),
        "replies": settings.replies.model_copy(update={"backend": cell.generator}),
        "swarm": settings.swarm.model_copy(update={"behaviour": cell.behaviour, "population": cell.population,
                                                   "log_dir": folder / "runs"})})
    personas = CORPUS_PERSONAS
    if cell.population == "people" and plan is not None:
        personas = voices_for(plan, folder / "personas", embedder, settings.seed)
        echo(f"    voices: the corpus personas and {_count(personas) - _count(CORPUS_PERSONAS)} "
             f"induced from the people before the window, in {personas}")
    runner, port = await start_site(create_app(cell_settings.forum, db=db, admin_token=TOKEN), "127.0.0.1", 0)
    try:
        result = await run_swarm(cell_settings, ForumAccess(f"http://127.0.0.1:{port}", TOKEN),
                                 SwarmJob(f"ladder-{cell.name}", bots=bots, personas_dir=personas, hours=days * 24,
                                          replay=plan),
                                 progress=progress, echo=lambda line: echo(f"    {line}"), embedder=embedder,
                                 on_action_url=on_action_url)
    finally:
        await runner.cleanup()
    export_forum(db, folder / "dataset")
    report = run_detection(folder / "dataset", folder / "report", seed=settings.seed, progress=progress,
                           embedder=embedder, splits=splits, bootstrap=bootstrap)
    summary = summarize_cell(report.results, calendar_separation(load_dataset(folder / "dataset")))
    summary["accounts_posting"] = len(result.tally.active_bots)
    summary |= {"posts": result.tally.posts, "replayed": result.tally.replayed, "report": str(report.report_html)}
    echo(f"    best single feature {summary['best_feature']['name']} ({summary['best_feature']['family']}) "
         f"{summary['best_feature']['separation']:.3f}; combined {summary['combined']['roc_auc']['mean']:.3f}; "
         f"flags: {', '.join(summary['flags']) or 'none'}")
    return summary


VOICE_GROUP = 20  # people per induced voice aimed at in a people cell: smaller groups than induce's, never under ten


def _count(folder: Path) -> int:
    return len(list(folder.glob("*.yml")))


def voices_for(plan, out: Path, embedder, seed: int) -> Path:
    """The voices of a people cell: the corpus personas, and personas induced from the people the forum holds
    before the replay's window (groups of at least ten, never one person). Sixty accounts over a dozen voices
    crowd each other out of their threads (at most one account of a voice in a thread); more voices let the
    one-post accounts post, as the people's do."""
    from bots.induction import InductionError, induce_from, people_of, write_personas

    for stale in out.glob("*.yml"):
        stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for persona in CORPUS_PERSONAS.glob("*.yml"):
        (out / persona.name).write_text(persona.read_text(encoding="utf-8"), encoding="utf-8")
    try:
        write_personas(induce_from(people_of((("", t) for t in plan.before), where="the replay's held threads"),
                                   embedder, size=VOICE_GROUP, seed=seed), out)
    except InductionError:
        pass  # too few people before the window: the corpus personas alone
    return out


def _accounts(cell: Cell, bots: int, people_accounts: int) -> int:
    """Bot accounts in a cell: one per bot for persona cells, many small accounts for people cells."""
    return people_accounts if cell.population == "people" else bots


def summarize_cell(results: dict[str, Any], calendar: dict[str, float | None]) -> dict[str, Any]:
    """What the ladder shows of one detection report."""
    features = [f for f in results["features"]["accounts"] if f["separation"] is not None]
    best = features[0] if features else {"name": "-", "family": "-", "separation": float("nan")}
    detectors = results["detectors"]
    alone = {family: entry["alone"] for family, entry in (results.get("ablation") or {}).items() if entry["alone"]}
    carrying = max(alone, key=lambda f: alone[f]["mean"]) if alone else None
    return {
        "best_feature": {"name": best["name"], "family": best["family"], "separation": best["separation"]},
        "combined": {m: detectors["combined"]["accounts"][m] for m in ("roc_auc", "dr_at_1pct_fpr")},
        "boosted": {m: detectors["boosted"]["accounts"][m] for m in ("roc_auc", "dr_at_1pct_fpr")},
        "families": {family: alone[family] for family in alone},
        "carried_by": carrying,
        "flags": results.get("flags", []),
        "calendar": calendar,
        "calendar_separates": sorted(k for k, v in calendar.items() if v is not None and v >= CALENDAR_LIMIT),
        "two_sample": results.get("two_sample", {}),
        "distances": results.get("distances", {}),
        "posts_per_account": next((f["separation"] for f in results["features"]["accounts"] if f["name"] == "posts_log"),
                                  None),
    }


def _interval(metric: dict[str, Any]) -> str:
    low, high = metric["ci"]
    return f"{metric['mean']:.3f} [{low:.3f}, {high:.3f}]"


def _two_sample(tests: dict[str, Any]) -> str:
    shown = [f"{family} {t['accuracy']:.2f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]"
             for family, t in tests.items() if t]
    return "; ".join(shown) or "-"


def _distances(found: dict[str, Any]) -> str:
    return "; ".join(f"{measure.replace('_', ' ')} {d['ks']:.2f}" for measure, d in found.items() if d) or "-"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, cell in results["cells"].items():
        best = cell["best_feature"]
        rows.append([name, f"{best['name']} ({best['family']}) {best['separation']:.3f}",
                     _interval(cell["combined"]["roc_auc"]), _interval(cell["boosted"]["roc_auc"]),
                     _interval(cell["combined"]["dr_at_1pct_fpr"]), cell["carried_by"] or "-",
                     _number(cell.get("posts_per_account")), _two_sample(cell.get("two_sample", {})),
                     _distances(cell.get("distances", {})),
                     ", ".join(cell["flags"]) or "none", ", ".join(cell["calendar_separates"]) or "none"])
    return rows


HEADER = ["cell (generator-clock-behaviour-population)", "best single feature (family) ROC-AUC", "combined ROC-AUC",
          "boosted ROC-AUC", "combined detection at 1% FPR", "family carrying it", "posts per account alone ROC-AUC",
          "two-sample accuracy per family [95%]", "KS distance bots vs people", "honesty flags",
          "calendar or account age separates"]


def write_page(results: dict[str, Any], out: Path) -> Path:
    """ladder.html: the table, and for each family its ROC-AUC alone in every cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["cells"])
    nan = float("nan")

    def plot(file: str, means: list[float], cis: list[list[float]], ylabel: str, title: str) -> str:
        fig, ax = plt.subplots(figsize=(8, 3))
        errors = [[m - c[0] for m, c in zip(means, cis)], [c[1] - m for m, c in zip(means, cis)]]
        ax.bar(range(len(names)), means, yerr=errors, capsize=3, color="#6a8caf")
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
        ax.set_ylim(0.4, 1.02)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(out / file, dpi=110)
        plt.close(fig)
        return file

    plots = []
    for family in FAMILIES:
        alone = [results["cells"][n]["families"].get(family) or {} for n in names]
        plots.append(plot(f"family-{family}.png", [a.get("mean", nan) for a in alone],
                          [a.get("ci", [nan, nan]) for a in alone], "ROC-AUC alone", f"{family} family, accounts"))
        tests = [(results["cells"][n].get("two_sample") or {}).get(family) or {} for n in names]
        if any(tests):
            plots.append(plot(f"two-sample-{family}.png", [t.get("accuracy", nan) for t in tests],
                              [t.get("ci", [nan, nan]) for t in tests], "held-out accuracy",
                              f"{family} family: two-sample test, bots' accounts against as many people's"))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(results))
    figures = "".join(f'<img src="{p}" alt="{p}">' for p in plots)
    page = (f"<!doctype html><meta charset='utf-8'><title>murmur detection ladder</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px;"
            f"font-size:13px}}table{{border-collapse:collapse}}img{{display:block;margin:1em 0}}</style>"
            f"<h1>Detection ladder</h1><p>{results['bots']} bots (corpus personas) in persona cells, "
            f"{results.get('people_accounts', '-')} accounts in people cells, {results['days']:g} days, "
            f"forum of every {results['every']}th corpus thread, seed {results['seed']}, {results['splits']} splits by "
            f"account, {results['bootstrap']} bootstrap resamples each. A two-sample accuracy of 0.5 means a family "
            f"cannot tell the bots' accounts from as many of the people's; a KS distance of 0 means the same "
            f"distribution. Each cell's full report is in its folder.</p>"
            f"<table><tr>{head}</tr>{body}</table>{figures}")
    path = out / "ladder.html"
    path.write_text(page, encoding="utf-8")
    return path
