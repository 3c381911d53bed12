"""``murmur demo``: the main job on embedded defaults.

Today: a test forum on SQLite seeded with the project's own threads, served
on loopback, with a summary of what is in it. The swarm joins it once the
bots exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click
from aiohttp import web

from conversations.importers import SEED_THREADS
from conversations.server import create_app
from murmur.config import Settings
from murmur.errors import MurmurError
from murmur.loading import import_path


async def run_demo(settings: Settings, *, db: Path, port: int | None, duration: float | None) -> None:
    click.echo(f"1/3 seeding the test forum in {db} from the project's seed threads")
    stats = await import_path(SEED_THREADS, db, settings)
    click.echo(f"    {stats.threads_added} new threads, {stats.posts_added} new posts "
               f"({stats.threads_skipped} threads were there already)")
    host = settings.forum.host
    port = settings.forum.port if port is None else port
    app = create_app(settings, db=db)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise MurmurError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
    click.echo(f"2/3 the forum is live at http://{host}:{port}/ (API: /api/threads, events: /api/events)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    click.echo("3/3 serving" + (f" for {duration:g} s" if duration else "; Ctrl-C stops"))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)
    await runner.cleanup()
    click.echo("demo stopped; the forum database stays in " + str(db))
