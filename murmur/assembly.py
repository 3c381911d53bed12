"""Assembly, in one place: the forum client, index, matcher, Rasa server, dialogue engine, generators and swarm,
built from the whole app's settings. Command modules parse options, call this and print; nothing below
``murmur/`` needs the composed Settings."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bots.personas import Persona, load_personas
from bots.words.acts import ActLabels
from bots.words.bank import ReplyBank, read_bank
from bots.words.library import Library
from bots.words.llm import LLMGenerator
from bots.words.replies import PendingGenerator, ReplyGenerator, ready
from bots.words.selection import BankGenerator
from bots.words.splice import SpliceGenerator
from conversations.engines import is_postgres
from conversations.importers import CORPUS_THREADS
from index.embedder import Embedder
from murmur.config import Settings
from murmur.errors import MurmurError
from murmur.forum_lock import require_murmur_forum
from murmur.serving import start_site, wait_for_stop
from murmur.swarm_job import ForumAccess, RayTurns, SwarmJob

if TYPE_CHECKING:
    from bots.dialogue.pool import RasaPool
    from bots.swarm.hooks import SwarmHooks

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

ForumThreads = dict[int, tuple[str, list[str]]]  # thread id -> (title, post bodies): what a generator may not repeat


def personas_by_name(settings: Settings, folder: Path | None = None) -> dict[str, Persona]:
    return {p.name: p for p in load_personas(folder or settings.bots.personas_path())}


def chat_personas(settings: Settings) -> dict[str, Persona]:
    """The personas ``murmur chat`` offers: ``bots.personas_dir`` when set; else the ones written for the shipped
    corpus (the default bank has their sites) and then the shipped examples (the page marks those it cannot feed)."""
    from bots.personas import CORPUS_PERSONAS

    if settings.bots.personas_dir is not None:
        return personas_by_name(settings)
    return personas_by_name(settings, CORPUS_PERSONAS) | personas_by_name(settings)


def library_for(settings: Settings, embedder: Embedder, db: Path | None = None) -> Library:
    """The forum's threads when there is a forum database, else the project's seed threads."""
    db = db or settings.forum.location()
    return Library.from_forum(embedder, db) if is_postgres(db) or Path(db).exists() else Library.from_seed(embedder)


def bank_files(settings: Settings) -> list[Path]:
    return list(settings.replies.bank) or [CORPUS_THREADS]


def build_bank(settings: Settings, embedder: Embedder, forum: ForumThreads | None = None, *,
               progress: bool = True, echo: Callable[[str], None] = print) -> ReplyBank:
    """The reply bank from ``replies.bank`` (default: the shipped corpus), without the forum's own threads."""
    forum = forum or {}
    files = bank_files(settings)
    with tqdm(unit="thread", desc="reading the reply bank", disable=not progress, leave=False) as bar:
        source = read_bank(files, forum_posts=(b for _, bodies in forum.values() for b in bodies),
                           forum_titles=(title for title, _ in forum.values()), progress=bar.update)
    echo(f"reply bank: {len(source.replies):,} replies in {len(source.threads):,} threads from "
         f"{', '.join(Path(f).name for f in files)}" + (f"; {source.skipped_threads:,} threads left out because the "
                                                        "forum holds them" if source.skipped_threads else ""))
    total = len(source.threads) + len(source.replies)
    with tqdm(total=total, unit="text", desc="embedding the reply bank", disable=not progress, leave=False) as bar:
        bank = ReplyBank(source, embedder, progress=bar.update)
    if forum:
        bank.observe(b for _, bodies in forum.values() for b in bodies)
    return bank


def reply_generator(settings: Settings, embedder: Embedder, *, forum: ForumThreads | None = None,
                    library: Library | None = None, progress: bool = True,
                    echo: Callable[[str], None] = print) -> ReplyGenerator:
    """The generator ``replies.backend`` names, with what it draws on (the bank, or the forum's text for splice)."""
    replies = settings.replies
    if replies.backend == "llm":
        llm = replies.llm
        return LLMGenerator(llm.url, llm.model, timeout_s=llm.timeout_s, retries=llm.retries, api_key=llm.api_key)
    if replies.backend == "splice":
        if library is None:
            library = Library(embedder, forum) if forum else Library.from_seed(embedder)
        return SpliceGenerator(library, seed=settings.seed)
    bank = build_bank(settings, embedder, forum, progress=progress, echo=echo)
    return BankGenerator(bank, seed=settings.seed, topic_threshold=replies.topic_threshold)


