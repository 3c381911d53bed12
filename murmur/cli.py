"""The ``murmur`` command. Library errors become one-line messages and exit codes here."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click
from aiohttp import web

from murmur.options import DATABASE
from murmur.config import Settings, load_settings
from murmur.errors import MurmurError


class _Group(click.Group):
    """Turns murmur's domain errors into ``error: ...`` lines instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MurmurError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="settings file (default: ./config.yml, or $MURMUR_CONFIG)")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """murmur: synthetic participants, a test forum to run them against, and offline detection."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("murmur").setLevel(logging.INFO)
    ctx.ensure_object(dict)["settings"] = load_settings(config_path)


@cli.command(short_help="Serve the test forum (API, events, web pages).")
@click.option("--host", default=None, help="address to listen on (default: forum.host, loopback)")
@click.option("--port", type=int, default=None, help="port (default: forum.port, 8765)")
@click.option("--db", type=DATABASE, default=None, help="SQLite file or postgresql:// URL (default: forum.database, else forum.db)")
@click.pass_context
def forum(ctx: click.Context, host: str | None, port: int | None, db: Path | None) -> None:
    """Serve the test forum: REST API, event web socket and web pages."""
    from conversations.engines import shown
    from conversations.server import create_app

    settings = _settings(ctx)
    host, port = host or settings.forum.host, settings.forum.port if port is None else port
    app = create_app(settings.forum, db=db)
    click.echo(f"murmur forum on http://{host}:{port}/  (database {shown(db or settings.forum.location())}; Ctrl-C stops)")
    try:
        web.run_app(app, host=host, port=port, print=None)
    except OSError as exc:
        raise MurmurError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None


@cli.command(name="import", short_help="Load a Stack Exchange dump or JSONL threads.")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--seed", is_flag=True, help="import the project's own seed threads")
@click.option("--corpus", is_flag=True, help="import the shipped Stack Exchange corpus (data/forum-corpus/threads.jsonl.gz)")
@click.option("--db", type=DATABASE, default=None, help="SQLite file or postgresql:// URL (default: forum.database, else forum.db)")
@click.pass_context
def import_command(ctx: click.Context, path: Path | None, seed: bool, corpus: bool, db: Path | None) -> None:
    """Load a Stack Exchange dump folder or murmur JSONL threads (.jsonl or .jsonl.gz) into the forum database."""
    from murmur.loading import import_path
    from conversations.importers import CORPUS_THREADS, SEED_THREADS

    if (path is not None) + seed + corpus != 1:
        raise click.UsageError("give one of PATH, --seed or --corpus")
    source = SEED_THREADS if seed else CORPUS_THREADS if corpus else path
    target = db or _settings(ctx).forum.location()
    from conversations.engines import shown

    stats = asyncio.run(import_path(source, target, _settings(ctx)))
    click.echo(
        f"imported into {shown(target)}: {stats.threads_added} threads, {stats.posts_added} posts, {stats.accounts_added} accounts"
        f" (already there: {stats.threads_skipped} threads, {stats.posts_skipped} posts)"
    )


@cli.command(short_help="Run the main job on embedded defaults.")
@click.option("--port", type=int, default=None, help="port (default: forum.port)")
@click.option("--db", type=click.Path(path_type=Path), default=Path("var/demo.db"), show_default=True,
              help="SQLite file for the demo forum (made fresh each run)")
@click.option("--speed", type=click.FloatRange(min=0), default=1440.0, show_default=True,
              help="forum time per wall second (1440: a day in a minute); 0 runs as fast as it can")
@click.option("--keep-serving", is_flag=True, help="keep the forum up after the summary, until Ctrl-C")
@click.option("--for", "duration", type=float, default=None, help="with --keep-serving: stop after this many seconds")
@click.option("--classic", is_flag=True, help="the earlier demo: one account per persona on its own schedule, after "
                                             "the people's clock, instead of accounts shaped like the people's")
@click.option("--replay", is_flag=True, help="with --classic: put the bots on the people's own timeline all the same")
@click.pass_context
def demo(ctx: click.Context, port: int | None, db: Path, speed: float, keep_serving: bool, duration: float | None,
         classic: bool, replay: bool) -> None:
    """The main job on embedded defaults: a seeded test forum, a swarm of persona bots over one simulated day,
    and what offline detection makes of it."""
    from murmur.demo import run_demo

    asyncio.run(run_demo(_settings(ctx), db=db, port=port, speed=speed, keep_serving=keep_serving, duration=duration,
                         replay=replay or not classic, credible=not classic))


from murmur.bots_commands import chat, train  # noqa: E402  (commands live in their own modules)
from murmur.index_commands import index, match  # noqa: E402
from murmur.detect_commands import detect, export, ladder  # noqa: E402
from murmur.swarm_commands import swarm  # noqa: E402
from murmur.anticipate_commands import anticipate  # noqa: E402
from murmur.data_commands import data  # noqa: E402
from murmur.personas_commands import personas  # noqa: E402
from murmur.campaign_commands import campaign  # noqa: E402

for _command in (index, match, train, chat, swarm, export, detect, ladder, anticipate, data, personas, campaign):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="murmur")


if __name__ == "__main__":
    sys.exit(main())
