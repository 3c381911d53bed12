"""``murmur export`` and ``murmur detect``: an offline dataset of a forum, and detectors scored against it."""

from __future__ import annotations

from pathlib import Path

import click

from murmur.config import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


@click.command(short_help="Write a forum and its ground truth as an offline dataset.")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="forum database (default: forum.db)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="folder to write the dataset into")
@click.pass_context
def export(ctx: click.Context, db: Path | None, out_dir: Path) -> None:
    """Export the forum database (read-only, one snapshot) as CSV files with a manifest; ground truth goes in
    labels.csv and post_labels.csv."""
    from detection.export import export_forum

    manifest = export_forum(db or _settings(ctx).forum.db, out_dir)
    click.echo(f"exported {manifest.summary()} to {out_dir}")


@click.command(short_help="Evaluate detectors offline on a dataset; write a report.")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="report folder (default: DATASET/report)")
@click.option("--detectors", "detectors", multiple=True,
              help="detectors to run, comma-separated or repeated: timing, text, relevance, coordination, combined, "
                   "boosted, baseline (default: all)")
@click.option("--seed", type=int, default=0, show_default=True, help="seeds the splits and the bootstrap")
@click.option("--splits", type=int, default=5, show_default=True, help="random splits by account")
@click.option("--bootstrap", type=int, default=200, show_default=True, help="bootstrap resamples per split")
@click.option("--window-minutes", type=float, default=30.0, show_default=True,
              help="co-activity: two accounts in one thread within this many minutes")
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.pass_context
def detect(ctx: click.Context, dataset: Path, out_dir: Path | None, detectors: tuple[str, ...], seed: int, splits: int,
           bootstrap: int, window_minutes: float, quiet: bool) -> None:
    """Score detectors against the ground truth of DATASET (a `murmur export` folder, or posts.csv and labels.csv),
    offline, and write report.html and report.json."""
    from detection.pipeline import run_detection
    from index.build import open_embedder

    settings = _settings(ctx)
    report = run_detection(dataset, out_dir or Path(dataset) / "report", detectors=list(detectors) or None, seed=seed,
                           progress=not quiet, embedder_factory=lambda: open_embedder(settings.index), splits=splits,
                           bootstrap=bootstrap, window_minutes=window_minutes)
    for line in report.summary_lines():
        click.echo(line)