async def label_acts(generator: ReplyGenerator, settings: Settings, rasa_url: str, *, progress: bool = True) -> None:
    """Read the bank's replies with the Rasa server's NLU (``replies.acts: rasa``), cached per model."""
    if not isinstance(generator, BankGenerator) or settings.replies.acts != "rasa":
        return
    bank = generator.bank
    with tqdm(unit="text", desc="reading the bank's acts with Rasa NLU", disable=not progress, leave=False) as bar:
        generator.labels = await ActLabels.by_rasa(bank.replies, rasa_url,
                                                   cache_path=settings.rasa.model_dir / "act-labels.sqlite",
                                                   concurrency=settings.rasa.concurrency, progress=bar.update)


# -- Rasa ---------------------------------------------------------------------------------------------------


def train_shared_model(settings: Settings, force: bool = False, echo: Callable[[str], None] = print):
    """Train the bots' Rasa model from bots/dialogue/rasa and config.yml, unless an identical one exists."""
    from bots.dialogue.training import RASA_DIR, rasa_bin_in, train_model

    return train_model(RASA_DIR, settings.rasa.model_dir, epochs=settings.rasa.epochs,
                       rasa_bin=rasa_bin_in(settings.rasa.venv_path()), force=force, note=echo)


def building(work: Callable[[], object]) -> asyncio.Future:
    """``work()`` started now in a thread, as a Future; a run that fails before awaiting it leaves no stray warning."""
    future = asyncio.ensure_future(asyncio.to_thread(work))
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    return future


def start_training(settings: Settings, echo: Callable[[str], None] = print) -> asyncio.Future | None:
    """The shared model's training (when murmur runs its own Rasa servers and the model is missing), started now in a
    thread so that it runs beside what comes before the servers (the forum, the index, the bank); give the Future to
    ``rasa_pool_for``, which waits for it."""
    if settings.rasa.external_urls():
        return None
    return building(lambda: train_shared_model(settings, False, echo))


@contextlib.asynccontextmanager
async def rasa_pool_for(settings: Settings, action_url: str, echo: Callable[[str], None] = print,
                        training: asyncio.Future | None = None) -> AsyncIterator[RasaPool]:
    """The Rasa servers of rasa.url / rasa.urls, or ``rasa.servers`` that murmur trains a model for (if needed, off
    the event loop; ``training``: a ``start_training`` already under way) and starts with their custom actions at
    ``action_url``; stopped on the way out."""
    from bots.dialogue.pool import RasaPool
    from bots.dialogue.training import rasa_bin_in

    rasa = settings.rasa
    if rasa.external_urls():
        pool = RasaPool.external(rasa.external_urls(), concurrency=rasa.concurrency, echo=echo)
    else:
        model = await (training or asyncio.to_thread(train_shared_model, settings, False, echo))
        echo(f"starting {rasa.servers} Rasa server{'s' if rasa.servers > 1 else ''} with {model.model_path.name} "
             "(about half a minute) ...")
        pool = RasaPool.managed(model.model_path, count=rasa.servers, action_url=action_url,
                                rasa_bin=rasa_bin_in(rasa.venv_path()), log_dir=rasa.model_dir,
                                ready_timeout_s=rasa.start_timeout_s, concurrency=rasa.concurrency, echo=echo)
    async with pool:
        echo(pool.summary())
        for line in pool.describe():
            echo(f"  {line}")
        yield pool


def default_run_id(seed: int) -> str:
    return f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-s{seed}"


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise MurmurError(f"--run-id: {run_id!r} is not a run id; use up to 64 letters, digits, '.', '_' or '-'")
    return run_id


# -- chat and swarm ---------------------------------------------------------------------------------------


