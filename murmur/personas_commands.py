"""``murmur personas``: personas induced from a forum's people, each standing for a group of at least ten."""

from __future__ import annotations

from pathlib import Path

import click

from murmur.anticipate_commands import _moment
from murmur.config import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


@click.group(short_help="Personas from the forum's people (induce).")
def personas() -> None:
    """Personas drawn from a forum's people: groups, never one person."""


@personas.command(short_help="Cluster the forum's people into personas of 10 or more people each.")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="folder for the persona files")
@click.option("--before", default=None, help="use only posts before this time (ISO-8601): the run's start")
@click.option("--min-people", type=int, default=10, show_default=True, help="people a persona stands for, at least")
@click.option("--size", type=click.IntRange(10, 10_000), default=40, show_default=True,
              help="people per persona aimed at")
@click.option("--seed", type=int, default=0, show_default=True)
@click.pass_context
def induce(ctx: click.Context, data: Path, out_dir: Path, before: str | None, min_people: int, size: int,
           seed: int) -> None:
    """Cluster the people of DATA (murmur JSONL, .jsonl.gz) per site by the threads they took part in before
    --before, and write one persona file per cluster of at least --min-people people into --out: the site's
    typical tags as interests, the group's hours, pace and length, the people's register. No handle or words of
    any person are kept."""
    from datetime import datetime, timezone

    from bots.induction import induce as induce_personas
    from bots.induction import write_personas
    from index.build import open_embedder

    moment = _moment("--before", before)
    cutoff = None if moment is None else datetime.fromtimestamp(moment, tz=timezone.utc)
    embedder = open_embedder(_settings(ctx).index)
    induced = induce_personas(data, embedder, before=cutoff, minimum=min_people, size=size, seed=seed)
    written = write_personas(induced, out_dir)
    for (persona, group), path in zip(induced, written):
        click.echo(f"{path}: {group.people} people, {group.threads} threads of {group.site}; "
                   f"interests: {'; '.join(persona.interests)}")
    click.echo(f"{len(written)} personas in {out_dir} (use with --personas {out_dir})")
