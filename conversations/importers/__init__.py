"""Importers: real forum data into the test forum.

Two formats: the official Stack Exchange data dump (a folder with
``Posts.xml``, optional ``Comments.xml`` and ``Users.xml``) and murmur's own
JSONL thread format (see ``conversations/importers/jsonl.py``). Both keep
original authors (as accounts) and timestamps; external ids make a second
import of the same data add nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from conversations.errors import InvalidInput
from conversations.importers import jsonl, stackexchange
from conversations.models import ImportedThread, ImportStats
from conversations.store import ForumStore

SEED_THREADS = Path(__file__).resolve().parent.parent / "seed" / "threads.jsonl"
# The real forum data the project ships (CC BY-SA; data/README.md): a clone carries it, and nothing reads outside the project.
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data"
CORPUS_DIR = DATA_DIR / "forum-corpus"
CORPUS_THREADS = CORPUS_DIR / "threads.jsonl.gz"
CORPUS_DISTRACTORS = CORPUS_DIR / "distractors.jsonl.gz"
DUMPS_DIR = DATA_DIR / "stackexchange-dumps"


def open_source(path: Path) -> tuple[Iterator[ImportedThread], int]:
    """The threads under ``path`` and how many there are (for the progress bar), by the format found there."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput("PATH", f"{path} does not exist; give a Stack Exchange dump folder or a .jsonl(.gz) file")
    if path.is_dir() and (path / "Posts.xml").exists():
        return stackexchange.read_dump(path), stackexchange.count_questions(path)
    files = sorted(f for f in path.iterdir() if jsonl.is_jsonl(f)) if path.is_dir() else [path]
    if not files or not all(jsonl.is_jsonl(f) for f in files):
        raise InvalidInput("PATH", f"{path}: no Posts.xml and no .jsonl or .jsonl.gz files; "
                                   "give a Stack Exchange dump folder or murmur JSONL")
    return jsonl.read_files(files), sum(jsonl.count_lines(f) for f in files)


def located_threads(path: Path) -> Iterator[tuple[str, ImportedThread]]:
    """Each thread with where it is (``file:line``, or the dump's Posts.xml and question id), for messages."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput("PATH", f"{path} does not exist; give a Stack Exchange dump folder or a .jsonl(.gz) file")
    if path.is_dir() and (path / "Posts.xml").exists():
        for thread in stackexchange.read_dump(path):
            yield f"{path.name}/Posts.xml question {thread.external_id}", thread
        return
    if not jsonl.is_jsonl(path):
        raise InvalidInput("PATH", f"{path}: not a Stack Exchange dump folder or a .jsonl(.gz) file")
    for where, record in jsonl.read_records(path):
        yield where, jsonl.parse_thread(record, where)


def _batches(threads: Iterable[ImportedThread], size: int) -> Iterator[list[ImportedThread]]:
    batch: list[ImportedThread] = []
    for thread in threads:
        batch.append(thread)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_threads(
    store: ForumStore,
    threads: Iterable[ImportedThread],
    *,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Write threads in batches, one transaction each; a bad record stops the import with its batch unwritten."""
    total = ImportStats()
    for batch in _batches(threads, batch_size):
        total.add(await store.import_threads(batch))
        if progress is not None:
            progress(len(batch))
    return total