async def serve_chat(settings: Settings, *, persona: str | None, port: int | None, duration: float | None,
                     echo: Callable[[str], None] = print) -> None:
    """The chat page and web socket with every persona, over a Rasa server, until ``duration`` or Ctrl-C."""
    from bots.chat.app import ENGINE, create_chat_app
    from bots.dialogue.engine import DialogueEngine, StanceReader
    from index.build import open_embedder

    personas = chat_personas(settings)
    if persona is not None and persona not in personas:
        raise MurmurError(f"--persona: unknown persona {persona!r}; known: {', '.join(sorted(personas))}")
    training = start_training(settings, echo)  # beside the bank's build
    embedder = open_embedder(settings.index)
    echo(f"loading what the replies draw on ({settings.replies.backend}) ...")
    library = (await asyncio.to_thread(library_for, settings, embedder)) if settings.replies.backend == "splice" else None
    # the bank builds while Rasa starts: the chat's action server waits for it (a turn cannot come before Rasa is up)
    pending = PendingGenerator(building(lambda: reply_generator(settings, embedder, library=library, echo=echo)))
    app = create_chat_app(settings.chat, personas, pending)
    host = settings.chat.host
    runner, port = await start_site(app, host, settings.chat.port if port is None else port)
    try:
        async with rasa_pool_for(settings, f"http://{host}:{port}/webhook", echo, training) as pool:
            generator = await ready(pending)
            await label_acts(generator, settings, pool.any_url())
            engine = DialogueEngine(pool, StanceReader(embedder), concurrency=settings.rasa.concurrency)
            app[ENGINE].engine = engine
            page = f"http://{host}:{port}/" + (f"?persona={persona}" if persona else "")
            widget = f"http://{host}:{port}/webchat?persona={persona or 'NAME'}"
            echo(f"chat at {page}  (web socket: /ws/chat?persona=NAME; Rasa's widget: {widget}; Ctrl-C stops)")
            await wait_for_stop(duration)
            for line in pool.describe():
                echo(f"  {line}")
            await engine.close()
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def dialogue_for(settings: Settings, personas: dict, generator, embedder,
                       echo: Callable[[str], None] = print,
                       on_action_url: Callable[[str], None] | None = None,
                       progress: bool = True, training: asyncio.Future | None = None) -> AsyncIterator[object]:
    """Rasa's custom actions served on loopback, a Rasa server using them, and a DialogueEngine over it.

    ``generator`` may be a ``PendingGenerator`` still being built: Rasa then starts while it builds."""
    from aiohttp import web

    from bots.dialogue.actions import add_action_server
    from bots.dialogue.engine import DialogueEngine, StanceReader

    app = web.Application()
    add_action_server(app, personas, generator)
    runner, port = await start_site(app, "127.0.0.1", 0)
    action_url = f"http://127.0.0.1:{port}/webhook"
    if on_action_url is not None:  # an external Rasa server (rasa.url) whose actions are forwarded here
        on_action_url(action_url)
    try:
        async with rasa_pool_for(settings, action_url, echo, training) as pool:
            generator = await ready(generator)  # a PendingGenerator: built while Rasa started
            await label_acts(generator, settings, pool.any_url(), progress=progress)
            engine = DialogueEngine(pool, StanceReader(embedder), concurrency=settings.rasa.concurrency)
            try:
                yield engine
            finally:
                if len(pool.members) > 1:
                    for line in pool.describe():
                        echo(f"  {line}")
                await engine.close()
    finally:
        await runner.cleanup()


async def run_on_workers(settings: Settings, handles: list, held: ForumThreads, generator, run_with, echo):
    """A run's generator built on every worker, then the run with its turns on them."""
    import functools

    from bots.swarm.ray_turns import RayDialogue

    ray = _ray()
    make = functools.partial(turn_worker_generator, settings, held)
    await asyncio.gather(*(w.prepare.remote(make) for w in handles))
    dialogue = RayDialogue(handles, generator, died=(ray.exceptions.RayActorError,))
    try:
        return await run_with(dialogue)
    finally:
        for line in dialogue.describe():
            echo(f"  {line}")


async def hold_before(admin, plan, progress: bool = True) -> int:
    """Put the replay's posts from before its window into the forum (the forum holds everything before --from)."""
    from tqdm import tqdm

    from bots.swarm.replay import replay_chunks_of_threads

    added = 0
    chunks = replay_chunks_of_threads(plan.before)
    with tqdm(total=sum(len(c) for c in chunks), unit="thread", desc="the forum before the window", disable=not progress,
              leave=False) as bar:
        for chunk in chunks:
            added += (await admin.replay(chunk))["posts_added"]
            bar.update(len(chunk))
    await admin.set_meta("replay", plan.record())
    return added


# -- Ray: phase 2 of a swarm on worker actors ---------------------------------------------------------------


