"""The anticipation walk as numbers, a terminal table, report.json and report.html with a Hit@k curve per method."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from index.anticipation import Walk, bootstrap, hit_at, mrr

CURVE_K = tuple(range(1, 51))


def summarize(walk: Walk, *, k: int = 10, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Hit@5, Hit@k and MRR per method, over all threads and per site, each with a 95% bootstrap interval."""
    groups: dict[str, list] = defaultdict(list)
    for query in walk.queries:
        groups["all"].append(query)
        groups[query.site].append(query)
    out: dict[str, Any] = {"threads": len(walk.queries), "k": k, "median_pool": float(np.median(walk.candidates))
                           if walk.candidates else 0.0, "groups": {}}
    for group, queries in sorted(groups.items(), key=lambda g: (g[0] != "all", g[0])):
        rows = {}
        for method in walk.methods:
            ranks = [q.ranks[method] for q in queries]
            rows[method] = {name: {"mean": fn(ranks), "ci": bootstrap(ranks, fn, resamples=resamples, seed=seed)}
                            for name, fn in (("hit@5", lambda r: hit_at(r, 5)), (f"hit@{k}", lambda r: hit_at(r, k)),
                                             ("mrr", mrr))}
            if group == "all":
                rows[method]["curve"] = [hit_at(ranks, n) for n in CURVE_K]
        out["groups"][group] = {"threads": len(queries), "methods": rows}
    overall = out["groups"]["all"]["methods"]
    baselines = [m for m in walk.methods if m != "murmur"]
    if "murmur" in overall and baselines:
        best = max(baselines, key=lambda m: overall[m][f"hit@{k}"]["mean"])
        ours, theirs = overall["murmur"][f"hit@{k}"], overall[best][f"hit@{k}"]
        wins = [g for g, v in out["groups"].items() if g != "all" and all(
            v["methods"]["murmur"][f"hit@{k}"]["mean"] > v["methods"][m][f"hit@{k}"]["mean"] for m in baselines)]
        out["comparison"] = {"best_baseline": best, "ratio": ours["mean"] / theirs["mean"] if theirs["mean"] else None,
                             "intervals_overlap": ours["ci"][0] <= theirs["ci"][1],
                             "sites_above_every_baseline": wins,
                             "sites": [g for g in out["groups"] if g != "all"]}
    return out


def table(summary: dict[str, Any]) -> str:
    k = summary["k"]
    lines = [f"{'site':<15} {'threads':>7}  {'method':<12} {'Hit@5':>20} {f'Hit@{k}':>20} {'MRR':>20}"]
    lines.append("-" * len(lines[0]))
    for group, entry in summary["groups"].items():
        for i, (method, row) in enumerate(entry["methods"].items()):
            cells = [f"{row[m]['mean']:.3f} [{row[m]['ci'][0]:.3f}, {row[m]['ci'][1]:.3f}]"
                     for m in ("hit@5", f"hit@{k}", "mrr")]
            lines.append(f"{group if i == 0 else '':<15} {entry['threads'] if i == 0 else '':>7}  {method:<12} "
                         + " ".join(f"{c:>20}" for c in cells))
    comparison = summary.get("comparison")
    if comparison:
        lines.append(f"murmur's Hit@{k} is {comparison['ratio']:.2f}x the best baseline ({comparison['best_baseline']}); "
                     f"intervals {'overlap' if comparison['intervals_overlap'] else 'do not overlap'}; above every "
                     f"baseline on {len(comparison['sites_above_every_baseline'])} of {len(comparison['sites'])} sites "
                     f"({', '.join(comparison['sites_above_every_baseline']) or 'none'})")
    return "\n".join(lines)


def write_report(summary: dict[str, Any], out: Path) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    for method, row in summary["groups"]["all"]["methods"].items():
        ax.plot(CURVE_K, row["curve"], label=method)
    ax.set_xlabel("k (accounts suggested)")
    ax.set_ylabel("Hit@k (a joiner among them)")
    ax.set_title(f"Who joins the conversation: {summary['threads']} threads")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "hit-at-k.png", dpi=110)
    plt.close(fig)
    report_json = out / "report.json"
    report_json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    rows = "".join(f"<tr><td>{html.escape(line)}</td></tr>" for line in table(summary).splitlines())
    page = ("<!doctype html><meta charset='utf-8'><title>murmur anticipate</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{font-family:monospace;white-space:pre}</style>"
            "<h1>Anticipation on real people</h1><p>For every thread opened in the window, every account active "
            "before it was ranked from what it had written before; a hit is an account that went on to reply or "
            "comment. Intervals: 95% bootstrap over threads.</p>"
            f"<img src='hit-at-k.png' alt='Hit@k curves'><table>{rows}</table>")
    report_html = out / "report.html"
    report_html.write_text(page, encoding="utf-8")
    return report_json, report_html
