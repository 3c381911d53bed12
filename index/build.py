"""Building the thread index from a forum database, and opening the one on disk.

The build reads the forum database through the forum's read side
(``conversations.snapshot``: read-only, one transaction), so it works whether
or not the forum is running; the event sequence number of that snapshot is
stored with the index, so a follower resumes from there and nothing
committed during the build is missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from conversations.errors import NotAForum
from conversations.snapshot import ForumSnapshot
from index.documents import MAX_REPLIES, ThreadText, thread_vectors
from index.embedder import Embedder
from index.errors import IndexFileError, UnknownThread
from index.threads import ThreadIndex
from index.settings import IndexSettings

CHUNK = 128  # threads embedded per step: big enough to batch well, small enough for a lively progress bar


def new_index(settings: IndexSettings, embedder: Embedder) -> ThreadIndex:
    return ThreadIndex(embedder.dims, embedder.model_id, hnsw_threshold=settings.hnsw_threshold,
                       hnsw_m=settings.hnsw_m, ef_construction=settings.ef_construction, ef_search=settings.ef_search)


def open_embedder(settings: IndexSettings) -> Embedder:
    return Embedder(cache_path=settings.cache_path, batch_size=settings.batch_size, threads=settings.threads,
                    backend=settings.backend, onnx_dir=settings.onnx_dir, shipped=settings.shipped_vectors)


def load_index(settings: IndexSettings, embedder: Embedder) -> ThreadIndex:
    return ThreadIndex.load(settings.path, model_id=embedder.model_id, dims=embedder.dims)


def connect_forum(db: Path) -> ForumSnapshot:
    """The forum database, read through the forum's own read side."""
    try:
        return ForumSnapshot.open(db)
    except NotAForum as exc:
        raise IndexFileError(str(exc)) from None


def forum_threads(snapshot: ForumSnapshot, thread_ids: list[int] | None = None, *,
                  max_posts: int = MAX_REPLIES + 1) -> Iterator[ThreadText]:
    """Each thread's title, opening post and first replies (as the index embeds them, by default)."""
    for thread_id in thread_ids if thread_ids is not None else snapshot.thread_ids():
        found = snapshot.thread_text(thread_id, max_posts)
        if found is None:
            raise UnknownThread(f"thread {thread_id} is not in the forum database")
        title, bodies = found
        yield ThreadText(thread_id, title, bodies[0] if bodies else "", tuple(bodies[1:]))


def build_from_forum(db: Path, settings: IndexSettings, embedder: Embedder,
                     progress: Callable[[int], None] | None = None) -> ThreadIndex:
    """Embed every thread of the forum database into a new index (not yet saved)."""
    conn = connect_forum(db)
    try:
        index = new_index(settings, embedder)
        index.last_seq = conn.latest_seq()
        add_threads(index, embedder, forum_threads(conn), progress)
        return index
    finally:
        conn.close()


def count_threads(db: Path) -> int:
    conn = connect_forum(db)
    try:
        return conn.thread_count()
    finally:
        conn.close()


def add_threads(index: ThreadIndex, embedder: Embedder, threads: Iterable[ThreadText],
                progress: Callable[[int], None] | None = None) -> None:
    """Embed threads into the index a chunk at a time, calling ``progress`` with each chunk's size."""
    chunk: list[ThreadText] = []
    for thread in threads:
        chunk.append(thread)
        if len(chunk) == CHUNK:
            _add(index, embedder, chunk, progress)
            chunk = []
    if chunk:
        _add(index, embedder, chunk, progress)


def _add(index: ThreadIndex, embedder: Embedder, chunk: list[ThreadText], progress: Callable[[int], None] | None) -> None:
    index.upsert([t.thread_id for t in chunk], thread_vectors(embedder, chunk))
    if progress is not None:
        progress(len(chunk))
