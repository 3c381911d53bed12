"""``murmur demo``: the main job on embedded defaults, from a fresh machine to a summary in a few minutes.

A fresh test forum on SQLite seeded with real conversations (a sample of the
shipped Stack Exchange corpus, six sites), the thread index over it, the
reply bank (the corpus threads that are not in the forum), the Rasa model
(trained once, then reused), a swarm of the personas written for those sites
over one simulated day (paced so the live page shows the bots arriving), and
a summary: where the bots went, how relevant that was, and what the offline
detectors make of the result.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

from bots.personas import CORPUS_PERSONAS
from bots.swarm.hooks import SwarmHooks
from conversations.importers import CORPUS_THREADS
from conversations.server import create_app
from conversations.snapshot import ForumSnapshot
from murmur.config import Settings
from murmur.errors import MurmurError
from murmur.loading import import_path
from murmur.serving import start_site, wait_for_stop

STEPS = 6
# Accounts shaped like the people's post about once or twice each, as most people do: the credible demo runs more
# of them than the classic one's 20 (one per persona, dozens of posts each), for a comparable number of bot posts.
CREDIBLE_ACCOUNTS = 60
SAMPLE_EVERY = 6  # the forum holds every 6th corpus thread (~300, all six sites); the other 5/6 are the reply bank


def _step(number: int, text: str) -> None:
    click.echo(click.style(f"{number}/{STEPS} ", bold=True) + text)


def _fresh(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


async def run_demo(settings: Settings, *, db: Path, port: int | None, speed: float, keep_serving: bool,
                   duration: float | None = None, admin_token: str | None = None, replay: bool = False,
                   credible: bool = False) -> None:
    """``credible``: the most credible bots murmur makes (with ``replay``): behaviour fitted to the people and
    accounts shaped like theirs; otherwise the settings as given."""
    import secrets

    from murmur.assembly import default_run_id, run_swarm, start_training
    from murmur.swarm_job import ForumAccess, SwarmJob

    if credible:
        settings = settings.model_copy(update={"swarm": settings.swarm.model_copy(update={
            "behaviour": "fitted", "population": "people", "bots": max(settings.swarm.bots, CREDIBLE_ACCOUNTS)})})
    _fresh(db)
    training = start_training(settings, lambda line: click.echo(f"    {line}"))  # beside steps 1-3
    plan = None
    if replay:
        plan = await asyncio.to_thread(_replay_plan, db.parent / f"{db.stem}-people.jsonl", settings.swarm.hours)
        _step(1, f"a fresh test forum in {db} on the people's own timeline: every {SAMPLE_EVERY}th thread of the shipped "
                 "Stack Exchange corpus, sites aligned; the forum holds what came before the window, the rest is "
                 "replayed at its own time beside the bots")
        stats = await _hold(db, plan, settings)
        click.echo(f"    {stats.threads_added} threads, {stats.posts_added} posts by {stats.accounts_added} people before "
                   f"the window; {len(plan.posts)} more posts replayed in it; the other corpus threads are the reply bank")
    else:
        _step(1, f"seeding a fresh test forum in {db} with real conversations: every {SAMPLE_EVERY}th thread of the "
                 "shipped Stack Exchange corpus (beer, coffee, ai, matheducators, stackoverflow, askubuntu)")
        stats = await import_path(CORPUS_THREADS, db, settings, every=SAMPLE_EVERY)
        click.echo(f"    {stats.threads_added} threads, {stats.posts_added} posts by {stats.accounts_added} people; "
                   "the other corpus threads are the bots' reply bank")
    _step(2, "embedding the threads into the thread index (all-MiniLM-L6-v2, offline; cached after the first run)")
    embedder = await asyncio.to_thread(_show_matches, settings, db)
    token = admin_token or settings.forum.admin_token or secrets.token_urlsafe(24)
    host = settings.forum.host
    runner, port = await start_site(create_app(settings.forum, db=db, admin_token=token), host,
                                    settings.forum.port if port is None else port)
    url = f"http://{host}:{port}"
    log_path = settings.swarm.log_dir
    try:
        _step(3, f"the forum is live at {url}/  <- open it to watch the bots arrive (API /api/threads, events /api/events)")
        _step(4, "the bots' Rasa model and server (trained only when bots/dialogue/rasa changed, from step 1 on, beside the "
                 "forum and the index; a minute or two the first time)")
        run_id = default_run_id(settings.seed)
        pace = _Pace(speed)
        timeline = "the people's own timeline (replay)" if replay else "after the people's clock"
        note = "" if credible else " (the classic demo; without --classic, the most credible bots)"
        click.echo(f"    settings: {timeline}, behaviour {settings.swarm.behaviour}, population "
                   f"{settings.swarm.population}, replies {settings.replies.backend}{note}")
        _step(5, f"a swarm of {settings.swarm.bots} bots over {settings.swarm.hours:g} simulated hours "
                 f"({'as fast as it runs' if not speed else f'{speed:g}x forum time'}); run {run_id}")
        result = await run_swarm(settings, ForumAccess(url, token),
                                 SwarmJob(run_id, personas_dir=personas_dir(settings), replay=plan), embedder=embedder,
                                 echo=lambda line: click.echo(f"    {line}"), hooks=SwarmHooks(step=pace),
                                 training=training)
        log_path = result.log_path
        _step(6, "summary")
        click.echo(result.summary())
        click.echo("    what an offline detector makes of it (murmur export + murmur detect, no network):")
        for line in await asyncio.to_thread(_detect, settings, db, run_id, embedder):
            click.echo(f"    {line}")
        if keep_serving:
            click.echo(f"the forum stays up at {url}/ " + (f"for {duration:g} s" if duration else "until Ctrl-C"))
            await wait_for_stop(duration)
    finally:
        await runner.cleanup()
    click.echo(f"done. The forum is in {db}: browse it again with `murmur forum --db {db}`; "
               f"the run log is {log_path}")


def _replay_plan(people: Path, hours: float):
    """The demo's corpus sample as a replay: every site aligned, a window of ``hours`` a week into it."""
    from bots.swarm.replay import read_replay
    from conversations.importers.jsonl import open_jsonl

    with open_jsonl(CORPUS_THREADS) as source, people.open("w", encoding="utf-8") as target:
        target.writelines(line for n, line in enumerate(source) if n % SAMPLE_EVERY == 0)
    return read_replay([people], align_sites=True, hours=hours)


