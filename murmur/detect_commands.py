"""``murmur export`` and ``murmur detect``: an offline dataset of a forum, and detectors scored against it."""

from __future__ import annotations

from pathlib import Path

import click

from murmur.options import DATABASE
from murmur.config import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


@click.command(short_help="Write a forum and its ground truth as an offline dataset.")
@click.option("--db", type=DATABASE, default=None, help="forum database: SQLite file or postgresql:// URL (default: forum.database, else forum.db)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="folder to write the dataset into")
@click.option("--toolkit", is_flag=True,
              help="also write toolkit.csv, the posts in the coordination-network-toolkit's CSV format (no labels)")
@click.pass_context
def export(ctx: click.Context, db: Path | None, out_dir: Path, toolkit: bool) -> None:
    """Export the forum database (read-only, one snapshot) as CSV files with a manifest; ground truth goes in
    labels.csv and post_labels.csv."""
    from detection.export import export_forum

    manifest = export_forum(db or _settings(ctx).forum.location(), out_dir)
    click.echo(f"exported {manifest.summary()} to {out_dir}")
    if toolkit:
        from detection.dataset import load_dataset
        from detection.toolkit import write_toolkit_csv

        rows = write_toolkit_csv(load_dataset(out_dir, splittable=False), Path(out_dir) / "toolkit.csv")
        click.echo(f"wrote {rows} posts to {Path(out_dir) / 'toolkit.csv'} (coordination-network-toolkit CSV; "
                   "`compute_networks toolkit.db preprocess --format csv toolkit.csv`)")


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


def _names(values: tuple[str, ...], allowed: tuple[str, ...], option: str) -> tuple[str, ...]:
    names = tuple(n.strip() for v in values for n in v.split(",") if n.strip()) or allowed
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}; choose from {', '.join(allowed)}", param_hint=option)
    return tuple(n for n in allowed if n in names)


@click.command(short_help="Run the detection ladder: which simulation artifact each step removes.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("var/ladder"), show_default=True)
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="forum days each cell runs (the replay window)")
@click.option("--bots", type=click.IntRange(1, 10_000), default=12, show_default=True)
@click.option("--every", type=click.IntRange(1, 100), default=6, show_default=True,
              help="the forum holds every n-th thread of the shipped corpus")
@click.option("--generators", multiple=True, help="splice, bank (default: both)")
@click.option("--clocks", multiple=True, help="after, replay (default: both)")
@click.option("--behaviours", multiple=True, help="persona, fitted (default: both)")
@click.option("--populations", multiple=True,
              help="persona, people (default: persona; people draws accounts and budgets from the forum's people)")
@click.option("--people-accounts", type=click.IntRange(1, 10_000), default=60, show_default=True,
              help="bot accounts in a population people cell (--bots is for persona cells)")
@click.option("--splits", type=int, default=5, show_default=True)
@click.option("--bootstrap", type=int, default=200, show_default=True)
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.pass_context
def ladder(ctx: click.Context, out_dir: Path, days: float, bots: int, every: int, generators: tuple[str, ...],
           clocks: tuple[str, ...], behaviours: tuple[str, ...], populations: tuple[str, ...], people_accounts: int,
           splits: int, bootstrap: int, quiet: bool) -> None:
    """For each cell of generator x clock x behaviour x population: a swarm on the same corpus forum, `murmur detect`
    on it, and what decides the result, with two-sample tests and distances between bots and people. Writes
    ladder.html (a table and plots per family) and ladder.json."""
    import asyncio

    from murmur.ladder import BEHAVIOURS, CLOCKS, GENERATORS, HEADER, POPULATIONS, cells_of, run_ladder, table_rows

    cells = cells_of(_names(generators, GENERATORS, "--generators"), _names(clocks, CLOCKS, "--clocks"),
                     _names(behaviours, BEHAVIOURS, "--behaviours"),
                     _names(populations or ("persona",), POPULATIONS, "--populations"))
    results = asyncio.run(run_ladder(_settings(ctx), out=out_dir, cells=cells, every=every, days=days, bots=bots,
                                     people_accounts=people_accounts, splits=splits, bootstrap=bootstrap,
                                     progress=not quiet, echo=click.echo))
    click.echo(" | ".join(HEADER))
    for row in table_rows(results):
        click.echo(" | ".join(row))
    click.echo(f"ladder: {out_dir / 'ladder.html'} and {out_dir / 'ladder.json'}")
