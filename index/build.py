"""Building the thread index from a forum database, and opening the one on disk.

The build reads the forum's SQLite file directly (read-only), so it works
whether or not the forum is running; the event sequence number it read
first is stored with the index, so a follower resumes from there and
nothing committed during the build is missed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

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
                    backend=settings.backend, onnx_dir=settings.onnx_dir)


def load_index(settings: IndexSettings, embedder: Embedder) -> ThreadIndex:
    return ThreadIndex.load(settings.path, model_id=embedder.model_id, dims=embedder.dims)


def connect_forum(db: Path) -> sqlite3.Connection:
    if not Path(db).exists():
        raise IndexFileError(f"{db}: no forum database here; run `murmur forum` or `murmur import` first, or pass --db")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM threads LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise IndexFileError(f"{db}: not a murmur forum database ({exc}); pass the forum's --db") from None
    return conn


def forum_threads(conn: sqlite3.Connection, thread_ids: list[int] | None = None, *,
                  max_posts: int = MAX_REPLIES + 1) -> Iterator[ThreadText]:
    """Each thread's title, opening post and first replies (as the index embeds them, by default)."""
    ids = thread_ids if thread_ids is not None else [r[0] for r in conn.execute("SELECT id FROM threads ORDER BY id")]
    for thread_id in ids:
        row = conn.execute("SELECT title FROM threads WHERE id = ?", (thread_id,)).fetchone()
        if row is None:
            raise UnknownThread(f"thread {thread_id} is not in the forum database")
        bodies = [b for (b,) in conn.execute(
            "SELECT body FROM posts WHERE thread_id = ? ORDER BY created_at, id LIMIT ?", (thread_id, max_posts))]
        yield ThreadText(thread_id, row[0], bodies[0] if bodies else "", tuple(bodies[1:]))


def build_from_forum(db: Path, settings: IndexSettings, embedder: Embedder,
                     progress: Callable[[int], None] | None = None) -> ThreadIndex:
    """Embed every thread of the forum database into a new index (not yet saved)."""
    conn = connect_forum(db)
    try:
        index = new_index(settings, embedder)
        index.last_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        add_threads(index, embedder, forum_threads(conn), progress)
        return index
    finally:
        conn.close()


def count_threads(db: Path) -> int:
    conn = connect_forum(db)
    try:
        return conn.execute("SELECT count(*) FROM threads").fetchone()[0]
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
