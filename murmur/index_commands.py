"""``murmur index ...`` and ``murmur match``: build, search and follow the thread index; match personas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from tqdm import tqdm

from conversations.engines import is_postgres
from conversations.snapshot import ForumSnapshot
from murmur.options import DATABASE
from murmur.config import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


def _titles(db: Path, ids: list[int]) -> dict[int, str]:
    if not ids or not (is_postgres(db) or Path(db).exists()):
        return {}
    with ForumSnapshot.open(db) as forum:
        return forum.titles(ids)


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def build_and_save(settings: Settings, db: Path, embedder, desc: str = "embedding threads"):
    """Embed every thread of the forum database (with a progress bar) and save the index to index.path."""
    from index.build import build_from_forum, count_threads

    with tqdm(total=count_threads(db), unit="thread", desc=desc, dynamic_ncols=True) as bar:
        built = build_from_forum(db, settings.index, embedder, progress=bar.update)
    built.save(settings.index.path)
    return built


@click.group(short_help="Build, search or follow the thread index.")
def index() -> None:
    """The FAISS index of embedded forum threads."""


@index.command(short_help="Embed every forum thread into a new index.")
@click.option("--db", type=DATABASE, default=None, help="forum database: SQLite file or postgresql:// URL (default: forum.database, else forum.db)")
@click.pass_context
def build(ctx: click.Context, db: Path | None) -> None:
    """Embed every thread of the forum database and save the index (index.path)."""
    from index.build import open_embedder

    settings = _settings(ctx)
    embedder = open_embedder(settings.index)
    built = build_and_save(settings, db or settings.forum.location(), embedder)
    stats = embedder.stats
    click.echo(f"indexed {len(built)} threads ({built.kind}) into {settings.index.path}; "
               f"{stats.encoded} texts embedded, {stats.cache_hits} from the cache, {stats.truncated} cut at "
               f"{embedder.max_tokens} word pieces; caught up to event {built.last_seq}")


@index.command(short_help="Find the threads nearest some text.")
@click.argument("text")
@click.option("-k", type=click.IntRange(1, 1000), default=10, show_default=True, help="how many threads")
@click.option("--db", type=DATABASE, default=None, help="forum database, for titles (SQLite file or postgresql:// URL)")
@click.pass_context
def search(ctx: click.Context, text: str, k: int, db: Path | None) -> None:
    """Nearest threads to TEXT by cosine similarity."""
    from index.build import load_index, open_embedder

    settings = _settings(ctx)
    embedder = open_embedder(settings.index)
    loaded = load_index(settings.index, embedder)
    hits = loaded.search(embedder.embed_one(text), k)
    titles = _titles(db or settings.forum.location(), [h.thread_id for h in hits])
    _table([(str(h.thread_id), f"{h.score:.3f}", titles.get(h.thread_id, "")[:80]) for h in hits], ("thread", "score", "title"))


@index.command(short_help="Keep the index current from the forum's events.")
@click.option("--forum", "forum_url", default=None, help="forum URL (default: http://forum.host:forum.port)")
@click.pass_context
def follow(ctx: click.Context, forum_url: str | None) -> None:
    """Follow the forum's event socket and upsert changed threads until Ctrl-C (saves on exit)."""
    from conversations.client import ForumClient
    from index.build import load_index, open_embedder
    from index.follower import IndexFollower

    settings = _settings(ctx)
    url = forum_url or f"http://{settings.forum.host}:{settings.forum.port}"
    embedder = open_embedder(settings.index)
    loaded = load_index(settings.index, embedder)
    click.echo(f"following {url} from event {loaded.last_seq}; {len(loaded)} threads indexed (Ctrl-C stops and saves)")

    async def run() -> None:
        async with ForumClient(url) as client:
            await IndexFollower(client, embedder, loaded, save_path=settings.index.path).run()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    click.echo(f"saved {len(loaded)} threads, caught up to event {loaded.last_seq}")


@click.command(short_help="Match personas and threads, with reasons.")
@click.option("--thread", "thread_id", type=int, default=None, help="who ought to be in this thread")
@click.option("--interests", default=None, help="which threads fit these interests (separate with ';')")
@click.option("--personas", type=click.Path(path_type=Path), default=None, help="persona folder or file (default: bots.personas_dir)")
@click.option("-k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--db", type=DATABASE, default=None, help="forum database, for titles (SQLite file or postgresql:// URL)")
@click.pass_context
def match(ctx: click.Context, thread_id: int | None, interests: str | None, personas: Path | None, k: int, db: Path | None) -> None:
    """Thread -> personas (--thread ID) or interests -> threads (--interests "...")."""
    from index.build import load_index, open_embedder
    from index.matching import Matcher
    from index.personas import load_profiles

    if (thread_id is None) == (interests is None):
        raise click.UsageError("give --thread ID or --interests TEXT (one of them)")
    settings = _settings(ctx)
    embedder = open_embedder(settings.index)
    loaded = load_index(settings.index, embedder)
    if thread_id is not None:
        matcher = Matcher(embedder, loaded, load_profiles(personas or settings.bots.personas_path()))
        ranked = matcher.personas_for(thread_id, k)
        title = _titles(db or settings.forum.location(), [thread_id]).get(thread_id, "")
        click.echo(f"who ought to be in thread {thread_id}" + (f": {title}" if title else ""))
        _table([(m.persona, f"{m.score:.3f}", m.reason) for m in ranked], ("persona", "score", "because of"))
        return
    matcher = Matcher(embedder, loaded)
    found = matcher.threads_for_interests([i.strip() for i in interests.split(";")], k)
    titles = _titles(db or settings.forum.location(), [m.thread_id for m in found])
    _table([(str(m.thread_id), f"{m.score:.3f}", titles.get(m.thread_id, "")[:70], m.reason) for m in found],
           ("thread", "score", "title", "because of"))
