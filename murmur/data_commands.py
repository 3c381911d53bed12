"""``murmur data ...``: the files computed from the shipped data and shipped beside it (``data/derived/``).

``murmur data refresh`` rebuilds them when the corpus, the embedding model or the Rasa project changes (the test
``tests/test_shipped_data.py`` says when); ``murmur data check`` says whether they match what this checkout would
compute, without computing it.
"""

from __future__ import annotations

import asyncio

import click

from murmur.config import Settings
from murmur.shipped_data import ENCODING, check_shipped, refresh_labels, refresh_vectors


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


@click.group(short_help="Check or rebuild the vectors and act labels shipped in data/derived.")
def data() -> None:
    """The embedding vectors and Rasa act labels computed from the shipped corpus, shipped beside it."""


@data.command(short_help="Recompute the shipped vectors and act labels.")
@click.option("--vectors/--no-vectors", default=True, help="embed every shipped text anew (minutes)")
@click.option("--labels/--no-labels", default=True, help="read every bank text with the Rasa model (trains it if "
                                                         "missing, then minutes)")
@click.option("--encoding", type=click.Choice(["float16", "float32"]), default=ENCODING, show_default=True,
              help="how the vectors are stored")
@click.pass_context
def refresh(ctx: click.Context, vectors: bool, labels: bool, encoding: str) -> None:
    """Recompute data/derived from the shipped corpus, the installed model and the Rasa project."""
    settings = _settings(ctx)
    if vectors:
        refresh_vectors(settings, encoding=encoding, echo=click.echo)
    if labels:
        asyncio.run(refresh_labels(settings, echo=click.echo))
    for line in check_shipped(settings):
        click.echo(line)


@data.command(short_help="Say whether the shipped files match this checkout.")
@click.pass_context
def check(ctx: click.Context) -> None:
    """Compare data/derived with the corpus, the installed model and the Rasa project (nothing is computed)."""
    lines = check_shipped(_settings(ctx))
    for line in lines:
        click.echo(line)
    if any(line.startswith("stale") for line in lines):
        ctx.exit(1)
