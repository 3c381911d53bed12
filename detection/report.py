"""The report: report.json (every number, for scripts), report.html (the same numbers, with ROC and PR
curves and the AUC-by-posts-seen plot as PNG files next to it).

Plots are drawn on matplotlib's Agg canvas directly (no pyplot, no display needed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from detection.evaluate import Evaluation, Outcome
from detection.formatting import num, pct, with_interval

TEMPLATE = Path(__file__).resolve().parent / "templates" / "report.html"
PLOTS = {
    "roc_accounts": "ROC curves, accounts",
    "pr_accounts": "Precision-recall curves, accounts",
    "roc_posts": "ROC curves, posts",
    "pr_posts": "Precision-recall curves, posts",
    "posts_seen": "ROC-AUC by posts seen per account",
}


def _main(outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    """The detectors a curve plot shows: not the leave-one-out ablations (they are in the table)."""
    return {n: o for n, o in outcomes.items() if not n.startswith("combined without")}


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, format="png")


def _curves(path: Path, outcomes: dict[str, Outcome], kind: str, title: str) -> None:
    figure, ax = _figure()
    for name, outcome in _main(outcomes).items():
        x, y = outcome.roc() if kind == "roc" else outcome.pr()
        metric = "roc_auc" if kind == "roc" else "pr_auc"
        mean = float(np.nanmean([m[metric] for m in outcome.per_split]))
        style = "--" if name == "baseline" else "-"
        ax.plot(x, y, style, label=f"{name} ({metric.replace('_', '-').upper()} {mean:.3f})", linewidth=1.6)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1)
        ax.axvline(0.01, color="grey", linewidth=0.6)
        ax.axvline(0.05, color="grey", linewidth=0.6)
        ax.set_xlabel("false-positive rate (human accounts flagged)" if "accounts" in path.stem else "false-positive rate")
        ax.set_ylabel("detection rate (true-positive rate)")
    else:
        labels = next(iter(outcomes.values())).scored
        prevalence = float(np.mean([np.mean(y) for y, _ in labels]))
        ax.axhline(prevalence, linestyle=":", color="grey", linewidth=1, label=f"chance ({prevalence:.2f})")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{title} (mean over splits)")
    ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
    _save(figure, path)


def _posts_seen(path: Path, posts_seen: dict[str, list[dict[str, Any]]], most: int) -> None:
    figure, ax = _figure()
    for name, rows in posts_seen.items():
        ks = [row["k"] if row["k"] != "all" else most for row in rows]
        means = [row["roc_auc"]["mean"] if row["roc_auc"]["mean"] is not None else math.nan for row in rows]
        lo = [row["roc_auc"]["ci"][0] if row["roc_auc"]["ci"][0] is not None else math.nan for row in rows]
        hi = [row["roc_auc"]["ci"][1] if row["roc_auc"]["ci"][1] is not None else math.nan for row in rows]
        ax.plot(ks, means, "o-", label=name)
        ax.fill_between(ks, lo, hi, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xticks(ks)
    ax.set_xticklabels([str(row["k"]) for row in rows])
    ax.set_xlabel("posts seen per account (first k, in time order)")
    ax.set_ylabel("ROC-AUC, accounts")
    ax.set_ylim(0.4, 1.01)
    ax.axhline(0.5, linestyle=":", color="grey", linewidth=1)
    ax.set_title("How detection grows with the posts seen (95% interval shaded)")
    ax.legend(loc="lower right", fontsize=8)
    _save(figure, path)


def write_report(out_dir: Path, results: dict[str, Any], evaluation: Evaluation, seen: dict[int, Evaluation]) -> tuple[Path, Path]:
    """Write the plots, report.html and report.json; returns (html, json) paths."""
    out_dir = Path(out_dir)
    plots = {}
    for level in ("accounts", "posts"):
        outcomes = evaluation.accounts if level == "accounts" else evaluation.posts
        for kind in ("roc", "pr"):
            name = f"{kind}_{level}"
            _curves(out_dir / f"{name}.png", outcomes, kind, PLOTS[name])
            plots[name] = f"{name}.png"
    most = max([k for k in seen] + [1]) * 2
    _posts_seen(out_dir / "posts_seen.png", results["posts_seen"], most)
    plots["posts_seen"] = "posts_seen.png"
    results["files"] = {"html": "report.html", "json": "report.json", "plots": plots}

    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True,
                                     undefined=jinja2.StrictUndefined)
    environment.filters.update(
        num=num, pct=pct, ci=lambda m, percent=False: Markup(with_interval(m, percent).replace(" [", " <small>[") + "</small>"))
    html = environment.get_template(TEMPLATE.name).render(r=results, plots=plots, titles=PLOTS)
    html_path = out_dir / "report.html"
    html_path.write_text(html, encoding="utf-8")
    return html_path, json_path
