"""``murmur swarm``: persona bots against a murmur test forum, wired from settings.

Assembly only: read the forum, index its threads, build the text library and
the reply generator, serve Rasa's custom actions, start (or reach) Rasa, and
run the Swarm. Bots post only to a murmur test forum: the target must answer
as one, and must be on this machine unless the user says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import click

from murmur.config import Settings
from murmur.errors import MurmurError
from murmur.serving import start_site

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


def default_run_id(seed: int) -> str:
    return f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-s{seed}"


def _when(option: str, text: str | None):
    from conversations.models import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise MurmurError(f"{option}: {text!r} is not an ISO-8601 time; e.g. 2016-09-01T00:00:00Z") from None


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise MurmurError(f"--run-id: {run_id!r} is not a run id; use up to 64 letters, digits, '.', '_' or '-'")
    return run_id


def check_forum_url(url: str, allow_remote: bool) -> str:
    """Loopback unless the user says otherwise: the swarm is for a test forum on this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MurmurError(f"--forum: {url!r} is not an http(s) URL of a murmur forum, e.g. http://127.0.0.1:8765")
    try:
        loopback = all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP))
    except (socket.gaierror, ValueError):
        raise MurmurError(f"--forum: cannot resolve {parts.hostname!r}; is the forum's address right?") from None
    if not loopback and not allow_remote:
        raise MurmurError(f"--forum: {parts.hostname} is not this machine; bots post only to a murmur test forum you run. "
                          "Serve one with `murmur forum`, or pass --allow-remote for your own forum on another host")
    return url.rstrip("/")


async def require_murmur_forum(client) -> None:
    """The target must be a murmur test forum (its own OpenAPI says so), never anything else."""
    from conversations.client import ForumClientError, ForumUnavailable

    try:
        spec = await client.request("GET", "/api/openapi.json")
    except (ForumClientError, ForumUnavailable, ValueError) as exc:
        raise MurmurError(f"--forum: no murmur forum answers at {client.base_url} ({exc}); start one with `murmur forum`") from None
    if not isinstance(spec, dict) or spec.get("info", {}).get("title") != "murmur test forum":
        raise MurmurError(f"--forum: {client.base_url} is not a murmur test forum; the swarm posts only to one")


@contextlib.asynccontextmanager
async def dialogue_for(settings: Settings, personas: dict, generator, embedder,
                       echo: Callable[[str], None] = click.echo,
                       on_action_url: Callable[[str], None] | None = None,
                       progress: bool = True) -> AsyncIterator[object]:
    """Rasa's custom actions served on loopback, a Rasa server using them, and a DialogueEngine over it."""
    from aiohttp import web

    from bots.actions import add_action_server
    from bots.dialogue import DialogueEngine, StanceReader
    from murmur.assembly import label_acts
    from murmur.bots_commands import rasa_server_for

    app = web.Application()
    add_action_server(app, personas, generator)
    runner, port = await start_site(app, "127.0.0.1", 0)
    action_url = f"http://127.0.0.1:{port}/webhook"
    if on_action_url is not None:  # an external Rasa server (rasa.url) whose actions are forwarded here
        on_action_url(action_url)
    try:
        async with rasa_server_for(settings, action_url, echo) as server:
            await label_acts(generator, settings, server.url, progress=progress)
            engine = DialogueEngine(server.url, StanceReader(embedder), concurrency=settings.rasa.concurrency)
            try:
                yield engine
            finally:
                await engine.close()
    finally:
        await runner.cleanup()


async def hold_before(admin, plan, progress: bool = True) -> int:
    """Put the replay's posts from before its window into the forum (the forum holds everything before --from)."""
    from bots.swarm.replay import replay_chunks_of_threads
    from tqdm import tqdm

    added = 0
    chunks = replay_chunks_of_threads(plan.before)
    with tqdm(total=sum(len(c) for c in chunks), unit="thread", desc="the forum before the window", disable=not progress,
              leave=False) as bar:
        for chunk in chunks:
            added += (await admin.replay(chunk))["posts_added"]
            bar.update(len(chunk))
    await admin.set_meta("replay", plan.record())
    return added


