"""``murmur campaign report``: a run's campaigns, found, drawn and measured, on one HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from murmur.config import Settings


@click.group(short_help="Campaigns: accounts acting together toward one end (see docs/campaigns.md).")
def campaign() -> None:
    """Campaigns run with `murmur swarm --campaign FILE`; this reads what they did."""


@campaign.command(short_help="One HTML page on a run's campaigns: detection, the network, shaping.")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None,
              help="the page to write (default: DATASET/campaign-report.html)")
@click.option("--stance-topic", default=None,
              help="the contested topic, in words: posts' sides on it feed the co-stance trace and the shaping "
                   "measure (without it, neither)")
@click.option("--sweep", type=click.Path(path_type=Path), default=None,
              help="bench/campaigns.py's results (var/bench-campaigns-people.json): detection against delay and size")
@click.option("--window-minutes", type=float, default=10.0, show_default=True,
              help="co-reply, co-link and co-stance: two accounts within this many minutes")
@click.option("--seed", type=int, default=0, show_default=True, help="seeds the clustering, layout and bootstrap")
@click.pass_context
def report(ctx: click.Context, dataset: Path, out_file: Path | None, stance_topic: str | None, sweep: Path | None,
           window_minutes: float, seed: int) -> None:
    """Read DATASET (a `murmur export` folder of a run's forum) and write its campaign report."""
    from index.build import open_embedder
    from murmur.campaign_report import build_report, stance_reader_sides

    settings: Settings = ctx.ensure_object(dict)["settings"]
    if window_minutes <= 0:
        raise click.BadParameter(f"{window_minutes}; give a positive number of minutes", param_hint="--window-minutes")
    side_of = stance_reader_sides(open_embedder(settings.index), stance_topic) if stance_topic else None
    made = build_report(dataset, out_file or Path(dataset) / "campaign-report.html", side_of=side_of,
                        stance_topic=stance_topic, sweep=sweep, window_s=window_minutes * 60, seed=seed)
    for line in made.lines:
        click.echo(line)
    click.echo(f"report: {made.path}")
