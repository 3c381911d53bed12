"""Importing data into a forum database, with a progress bar (shared by ``murmur import`` and the demo)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from conversations.importers import import_threads, open_source
from conversations.models import ImportStats
from conversations.store import ForumStore
from murmur.config import Settings


async def import_path(source: Path, db: Path, settings: Settings, *, quiet: bool = False) -> ImportStats:
    threads, total = open_source(source)
    async with ForumStore(db, synchronous=settings.forum.sqlite_synchronous) as store:
        with tqdm(total=total, unit="thread", desc=f"importing {source.name}", disable=quiet, dynamic_ncols=True) as bar:
            return await import_threads(store, threads, progress=bar.update)