def turn_worker_base(settings: Settings, personas_dir: Path | None, root: str):
    """Runs inside a Ray worker: what the worker keeps for every run (see bots.swarm.ray_turns)."""
    import os

    from bots.dialogue.training import rasa_bin_in
    from bots.swarm.ray_turns import WorkerBase
    from index.build import open_embedder

    if Path(root).is_dir():
        os.chdir(root)  # config.yml's relative paths (caches, models) mean what they mean to the coordinator
    embedder = open_embedder(settings.index)
    model = train_shared_model(settings, False, lambda line: None)  # the coordinator's model: found, not trained

    async def acts(generator, rasa_url: str) -> None:
        await label_acts(generator, settings, rasa_url, progress=False)

    return WorkerBase(personas_by_name(settings, personas_dir), embedder, model.model_path,
                      rasa_bin_in(settings.rasa.venv_path()), settings.rasa.model_dir, settings.rasa.start_timeout_s,
                      settings.rasa.concurrency, settings.rasa.servers, acts)


def turn_worker_generator(settings: Settings, held: ForumThreads, embedder):
    """Runs inside a Ray worker: a run's reply generator, built exactly as the coordinator builds its own."""
    return reply_generator(settings, embedder, forum=held, progress=False, echo=lambda line: None)


def _ray():
    try:
        import ray
    except ImportError:
        raise MurmurError("--ray: Ray is not installed; run `make setup` (or pip install -e '.[ray]')") from None
    return ray


@contextlib.asynccontextmanager
async def turn_workers_for(settings: Settings, personas_dir: Path | None, *, count: int, address: str | None = None,
                           echo: Callable[[str], None] = print) -> AsyncIterator[list]:
    """``count`` TurnWorker actors on Ray: on the cluster at ``address``, or on a local one started here."""
    import functools
    import os

    from bots.swarm.ray_turns import TurnWorker

    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        local = address in (None, "", "local")
        echo("starting a local Ray cluster ..." if local else f"joining the Ray cluster at {address} ...")
        try:
            ray.init(address=None if local else address, include_dashboard=False, log_to_driver=False,
                     **({"num_cpus": max(os.cpu_count() or 1, count)} if local else {}))
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise MurmurError(f"--ray: cannot reach a Ray cluster at {address} ({exc}); start one with "
                              "`ray start --head` and give its address, or give no address for a local one") from None
    build = functools.partial(turn_worker_base, settings, personas_dir, os.getcwd())
    actor = ray.remote(TurnWorker).options(num_cpus=1, max_restarts=0, scheduling_strategy="SPREAD")
    workers = [actor.remote(slot, build) for slot in range(count)]
    try:
        echo(f"starting {count} turn worker{'s' if count > 1 else ''}, each with its own Rasa server "
             "(about a minute) ...")
        for info in await asyncio.gather(*(w.start.remote() for w in workers)):
            echo(f"  turn worker #{info['slot'] + 1}: {info['host']} pid {info['pid']}, Rasa at "
                 f"{', '.join(info['rasa'])}, actions at {info['action_url']}")
        yield workers
    finally:
        for worker in workers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.stop.remote(), 30)
            with contextlib.suppress(Exception):
                ray.kill(worker)
        if started_here:
            ray.shutdown()


def campaign_words_for(campaign, generator, embedder, echo: Callable[[str], None]):
    """The bank's replies on the campaign's side, read by the stance reader; None without a campaign or a bank."""
    if campaign is None or getattr(generator, "bank", None) is None:
        return None
    from bots.dialogue.stance import StanceReader
    from bots.swarm.campaign import CampaignWords

    words = CampaignWords(generator.bank, StanceReader(embedder), campaign.goal)
    echo(f"campaign {campaign.id}: {len(words)} of the bank's {len(generator.bank)} replies take its side "
         f"({campaign.goal.side} on {campaign.goal.topic!r}; {words.read} are about it)")
    return words