async def _hold(db: Path, plan, settings: Settings):
    """What the forum holds before the replay's window, written straight into the fresh database."""
    from conversations.importers import import_threads
    from conversations.store import ForumStore

    async with ForumStore(db, synchronous=settings.forum.sqlite_synchronous) as store:
        return await import_threads(store, plan.before)


def personas_dir(settings: Settings) -> Path:
    """The personas written for the corpus's sites, unless config.yml names a folder of its own."""
    return settings.bots.personas_dir or CORPUS_PERSONAS


class _Pace:
    """Holds a simulated run to ``speed`` times forum time, so people can watch it; 0 runs flat out."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.started: tuple[float, object] | None = None

    async def __call__(self, swarm) -> None:
        if not self.speed or not swarm.clock.simulated:
            return
        now = swarm.clock.now()
        if self.started is None:
            self.started = (time.perf_counter(), now)
            return
        wall0, sim0 = self.started
        ahead = (now - sim0).total_seconds() / self.speed - (time.perf_counter() - wall0)
        if ahead > 0:
            await asyncio.sleep(ahead)


def _show_matches(settings: Settings, db: Path):
    """Build the index over the demo forum and say who ought to be in its newest threads, and why."""
    from index.build import open_embedder
    from index.matching import Matcher
    from index.personas import load_profiles
    from murmur.index_commands import build_and_save

    embedder = open_embedder(settings.index)
    index = build_and_save(settings, db, embedder, desc="    embedding")
    matcher = Matcher(embedder, index, load_profiles(personas_dir(settings)))
    with ForumSnapshot.open(db) as forum:
        newest = forum.newest_threads(3)
    click.echo(f"    {len(index)} threads indexed; who ought to be in the newest conversations:")
    for thread_id, title in newest:
        best = matcher.personas_for(thread_id, 1)[0]
        click.echo(f"    - {title[:60]!r}: {best.persona} ({best.score:.2f}, because of '{best.reason}')")
    return embedder


def _detect(settings: Settings, db: Path, run_id: str, embedder) -> list[str]:
    """Export the demo forum and run the offline detectors on it; a problem is reported, not raised."""
    try:
        from detection.export import export_forum
        from detection.pipeline import run_detection
    except ImportError as exc:  # pragma: no cover - detection is part of murmur; this guards a broken install
        return [f"(detection unavailable: {exc})"]
    dataset = db.parent / f"{db.stem}-dataset"
    out = db.parent / f"{db.stem}-report"
    try:
        export_forum(db, dataset)
        report = run_detection(dataset, out, seed=settings.seed, progress=False, embedder=embedder)
    except MurmurError as exc:
        return [f"(detection could not run on this small forum: {exc})"]
    return report.summary_lines()
