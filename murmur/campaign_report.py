"""``murmur campaign report``: one page on a run's campaigns, read from its export.

What a trust-and-safety reader asks of a campaign, in the order they ask it: did the coordination detector find
it (scores against the ground truth, time to detection), what does the account network look like (drawn, campaign
accounts coloured by their campaign, people grey), how much depends on the detector's window, and did the campaign
shape the conversation (difference-in-differences against matched controls). A bench sweep's results
(``bench/campaigns.py``) can be added for detection against the campaign's delay and size.

Co-stance needs sides, which the stance reader (with the bots) reads on a topic the analyst names: the report
wires the two, since detection imports nothing of the bots'.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from murmur.errors import MurmurError

WINDOWS = (("2 min", 120.0), ("10 min", 600.0), ("30 min", 1800.0), ("6 h", 21600.0))
PEOPLE = "#b8b8b8"
BOTS = "#8fb8de"  # synthetic accounts outside any campaign
CAMPAIGNS = ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#e377c2")
SIZE = 640


class ReportError(MurmurError):
    """A report that cannot be made from what it was given (a sweep file that is not the bench's)."""


@dataclass(frozen=True)
class CampaignReport:
    path: Path
    lines: tuple[str, ...]


def stance_reader_sides(embedder, topic: str) -> Callable[[Sequence[str]], list[str]]:
    """Texts -> their sides on ``topic`` (pro, con, none), read by the bots' stance reader."""
    from bots.dialogue.stance import StanceReader

    reader = StanceReader(embedder)
    vector = embedder.embed_one(topic)

    def side_of(texts: Sequence[str]) -> list[str]:
        texts = list(texts)
        return reader.sides(topic, texts, embedder.embed(texts) @ vector) if texts else []
    return side_of


def _campaign_side(dataset, campaign_id: str, sides: Sequence[str]) -> str | None:
    """The side most of a campaign's on-goal posts take, as the reader reads them (None: none about the topic)."""
    read = Counter(s for s, c in zip(sides, dataset.truth.post_campaign) if c == campaign_id and s in ("pro", "con"))
    return read.most_common(1)[0][0] if read else None


def _load_sweep(path: Path) -> dict[str, Any]:
    try:
        sweep = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ReportError(f"--sweep {path}: not readable as JSON ({error}); give the file bench/campaigns.py wrote "
                          "(var/bench-campaigns-people.json)") from error
    if not isinstance(sweep, dict) or not isinstance(sweep.get("cells"), list):
        raise ReportError(f"--sweep {path}: no 'cells' list; give the file bench/campaigns.py wrote "
                          "(var/bench-campaigns-people.json)")
    return sweep


def build_report(dataset_dir: Path, out: Path, *, side_of: Callable[[Sequence[str]], list[str]] | None = None,
                 stance_topic: str | None = None, sweep: Path | None = None, window_s: float = 600.0,
                 seed: int = 0) -> CampaignReport:
    """Detect, score, draw and measure the shaping of every campaign in a dataset; write one HTML page."""
    from detection.coordination import evaluate, time_to_detection, traces
    from detection.dataset import load_dataset
    from detection.shaping import shaping_effect

    dataset = load_dataset(dataset_dir, splittable=False)
    sweep_data = _load_sweep(sweep) if sweep is not None else None
    forum = dataset.forum
    sides = side_of(list(forum.post_body)) if side_of is not None else None
    result, figures = evaluate(dataset, window_s=window_s, seed=seed, sides=sides)
    found = traces(forum, window_s, sides)
    campaigns = sorted({c for c in dataset.truth.post_campaign if c} |
                       {i.get("campaign_id", "") for i in dataset.truth.account_info} - {""})
    lines = [f"{name}: {value}" for name, value in figures.table()]
    rows = []
    for campaign_id in campaigns:
        members = sum(1 for i in dataset.truth.account_info if i.get("campaign_id") == campaign_id)
        posts = sum(1 for c in dataset.truth.post_campaign if c == campaign_id)
        detected = "no on-goal post"
        if posts:
            when = time_to_detection(dataset, campaign_id, window_s=window_s, seed=seed, sides=sides)
            detected = f"after {when.posts} of {when.of_posts} on-goal posts ({when.hours:.1f} forum hours)" \
                if when.posts is not None else f"never, over {when.of_posts} on-goal posts"
        shaping = "not measured: give --stance-topic (the contested topic) to read sides"
        if sides is not None and side_of is not None and posts:
            side = _campaign_side(dataset, campaign_id, sides)
            shaping = "not measured: the reader puts none of its on-goal posts on either side" if side is None else \
                "; ".join(shaping_effect(dataset, campaign_id, side, side_of, seed=seed).lines())
        rows.append({"id": campaign_id, "accounts": members, "posts": posts, "detected": detected, "shaping": shaping})
        lines.append(f"campaign {campaign_id}: {members} accounts that posted, {posts} on-goal posts; detected {detected}")
    by_window = []
    for label, seconds in WINDOWS:
        _, at = evaluate(dataset, window_s=seconds, seed=seed, sides=sides)
        by_window.append((label, at))
    page = _page(dataset, figures, found.counts(), rows, _network_svg(dataset, result, seed), by_window, sweep_data,
                 stance_topic, window_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return CampaignReport(out, tuple(lines))


# -- the network, drawn --------------------------------------------------------------------------------------------


def _colours(dataset) -> tuple[list[str], dict[str, str]]:
    info, synthetic = dataset.truth.account_info, dataset.truth.account_synthetic
    campaigns = sorted({i.get("campaign_id", "") for i in info} - {""})
    palette = {c: CAMPAIGNS[n % len(CAMPAIGNS)] for n, c in enumerate(campaigns)}
    colours = [palette[i["campaign_id"]] if i.get("campaign_id") else BOTS if synthetic[a] else PEOPLE
               for a, i in enumerate(info)]
    return colours, palette


def _network_svg(dataset, result, seed: int) -> str:
    """The pruned account network: campaign accounts in their campaign's colour (drivers square), other bots pale
    blue, people grey; a dark ring marks an account the detector put in a cluster."""
    import networkx as nx

    colours, _ = _colours(dataset)
    info = dataset.truth.account_info
    graph = nx.Graph()
    graph.add_nodes_from(a for a, i in enumerate(info) if i.get("campaign_id"))
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in result.edges.items())
    if not graph.number_of_nodes():
        return "<p>No tie survived the pruning, and no campaign account posted: nothing to draw.</p>"
    where = nx.spring_layout(graph, seed=seed, weight="weight")
    xs = np.array([where[n][0] for n in graph]), np.array([where[n][1] for n in graph])
    low, span = (xs[0].min(), xs[1].min()), (np.ptp(xs[0]) or 1.0, np.ptp(xs[1]) or 1.0)

    def at(node: int) -> tuple[float, float]:
        return (24 + (where[node][0] - low[0]) / span[0] * (SIZE - 48), 24 + (where[node][1] - low[1]) / span[1] * (SIZE - 48))
    clustered = result.cluster_of()
    heaviest = max(result.edges.values(), default=1.0)
    parts = [f'<svg id="network" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}" role="img" '
             'aria-label="account network">']
    for (a, b), w in sorted(result.edges.items()):
        (x1, y1), (x2, y2) = at(a), at(b)
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#555" '
                     f'stroke-opacity="{0.15 + 0.6 * w / heaviest:.2f}" stroke-width="1"/>')
    for node in sorted(graph):
        x, y = at(node)
        role, campaign = info[node].get("role", ""), info[node].get("campaign_id", "")
        ring = ' stroke="#111" stroke-width="2"' if node in clustered else ' stroke="#fff" stroke-width="1"'
        kind = f"campaign {campaign} {role}" if campaign else "bot" if dataset.truth.account_synthetic[node] else "person"
        attrs = f'class="account" data-kind="{html.escape(kind)}" fill="{colours[node]}"{ring}'
        if role == "driver":
            parts.append(f'<rect {attrs} x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12">'
                         f'<title>{html.escape(kind)}</title></rect>')
        else:
            parts.append(f'<circle {attrs} cx="{x:.1f}" cy="{y:.1f}" r="5"><title>{html.escape(kind)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


# -- the page -------------------------------------------------------------------------------------------------------


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return html.escape(str(value))


def _shade(value: Any) -> str:
    """A cell's background: white at 0.5 and below, green toward 1 (AUC, AMI and the like)."""
    if not isinstance(value, (int, float)) or math.isnan(value):
        return ""
    strength = max(0.0, min(1.0, (value - 0.5) / 0.5)) if value > 0.5 else 0.0
    return f' style="background: rgba(44, 160, 44, {strength * 0.6:.2f})"'


def _sweep_tables(sweep: dict[str, Any]) -> str:
    cells = sweep["cells"]
    delays = list(dict.fromkeys(c["delay"] for c in cells))
    sizes = sorted({c["size"] for c in cells})
    out = [f"<p>From a bench run: population {html.escape(str(sweep.get('population', '?')))}, "
           f"{html.escape(str(sweep.get('hours', '?')))} forum hours, seed {html.escape(str(sweep.get('seed', '?')))}."
           "</p>"]
    measures = (("murmur account ROC-AUC", lambda c: c["murmur"]["roc_auc"]),
                ("murmur cluster AMI", lambda c: c["murmur"]["ami"]),
                ("toolkit cluster AMI", lambda c: c.get("toolkit", {}).get("ami")),
                ("shaping (difference-in-differences)", lambda c: c.get("shaping", {}).get("effect")))
    for title, read in measures:
        out.append(f"<table class='sweep'><caption>{title}</caption><tr><th>delay \\ accounts</th>"
                   + "".join(f"<th>{s}</th>" for s in sizes) + "</tr>")
        for delay in delays:
            row = [f"<th>{html.escape(delay)}</th>"]
            for size in sizes:
                cell = next((c for c in cells if c["delay"] == delay and c["size"] == size), None)
                value = read(cell) if cell else None
                row.append(f"<td{_shade(value) if 'shaping' not in title else ''}>{_num(value)}</td>")
            out.append("<tr>" + "".join(row) + "</tr>")
        out.append("</table>")
    return "".join(out)


def _page(dataset, figures, counts: dict[str, int], rows: list[dict], network: str, by_window, sweep,
          stance_topic: str | None, window_s: float) -> str:
    _, palette = _colours(dataset)
    legend = "".join(f'<span class="key" style="background:{c}"></span>{html.escape(k)} ' for k, c in palette.items())
    stance = f"co-stance read on {html.escape(repr(stance_topic))}" if stance_topic else \
        "no co-stance (give --stance-topic, the contested topic, to read sides)"
    figures_rows = "".join(f"<tr><th>{html.escape(n)}</th><td>{html.escape(v)}</td></tr>" for n, v in figures.table())
    trace_rows = "".join(f"<tr><th>{html.escape(n.replace('_', '-'))}</th><td>{v}</td></tr>" for n, v in counts.items())
    campaign_rows = "".join(
        f"<tr><th>{html.escape(r['id'])}</th><td>{r['accounts']}</td><td>{r['posts']}</td>"
        f"<td>{html.escape(r['detected'])}</td><td>{html.escape(r['shaping'])}</td></tr>" for r in rows)
    window_rows = "".join(
        f"<tr><th>{label}</th><td{_shade(s.roc_auc)}>{_num(s.roc_auc)}</td><td{_shade(s.ami)}>{_num(s.ami)}</td>"
        f"<td>{_num(s.recall_at_fpr)}</td><td>{_num(s.burst_fpr)}</td></tr>" for label, s in by_window)
    sweep_html = _sweep_tables(sweep) if sweep else \
        "<p>No sweep given: run <code>bench/campaigns.py</code> and pass its JSON with <code>--sweep</code>.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>murmur campaign report</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: .5rem 0 1.5rem; }}
th, td {{ padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }}
caption {{ text-align: left; font-weight: 600; padding: .3rem 0; }}
.key {{ display: inline-block; width: .9rem; height: .9rem; margin: 0 .3rem 0 .8rem; vertical-align: -2px; }}
svg {{ border: 1px solid #ddd; background: #fcfcfc; max-width: 100%; height: auto; }}
</style></head><body>
<h1>Campaign report</h1>
<p>Dataset <code>{html.escape(str(dataset.path))}</code>: {dataset.forum.n_accounts} accounts that posted,
{dataset.forum.n_posts} posts. Detector window {window_s / 60:g} min; {stance}. Ground truth is used to score and to
colour, never as a feature.</p>
<h2>Campaigns</h2>
<table id="campaigns"><tr><th>campaign</th><th>accounts that posted</th><th>on-goal posts</th><th>time to detection
(three of its accounts above the people's top 1%)</th><th>did it shape the conversation?</th></tr>{campaign_rows}</table>
<h2>Detection against the ground truth</h2>
<table id="figures">{figures_rows}</table>
<table id="traces"><caption>co-events per trace</caption>{trace_rows}</table>
<h2>The account network</h2>
<p>The pruned network the clusters come from. {legend}<span class="key" style="background:{BOTS}"></span>other bots
<span class="key" style="background:{PEOPLE}"></span>people. Drivers are squares; a dark ring is an account the
detector put in a cluster.</p>
{network}
<h2>Against the detector's window</h2>
<table id="windows"><tr><th>window</th><th>account ROC-AUC</th><th>cluster AMI</th><th>recall at 1% FPR</th>
<th>people in bursts flagged</th></tr>{window_rows}</table>
<h2>Against the campaign's delay and size</h2>
{sweep_html}
</body></html>
"""