async def run_swarm(settings: Settings, *, forum_url: str, admin_token: str, bots: int | None = None,
                    personas_dir: Path | None = None, hours: float | None = None, clock: str | None = None,
                    seed: int | None = None, run_id: str | None = None, progress: bool = True,
                    echo: Callable[[str], None] = click.echo, embedder=None,
                    on_action_url: Callable[[str], None] | None = None, swarm_hook=None, replay=None):
    """Everything a swarm run needs, from settings; returns the SwarmResult.

    ``replay`` (a bots.swarm.replay.ReplayPlan) replays people's posts on the swarm's clock: the forum is given
    everything before the window first, and the reply bank leaves out every replayed thread, future ones too.
    """
    from murmur.assembly import personas_by_name, reply_generator
    from bots.swarm import Swarm
    from bots.swarm.forum_view import library_threads, load_threads, people_posts
    from bots.swarm.timing import PeopleTiming
    from conversations.client import ForumClient
    from tqdm import tqdm

    from index.build import add_threads, new_index, open_embedder

    seed = settings.seed if seed is None else seed
    run_id = check_run_id(run_id or default_run_id(seed))
    personas = personas_by_name(settings, personas_dir)
    if replay is not None and (clock or settings.swarm.clock) != "simulated":
        raise MurmurError("--replay: a replay runs on the simulated clock; drop --clock wall")
    async with ForumClient(forum_url, admin_token) as admin:
        await require_murmur_forum(admin)
        if replay is not None:
            echo(replay.summary())
            await hold_before(admin, replay, progress)
        echo(f"reading the forum at {forum_url} ...")
        threads, latest_seq = await load_threads(admin, progress=progress)
        people = PeopleTiming.of(people_posts(threads, {}))  # what the forum held at the start: nothing from later
        embedder = embedder or open_embedder(settings.index)
        echo(f"indexing {len(threads)} threads (cached embeddings are reused) ...")
        index = new_index(settings.index, embedder)
        texts = [threads[i].text() for i in sorted(threads)]
        with tqdm(total=len(texts), unit="thread", desc="indexing", disable=not progress, leave=False) as bar:
            await asyncio.to_thread(add_threads, index, embedder, texts, bar.update)
        held = library_threads(threads)
        if replay is not None:  # the bank leaves out the replayed threads, those still to come as well
            held |= {-1 - n: (title, bodies) for n, (title, bodies) in enumerate(replay.texts())}
        generator = await asyncio.to_thread(reply_generator, settings, embedder, forum=held, progress=progress, echo=echo)
        async with dialogue_for(settings, personas, generator, embedder, echo, on_action_url, progress) as dialogue:
            log_path = settings.swarm.log_dir / f"{run_id}.jsonl"
            swarm = Swarm(admin, list(personas.values()), threads, latest_seq, dialogue=dialogue, generator=generator,
                          embedder=embedder, index=index, settings=settings.swarm, seed=seed, run_id=run_id,
                          log_path=log_path, bots=bots, hours=hours, clock=clock, progress=progress, on_step=swarm_hook,
                          replay=replay, people=people)
            span = (replay.until - replay.start).total_seconds() / 3600 if replay else swarm.hours
            echo(f"swarm {run_id}: {len(swarm.bots)} bots, {span:g} h of forum time on the {swarm.clock_kind} clock "
                 f"(seed {seed}{', ' + swarm.settings.behaviour + ' behaviour' if replay else ''}); run log {log_path}")
            return await swarm.run()


@click.command(short_help="Run a swarm of persona bots against a murmur test forum.")
@click.option("--forum", "forum_url", default=None, help="the forum's URL (default: forum.host and forum.port)")
@click.option("--bots", type=click.IntRange(1, 100_000), default=None, help="how many bots (default: swarm.bots)")
@click.option("--personas", "personas_dir", type=click.Path(path_type=Path), default=None,
              help="folder of persona files (default: bots.personas_dir)")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=None, help="hours of forum time (default: swarm.hours)")
@click.option("--clock", type=click.Choice(["simulated", "wall"]), default=None, help="default: swarm.clock (simulated)")
@click.option("--seed", type=int, default=None, help="default: the seed in config.yml")
@click.option("--run-id", default=None, help="names the run in ground truth and its log (default: time and seed)")
@click.option("--allow-remote", is_flag=True, help="allow a forum that is not on this machine (your own murmur forum)")
@click.option("--replay", "replay_paths", multiple=True, type=click.Path(path_type=Path),
              help="people's posts to replay at their own times (murmur JSONL or a Stack Exchange dump; repeatable)")
@click.option("--from", "start", default=None, help="with --replay: the window's start (ISO-8601; default: a week in)")
@click.option("--until", default=None, help="with --replay: the window's end (ISO-8601; default: --from + --hours)")
@click.option("--align-sites", is_flag=True, help="with --replay: shift each site's times (gaps kept) so all start together")
@click.option("--behaviour", type=click.Choice(["persona", "fitted"]), default=None,
              help="persona schedules, or timing fitted to the forum's people (default: swarm.behaviour)")
@click.pass_context
def swarm(ctx: click.Context, forum_url: str | None, bots: int | None, personas_dir: Path | None, hours: float | None,
          clock: str | None, seed: int | None, run_id: str | None, allow_remote: bool, replay_paths: tuple[Path, ...],
          start: str | None, until: str | None, align_sites: bool, behaviour: str | None) -> None:
    """Bots that follow the forum, find threads through the index, join them by the join policy and post.

    Needs the forum's admin token (forum.admin_token or MURMUR_ADMIN_TOKEN) to make bot accounts and
    record every bot post's provenance as ground truth.
    """
    settings = _settings(ctx)
    token = settings.forum.admin_token
    if not token:
        raise MurmurError("the swarm needs the forum's admin token to make bot accounts and record ground truth; "
                          "set MURMUR_ADMIN_TOKEN (or forum.admin_token) to the token the forum printed")
    url = check_forum_url(forum_url or f"http://{settings.forum.host}:{settings.forum.port}", allow_remote)
    if behaviour:
        settings = settings.model_copy(update={"swarm": settings.swarm.model_copy(update={"behaviour": behaviour})})
    plan = None
    if replay_paths:
        from bots.swarm.replay import read_replay

        plan = read_replay(replay_paths, start=_when("--from", start), until=_when("--until", until),
                           hours=hours or settings.swarm.hours, align_sites=align_sites)
    elif start or until or align_sites:
        raise click.UsageError("--from, --until and --align-sites go with --replay")
    result = asyncio.run(run_swarm(settings, forum_url=url, admin_token=token, bots=bots, personas_dir=personas_dir,
                                   hours=hours, clock=clock, seed=seed, run_id=run_id, replay=plan))
    click.echo(result.summary())