async def run_swarm(settings: Settings, forum: ForumAccess, job: SwarmJob = SwarmJob(), *, ray: RayTurns | None = None,
                    embedder=None, on_action_url: Callable[[str], None] | None = None, hooks: SwarmHooks | None = None,
                    training: asyncio.Future | None = None, progress: bool = True,
                    echo: Callable[[str], None] = print):
    """Everything a swarm run needs, from settings; returns the SwarmResult.

    ``job.replay`` (a bots.swarm.replay.ReplayPlan) replays people's posts on the swarm's clock: the forum is given
    everything before the window first, and the reply bank leaves out every replayed thread, future ones too.
    ``ray`` puts the turns on Ray TurnWorker actors; ``training``: the model's ``start_training``, when the caller
    began it earlier; ``on_action_url`` hears where the run's action server listens (a test forwards to it).
    """
    from tqdm import tqdm

    from bots.swarm import RunSpec, Swarm, SwarmParts
    from bots.swarm.forum_view import library_threads, load_threads, people_handles, people_posts
    from bots.swarm.population import Population
    from bots.swarm.timing import PeopleTiming
    from conversations.client import ForumClient
    from index.build import add_threads, new_index, open_embedder
    from index.matching import Matcher

    seed = settings.seed if job.seed is None else job.seed
    run_id = check_run_id(job.run_id or default_run_id(seed))
    personas = personas_by_name(settings, job.personas_dir)
    replay, hours = job.replay, job.hours
    if replay is not None and (job.clock or settings.swarm.clock) != "simulated":
        raise MurmurError("--replay: a replay runs on the simulated clock; drop --clock wall")
    async with ForumClient(forum.url, forum.admin_token) as admin:
        await require_murmur_forum(admin)
        if replay is not None:
            echo(replay.summary())
            await hold_before(admin, replay, progress)
        echo(f"reading the forum at {forum.url} ...")
        threads, latest_seq = await load_threads(admin, progress=progress)
        people = PeopleTiming.of(people_posts(threads, {}))  # what the forum held at the start: nothing from later
        population = None
        if settings.swarm.population == "people":
            try:
                span = ((replay.until - replay.start).total_seconds() / 3600 if replay is not None
                        else hours or settings.swarm.hours)
                population = Population.of(((a, c, parent is None) for a, c, parent, _ in people_posts(threads, {})),
                                           people_handles(threads, {}), span)
            except ValueError as exc:
                raise MurmurError(str(exc)) from None
        embedder = embedder or open_embedder(settings.index)
        echo(f"indexing {len(threads)} threads (cached embeddings are reused) ...")
        index = new_index(settings.index, embedder)
        texts = [threads[i].text() for i in sorted(threads)]
        with tqdm(total=len(texts), unit="thread", desc="indexing", disable=not progress, leave=False) as bar:
            await asyncio.to_thread(add_threads, index, embedder, texts, bar.update)
        held = library_threads(threads)
        if replay is not None:  # the bank leaves out the replayed threads, those still to come as well
            held |= {-1 - n: (title, bodies) for n, (title, bodies) in enumerate(replay.texts())}
        generator = PendingGenerator(building(lambda: reply_generator(settings, embedder, forum=held, progress=progress,
                                                                      echo=echo)))

        async def run_with(dialogue) -> object:
            nonlocal generator
            generator = await ready(generator)
            log_path = settings.swarm.log_dir / f"{run_id}.jsonl"
            matcher = Matcher(embedder, index, [p.profile() for p in personas.values()])
            parts = SwarmParts(dialogue, generator, embedder, index, matcher,
                               campaign_words=campaign_words_for(job.campaign, generator, embedder, echo))
            spec = RunSpec(seed, run_id, log_path, bots=job.bots, hours=hours, clock=job.clock, replay=replay, people=people,
                           population=population, campaign=job.campaign)
            swarm = Swarm(admin, list(personas.values()), threads, latest_seq, parts=parts, spec=spec,
                          settings=settings.swarm, progress=progress, hooks=hooks)
            span = (replay.until - replay.start).total_seconds() / 3600 if replay else swarm.hours
            echo(f"swarm {run_id}: {len(swarm.bots)} bots, {span:g} h of forum time on the {swarm.clock_kind} clock "
                 f"(seed {seed}{', ' + swarm.settings.behaviour + ' behaviour' if replay else ''}); run log {log_path}")
            return await swarm.run()

        if ray is None:
            async with dialogue_for(settings, personas, generator, embedder, echo, on_action_url, progress,
                                    training) as dialogue:
                return await run_with(dialogue)
        generator = await ready(generator)
        async with (contextlib.nullcontext(ray.workers) if ray.workers is not None else
                    turn_workers_for(settings, job.personas_dir, count=ray.count, address=ray.address,
                                     echo=echo)) as handles:
            return await run_on_workers(settings, handles, held, generator, run_with, echo)
