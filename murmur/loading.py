"""Importing data into a forum database, with a progress bar (shared by ``murmur import`` and the demo)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from conversations.importers import import_threads, open_source
from conversations.models import ImportStats
from conversations.store import ForumStore
from murmur.config import Settings


async def import_path(source: Path, db: Path, settings: Settings, *, quiet: bool = False, every: int = 1) -> ImportStats:
    """Import a dump folder or JSONL file; ``every`` > 1 takes every n-th thread only (a sample, the same each time)."""
    threads, total = open_source(source)
    if every > 1:
        threads = (t for n, t in enumerate(threads) if n % every == 0)
        total = -(-total // every)
    async with ForumStore(db, synchronous=settings.forum.sqlite_synchronous) as store:
        with tqdm(total=total, unit="thread", desc=f"importing {source.name}", disable=quiet, dynamic_ncols=True) as bar:
            return await import_threads(store, threads, progress=bar.update)
