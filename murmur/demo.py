"""``murmur demo``: the main job on embedded defaults.

Today: a test forum on SQLite seeded with the project's own threads, the
thread index built over it, who ought to be in the newest conversations,
and the forum served on loopback. The swarm joins it once the bots exist.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import click

from conversations.importers import SEED_THREADS
from conversations.server import create_app
from murmur.config import Settings
from murmur.loading import import_path
from murmur.serving import start_site, wait_for_stop


async def run_demo(settings: Settings, *, db: Path, port: int | None, duration: float | None) -> None:
    click.echo(f"1/4 seeding the test forum in {db} from the project's seed threads")
    stats = await import_path(SEED_THREADS, db, settings)
    click.echo(f"    {stats.threads_added} new threads, {stats.posts_added} new posts "
               f"({stats.threads_skipped} threads were there already)")
    click.echo("2/4 embedding the threads into the thread index (all-MiniLM-L6-v2, offline; cached after the first run)")
    await asyncio.to_thread(_show_matches, settings, db)
    host = settings.forum.host
    port = settings.forum.port if port is None else port
    runner, port = await start_site(create_app(settings, db=db), host, port)
    click.echo(f"3/4 the forum is live at http://{host}:{port}/ (API: /api/threads, events: /api/events)")
    click.echo("4/4 serving" + (f" for {duration:g} s" if duration else "; Ctrl-C stops"))
    await wait_for_stop(duration)
    await runner.cleanup()
    click.echo("demo stopped; the forum database stays in " + str(db))


def _show_matches(settings: Settings, db: Path) -> None:
    """Build the index over the demo forum and say who ought to be in its newest threads, and why."""
    from index.build import open_embedder
    from index.matching import Matcher
    from index.personas import load_profiles
    from murmur.index_commands import build_and_save

    embedder = open_embedder(settings.index)
    index = build_and_save(settings, db, embedder, desc="    embedding")
    matcher = Matcher(embedder, index, load_profiles(settings.bots.personas_path()))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        newest = conn.execute("SELECT id, title FROM threads ORDER BY last_activity_at DESC LIMIT 5").fetchall()
    click.echo(f"    {len(index)} threads indexed; who ought to be in the newest conversations:")
    for thread_id, title in newest:
        best = matcher.personas_for(thread_id, 1)[0]
        click.echo(f"    - {title[:60]!r}: {best.persona} ({best.score:.2f}, because of '{best.reason}')")
