"""``murmur anticipate``: who will join a real conversation, ranked from history alone and checked against who did."""

from __future__ import annotations

from pathlib import Path

import click

from murmur.config import Settings
from murmur.errors import MurmurError


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


def _moment(option: str, text: str | None) -> float | None:
    from conversations.models import parse_time

    if text is None:
        return None
    try:
        return parse_time(text).timestamp()
    except ValueError:
        raise MurmurError(f"{option}: {text!r} is not an ISO-8601 time; e.g. 2015-02-01T00:00:00Z") from None


@click.command(short_help="Rank real accounts for each new thread; score against who joined.")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--from", "start", default=None, help="rank threads opened from this time (ISO-8601; default: all)")
@click.option("--until", default=None, help="... and before this time (ISO-8601)")
@click.option("--k", type=click.IntRange(1, 50), default=10, show_default=True, help="the Hit@k reported beside Hit@5")
@click.option("--threads", "which", type=click.Choice(["all", "even", "odd"]), default="all", show_default=True,
              help="which threads to rank (the shipped weights were chosen on the corpus's odd threads)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("var/anticipate"), show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="the random baseline and the bootstrap")
@click.option("--bootstrap", type=click.IntRange(10, 100_000), default=1000, show_default=True)
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.pass_context
def anticipate(ctx: click.Context, data: Path, start: str | None, until: str | None, k: int, which: str, out_dir: Path,
               seed: int, bootstrap: int, quiet: bool) -> None:
    """For every thread opened in the window of DATA (murmur JSONL, .jsonl.gz or a Stack Exchange dump), rank every
    account active before it from what it had written before, and score the ranking against the accounts that
    replied or commented. Writes report.json and report.html into --out."""
    from tqdm import tqdm

    from conversations.importers import open_source
    from index.anticipation import History, walk
    from index.anticipation_report import summarize, table, write_report
    from index.build import open_embedder

    settings = _settings(ctx)
    low, high = _moment("--from", start), _moment("--until", until)
    threads, total = open_source(data)
    with tqdm(total=total, unit="thread", desc="reading", disable=quiet, leave=False) as bar:
        history = History.of(_counted(threads, bar.update))
    if not history.thread_ids:
        raise MurmurError(f"DATA: {data} holds no threads; give murmur JSONL or a Stack Exchange dump folder")
    selected = {"all": None, "even": lambda t: t % 2 == 0, "odd": lambda t: t % 2 == 1}[which]
    opened = [t for t in range(len(history.thread_ids)) if (low is None or history.thread_created[t] >= low)
              and (high is None or history.thread_created[t] < high)]
    if not opened:
        raise MurmurError(f"--from/--until: no thread of {data} opened in that window; widen it")
    if not any(history.joined[t] for t in opened):
        raise MurmurError(f"DATA: no thread of {data} opened in the window had anyone reply or comment, so there is "
                          "nothing to anticipate; give data with replies")
    embedder = open_embedder(settings.index)
    with tqdm(total=len(opened), unit="thread", desc="ranking", disable=quiet, leave=False) as bar:
        result = walk(history, embedder, start=low, until=high, seed=seed, select=selected, progress=bar.update)
    if not result.queries:
        raise MurmurError("no thread in the window had both an earlier account to rank and someone who joined it")
    summary = summarize(result, k=k, resamples=bootstrap, seed=seed)
    click.echo(table(summary))
    report_json, report_html = write_report(summary, out_dir)
    click.echo(f"report: {report_html} and {report_json}")


def _counted(items, tick):
    for item in items:
        tick(1)
        yield item
