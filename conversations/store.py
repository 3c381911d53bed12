"""ForumStore: the forum's database behind an async interface, on SQLite (a file) or PostgreSQL (a URL).

One writer: every write runs on a single dedicated thread with its own
connection, inside a transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL
``BEGIN`` and an advisory lock every writing process takes), so writes are
serialised, events are numbered in commit order without gaps, and a killed
process keeps either all of a write or none of it. Writes that arrive while
the writer is busy are committed together (group commit: each in its own
savepoint, one flush for all), and none is answered before its commit. Reads run on a small pool
of reader threads. Committed events are handed to ``on_event`` on the event
loop in commit order. The SQL is one for both engines; ``conversations.engines``
holds what differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from conversations.errors import Conflict, Inconsistent, InvalidInput, NotFound, StoreError
from conversations.models import (
    POST_CREATED,
    THREAD_CREATED,
    Account,
    Event,
    ImportedThread,
    ImportStats,
    Post,
    Provenance,
    Thread,
    utc_now,
)
from conversations.engines import engine_for, is_postgres, words_of
from conversations.snapshot import ForumSnapshot

T = TypeVar("T")
MAX_BATCH = 64  # writes committed together at most: enough to share a flush, few enough to answer soon
EventSink = Callable[[Event], None]
Clock = Callable[[], str]

_ACCOUNT_COLUMNS = "a.id, a.handle, a.display_name, a.created_at"
_THREAD_SELECT = f"""
    SELECT t.id, t.title, t.created_at, t.last_activity_at, t.post_count, t.tags, {_ACCOUNT_COLUMNS}
    FROM threads t JOIN accounts a ON a.id = t.author_id"""
_POST_SELECT = f"""
    SELECT p.id, p.thread_id, p.parent_id, p.body, p.created_at, {_ACCOUNT_COLUMNS}
    FROM posts p JOIN accounts a ON a.id = p.author_id"""


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # its caller went away (a cancelled request); the write stands, as a committed one does
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def hash_token(token: str) -> str:
    """Tokens are stored hashed: a copied database file grants no one's identity."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _account(row: sqlite3.Row, offset: int = 0) -> Account:
    return Account(id=row[offset], handle=row[offset + 1], display_name=row[offset + 2], created_at=row[offset + 3])


def _thread(row: sqlite3.Row) -> Thread:
    return Thread(
        id=row[0],
        title=row[1],
        created_at=row[2],
        last_activity_at=row[3],
        post_count=row[4],
        tags=tuple(json.loads(row[5])),
        author=_account(row, 6),
    )


def _post(row: sqlite3.Row) -> Post:
    return Post(id=row[0], thread_id=row[1], parent_id=row[2], body=row[3], created_at=row[4], author=_account(row, 5))




class ForumStore:
    """Forum storage; open with ``await store.open()``, close with ``await store.close()``.

    ``path`` is a SQLite file, or a ``postgresql://`` URL for a PostgreSQL database.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "NORMAL",
        clock: Clock = utc_now,
        readers: int = 2,
    ) -> None:
        self.path: Path | str = path if is_postgres(path) else Path(path)
        self._engine = engine_for(path, synchronous=synchronous)
        self._clock = clock
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="forum-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="forum-reader")
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_connection: sqlite3.Connection | None = None
        self._pending: queue.SimpleQueue = queue.SimpleQueue()  # writes waiting for the writer thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_event: EventSink | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def engine(self) -> str:
        return self._engine.name

    def _open_writer(self) -> None:
        self._write_connection = self._engine.open_writer()

    async def open(self) -> "ForumStore":
        self._loop = asyncio.get_running_loop()
        await self._loop.run_in_executor(self._writer, self._open_writer)
        return self

    def _close_connections(self) -> None:
        with self._lock:
            for conn in self._reader_connections:
                conn.close()
            self._reader_connections.clear()
        if self._write_connection is not None:
            self._write_connection.close()
            self._write_connection = None

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, lambda: None)  # let queued writes finish
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        await loop.run_in_executor(None, self._close_connections)

    async def __aenter__(self) -> "ForumStore":
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._engine.connect(read_only=True)
            self._local.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    def _read_now(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(self._reader(), *args)
        except self._engine.connection_errors:  # the server went away (a restart): a new connection, once
            self._drop_reader()
            return fn(self._reader(), *args)

    def _drop_reader(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._reader_connections:
                    self._reader_connections.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_now, fn, *args)

    async def _write(self, fn: Callable[..., tuple[T, list[Event]]], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on the writer; it returns (result, events) and is committed before this returns."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.put((fn, args, future, loop))
        self._writer.submit(self._commit_pending)  # one per write: a later one finds its write already committed
        return await future

    def _commit_pending(self) -> None:
        """Group commit: every write waiting now, in one transaction, each in its own savepoint.

        A write that fails rolls back to its savepoint alone; the others commit together, with one flush to disk,
        and only then are their callers answered and their events published, in commit order.
        """
        batch = []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._pending.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        conn = self._write_connection
        outcomes: list[tuple[Any, BaseException | None, list[Event]]] = []
        try:
            if conn is None:
                raise StoreError("the forum store is not open")
            try:
                self._engine.start_batch(conn)
            except self._engine.connection_errors:  # the server went away (a restart): a new connection, once
                with contextlib.suppress(Exception):
                    conn.close()
                self._write_connection = conn = self._engine.open_writer()
                self._engine.start_batch(conn)
            for position, (fn, args, _, _) in enumerate(batch):
                if position:
                    self._engine.next_write(conn)
                try:
                    result, events = fn(conn, *args)
                except Exception as exc:  # this write's own failure (a conflict, an unknown thread): the rest go on
                    self._engine.undo_write(conn)
                    outcomes.append((None, exc, []))
                    continue
                outcomes.append((result, None, events))
            self._engine.commit_batch(conn)
        except BaseException as exc:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
            for _, _, future, loop in batch:  # nothing of the batch was committed
                loop.call_soon_threadsafe(_settle, future, None, exc)
            return
        sink = self.on_event
        for (_, _, future, loop), (result, error, events) in zip(batch, outcomes):
            if sink is not None:
                for event in events:  # call_soon_threadsafe keeps commit order
                    loop.call_soon_threadsafe(sink, event)
            loop.call_soon_threadsafe(_settle, future, result, error)

    # -- accounts ----------------------------------------------------------------------------

    def _insert_account(self, conn: sqlite3.Connection, handle: str, display_name: str, token: str | None,
                        now: str) -> Account:
        try:
            account_id = conn.execute(
                "INSERT INTO accounts (handle, display_name, created_at, token_hash) VALUES (?, ?, ?, ?) RETURNING id",
                (handle, display_name, now, hash_token(token) if token else None),
            ).fetchone()[0]
        except self._engine.integrity_errors:
            raise Conflict(f"handle: '{handle}' is taken; choose another handle") from None
        return Account(id=account_id, handle=handle, display_name=display_name, created_at=now)

    async def create_account(self, handle: str, display_name: str) -> tuple[Account, str]:
        """A new account and its bearer token (shown once; only its hash is stored)."""
        token = new_token()

        def write(conn: sqlite3.Connection) -> tuple[Account, list[Event]]:
            return self._insert_account(conn, handle, display_name, token, self._clock()), []

        return await self._write(write), token

    async def create_synthetic_account(
        self, handle: str, display_name: str, persona: str, run_id: str, generator: str, created_at: str | None = None,
        *, campaign_id: str | None = None, role: str | None = None,
    ) -> tuple[Account, str, bool]:
        """Create a bot account with its ground truth, or reuse (and re-key) an existing bot account.

        ``created_at`` dates a new account in a swarm's simulated time (before its first post), not the wall clock;
        ``campaign_id`` and ``role`` say which campaign the account serves, and how (ground truth only).
        """
        token = new_token()

        def write(conn: sqlite3.Connection) -> tuple[tuple[Account, bool], list[Event]]:
            now = created_at or self._clock()
            row = conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS}, g.account_id FROM accounts a "
                "LEFT JOIN gt_accounts g ON g.account_id = a.id WHERE a.handle = ?",
                (handle,),
            ).fetchone()
            if row is not None:
                if row[4] is None:
                    raise Conflict(f"handle: '{handle}' belongs to a person's account; choose another handle")
                conn.execute("UPDATE accounts SET token_hash = ? WHERE id = ?", (hash_token(token), row[0]))
                conn.execute(
                    "UPDATE gt_accounts SET persona = ?, run_id = ?, generator = ?, campaign_id = ?, role = ? "
                    "WHERE account_id = ?",
                    (persona, run_id, generator, campaign_id, role, row[0]),
                )
                return (_account(row), True), []
            account = self._insert_account(conn, handle, display_name, token, now)
            conn.execute(
                "INSERT INTO gt_accounts (account_id, persona, run_id, generator, created_at, campaign_id, role) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (account.id, persona, run_id, generator, now, campaign_id, role),
            )
            return (account, False), []

        account, reused = await self._write(write)
        return account, token, reused

    async def account_for_token(self, token: str) -> Account | None:
        def read(conn: sqlite3.Connection) -> Account | None:
            row = conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.token_hash = ?", (hash_token(token),)
            ).fetchone()
            return _account(row) if row else None

        return await self._read(read)

    async def is_synthetic(self, account_id: int) -> bool:
        """Whether the admin made this account as a bot (read only to authorise simulated time, never shown)."""
        def read(conn: sqlite3.Connection) -> bool:
            return conn.execute("SELECT 1 FROM gt_accounts WHERE account_id = ?", (account_id,)).fetchone() is not None

        return await self._read(read)

    # -- threads and posts ---------------------------------------------------------------

    @staticmethod
    def _get_thread(conn: sqlite3.Connection, thread_id: int) -> Thread:
        row = conn.execute(f"{_THREAD_SELECT} WHERE t.id = ?", (thread_id,)).fetchone()
        if row is None:
            raise NotFound(f"thread {thread_id} does not exist")
        return _thread(row)

    @staticmethod
    def _get_post(conn: sqlite3.Connection, post_id: int) -> Post:
        row = conn.execute(f"{_POST_SELECT} WHERE p.id = ?", (post_id,)).fetchone()
        if row is None:
            raise NotFound(f"post {post_id} does not exist")
        return _post(row)

    def _insert_post(
        self,
        conn: sqlite3.Connection,
        thread_id: int,
        author_id: int,
        parent_id: int | None,
        body: str,
        created_at: str,
        search_text: str,
        idempotency_key: str | None = None,
        external_id: str | None = None,
    ) -> int:
        return self._engine.insert_post(
            conn, (thread_id, author_id, parent_id, body, created_at, idempotency_key, external_id), search_text)

    def _record_event(self, conn: sqlite3.Connection, kind: str, thread_id: int, post_id: int, now: str) -> Event:
        seq = self._engine.insert_event(conn, kind, thread_id, post_id, now)
        thread, post = self._thread_and_post(conn, thread_id, post_id)
        return Event(seq=seq, type=kind, created_at=now, thread=thread, post=post)

    @staticmethod
    def _thread_and_post(conn: sqlite3.Connection, thread_id: int, post_id: int) -> tuple[Thread, Post]:
        """A post and its thread in one query (a round trip fewer on PostgreSQL)."""
        row = conn.execute(
            f"SELECT * FROM ({_THREAD_SELECT} WHERE t.id = ?) AS thread, ({_POST_SELECT} WHERE p.id = ?) AS post",
            (thread_id, post_id)).fetchone()
        if row is None:
            raise NotFound(f"post {post_id} of thread {thread_id} does not exist")
        return _thread(row), _post(row[10:])

    @staticmethod
    def _existing_post_id(conn: sqlite3.Connection, author_id: int, idempotency_key: str | None) -> int | None:
        if idempotency_key is None:
            return None
        row = conn.execute(
            "SELECT id FROM posts WHERE author_id = ? AND idempotency_key = ?", (author_id, idempotency_key)
        ).fetchone()
        return row[0] if row else None

    async def create_thread(
        self, author: Account, title: str, body: str, tags: Iterable[str] = (), idempotency_key: str | None = None,
        at: str | None = None,
    ) -> tuple[Thread, Post, bool]:
        """Open a thread with its first post. Returns (thread, post, created); a repeated key returns the original.

        ``at`` is a simulated time (a swarm on a simulated clock) used instead of the store's clock.
        """
        tags_json = json.dumps(list(tags))

        def write(conn: sqlite3.Connection) -> tuple[tuple[Thread, Post, bool], list[Event]]:
            existing = self._existing_post_id(conn, author.id, idempotency_key)
            if existing is not None:
                post = self._get_post(conn, existing)
                first = conn.execute("SELECT min(id) FROM posts WHERE thread_id = ?", (post.thread_id,)).fetchone()[0]
                if first != post.id:
                    raise Conflict("Idempotency-Key: already used for a reply, not a new thread; use a fresh key")
                return (self._get_thread(conn, post.thread_id), post, False), []
            now = at or self._clock()
            thread_id = conn.execute(
                "INSERT INTO threads (title, author_id, created_at, last_activity_at, tags) VALUES (?, ?, ?, ?, ?) "
                "RETURNING id",
                (title, author.id, now, now, tags_json),
            ).fetchone()[0]
            post_id = self._insert_post(conn, thread_id, author.id, None, body, now, f"{title}\n{body}", idempotency_key)
            event = self._record_event(conn, THREAD_CREATED, thread_id, post_id, now)
            return (event.thread, event.post, True), [event]

        return await self._write(write)

    async def create_post(
        self,
        author: Account,
        thread_id: int,
        body: str,
        parent_id: int | None = None,
        idempotency_key: str | None = None,
        at: str | None = None,
    ) -> tuple[Post, bool]:
        """Reply to a thread (or to one of its posts). Returns (post, created); ``at`` as in create_thread."""

        def write(conn: sqlite3.Connection) -> tuple[tuple[Post, bool], list[Event]]:
            existing, thread_exists, parent_thread = conn.execute(  # one query for the three checks: a round trip
                "SELECT (SELECT id FROM posts WHERE author_id = ? AND idempotency_key = ?), "
                "(SELECT 1 FROM threads WHERE id = ?), (SELECT thread_id FROM posts WHERE id = ?)",
                (author.id, idempotency_key, thread_id, parent_id)).fetchone()
            if existing is not None:
                return (self._get_post(conn, existing), False), []
            if thread_exists is None:
                raise NotFound(f"thread {thread_id} does not exist")
            if parent_id is not None:
                if parent_thread is None:
                    raise NotFound(f"parent_id: post {parent_id} does not exist")
                if parent_thread != thread_id:
                    raise InvalidInput("parent_id", f"post {parent_id} belongs to thread {parent_thread}, not {thread_id}")
            now = at or self._clock()
            post_id = self._insert_post(conn, thread_id, author.id, parent_id, body, now, body, idempotency_key)
            event = self._record_event(conn, POST_CREATED, thread_id, post_id, now)
            return (event.post, True), [event]

        return await self._write(write)

    async def get_thread(self, thread_id: int) -> tuple[Thread, list[Post]]:
        def read(conn: sqlite3.Connection) -> tuple[Thread, list[Post]]:
            thread = self._get_thread(conn, thread_id)
            rows = conn.execute(f"{_POST_SELECT} WHERE p.thread_id = ? ORDER BY p.created_at, p.id", (thread_id,))
            return thread, [_post(r) for r in rows]

        return await self._read(read)

    async def get_post(self, post_id: int) -> Post:
        return await self._read(self._get_post, post_id)

    async def list_threads(self, limit: int, offset: int = 0) -> tuple[list[Thread], int]:
        """Threads by newest activity first, and how many there are in all."""

        def read(conn: sqlite3.Connection) -> tuple[list[Thread], int]:
            rows = conn.execute(
                f"{_THREAD_SELECT} ORDER BY t.last_activity_at DESC, t.id DESC LIMIT ? OFFSET ?", (limit, offset)
            )
            total = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
            return [_thread(r) for r in rows], total

        return await self._read(read)

    async def search_threads(self, text: str, limit: int) -> list[tuple[Thread, float]]:
        """Threads whose title or posts contain every word of ``text``, best match first (SQLite: BM25;
        PostgreSQL: ts_rank; the scores of the two engines are not comparable)."""
        words = words_of(text)
        if not words:  # only punctuation: nothing can match it
            return []

        def read(conn: sqlite3.Connection) -> list[tuple[Thread, float]]:
            return [(self._get_thread(conn, thread_id), score)
                    for thread_id, score in self._engine.search(conn, words, limit)]

        return await self._read(read)

    # -- events ------------------------------------------------------------------------------

    async def latest_seq(self) -> int:
        return await self._read(lambda conn: conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    async def events_since(self, seq: int, limit: int = 500) -> list[Event]:
        """Committed events after ``seq``, oldest first: what a reconnecting subscriber missed."""

        def read(conn: sqlite3.Connection) -> list[Event]:
            rows = conn.execute(
                "SELECT seq, type, created_at, thread_id, post_id FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
            return [
                Event(seq=s, type=k, created_at=c, thread=self._get_thread(conn, t), post=self._get_post(conn, p))
                for s, k, c, t, p in rows
            ]

        return await self._read(read)

    # -- ground truth --------------------------------------------------------------------

    async def record_provenance(
        self,
        provenance: Provenance,
        *,
        post_id: int | None = None,
        account_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> int | None:
        """Record who wrote a synthetic post; by post id, or ahead of the post by (account, idempotency key).

        Returns the post id when the post exists already. Recording the same thing twice is harmless;
        recording something different for the same post is a conflict.
        """
        if post_id is None and (account_id is None or idempotency_key is None):
            raise InvalidInput("post_id", "give post_id, or account_id with idempotency_key")

        def write(conn: sqlite3.Connection) -> tuple[int | None, list[Event]]:
            target_post, target_account = post_id, account_id
            if target_post is not None:
                row = conn.execute("SELECT author_id FROM posts WHERE id = ?", (target_post,)).fetchone()
                if row is None:
                    raise NotFound(f"post_id: post {target_post} does not exist")
                target_account = row[0]
            else:
                if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (target_account,)).fetchone() is None:
                    raise NotFound(f"account_id: account {target_account} does not exist")
                target_post = self._existing_post_id(conn, target_account, idempotency_key)
            if conn.execute("SELECT 1 FROM gt_accounts WHERE account_id = ?", (target_account,)).fetchone() is None:
                raise Inconsistent("account_id", f"account {target_account} is not a synthetic account; create bots with POST /api/admin/accounts")
            values = (provenance.persona, provenance.run_id, provenance.generator, provenance.action, provenance.score,
                      json.dumps(provenance.extra, sort_keys=True), provenance.campaign_id, provenance.role)
            existing = conn.execute(
                "SELECT persona, run_id, generator, action, score, extra, campaign_id, role FROM gt_posts "
                "WHERE (post_id IS NOT NULL AND post_id = ?) OR (account_id = ? AND idempotency_key IS NOT NULL AND idempotency_key = ?)",
                (target_post, target_account, idempotency_key),
            ).fetchone()
            if existing is not None:
                if tuple(existing) != values:
                    raise Conflict("provenance for this post is already recorded with other values")
                return target_post, []
            conn.execute(
                "INSERT INTO gt_posts (post_id, account_id, idempotency_key, persona, run_id, generator, action, score, "
                "extra, campaign_id, role, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (target_post, target_account, idempotency_key, *values, self._clock()),
            )
            return target_post, []

        return await self._write(write)

    def iter_export(self) -> Iterator[dict[str, Any]]:
        """Every record of the forum with its ground truth, one dict each (blocking; run it in a thread).

        Read through the forum's read side, in one read transaction: a consistent snapshot even while the forum
        is written.
        """
        with ForumSnapshot.open(self.path) as snapshot:
            yield from snapshot.records()

    async def import_threads(self, threads: list[ImportedThread]) -> ImportStats:
        """Add threads from outside, keeping authors and timestamps; known external ids are skipped."""
        stats, _ = await self.import_with_events(threads)
        return stats

    async def import_with_events(self, threads: list[ImportedThread]) -> tuple[ImportStats, list[Event]]:
        """As import_threads, and the events of what was added (a replay reads its new posts from them)."""

        def write(conn: sqlite3.Connection, batch: list[ImportedThread]) -> tuple[tuple[ImportStats, list[Event]], list[Event]]:
            stats, events = self._import_batch(conn, batch)
            return (stats, events), events

        return await self._write(write, threads)

    async def set_meta(self, key: str, value: Any) -> None:
        """A note about the forum itself (JSON), e.g. how a replay shifted each site's times."""

        def write(conn: sqlite3.Connection) -> tuple[None, list[Event]]:
            conn.execute("INSERT INTO forum_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                         "SET value = excluded.value", (key, json.dumps(value)))
            return None, []

        await self._write(write)

    def _import_batch(self, conn: sqlite3.Connection, threads: list[ImportedThread]) -> tuple[ImportStats, list[Event]]:
        stats = ImportStats()
        events: list[Event] = []
        accounts: dict[str, int] = {}

        def account_id(external_id: str, name: str | None, first_seen: str) -> int:
            """The author's account; an imported person's account dates from their earliest post, never later."""
            if external_id not in accounts:
                row = conn.execute("SELECT id FROM accounts WHERE external_id = ?", (external_id,)).fetchone()
                if row is None:
                    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in (name or external_id))[:32] or "user"
                    handle, n = base, 1
                    while conn.execute("SELECT 1 FROM accounts WHERE handle = ?", (handle,)).fetchone():
                        n += 1
                        handle = f"{base}_{n}"
                    row = conn.execute(
                        "INSERT INTO accounts (handle, display_name, created_at, external_id) VALUES (?, ?, ?, ?) "
                        "RETURNING id",
                        (handle, name or handle, first_seen, external_id),
                    ).fetchone()
                    stats.accounts_added += 1
                accounts[external_id] = row[0]
            conn.execute("UPDATE accounts SET created_at = ? WHERE id = ? AND created_at > ?",
                         (first_seen, accounts[external_id], first_seen))
            return accounts[external_id]

        for thread in threads:
            row = conn.execute("SELECT id FROM threads WHERE external_id = ?", (thread.external_id,)).fetchone()
            opening = thread.posts[0]
            if row is None:
                thread_id = conn.execute(
                    "INSERT INTO threads (title, author_id, created_at, last_activity_at, tags, source_url, external_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (thread.title, account_id(opening.author_external_id, opening.author_name, opening.created_at),
                     opening.created_at,
                     opening.created_at, json.dumps(list(thread.tags)), thread.source_url, thread.external_id),
                ).fetchone()[0]
                stats.threads_added += 1
            else:
                thread_id = row[0]
                stats.threads_skipped += 1
            known = dict(conn.execute("SELECT external_id, id FROM posts WHERE thread_id = ? AND external_id IS NOT NULL", (thread_id,)))
            for index, post in enumerate(thread.posts):
                if post.external_id in known:
                    stats.posts_skipped += 1
                    continue
                if conn.execute("SELECT 1 FROM posts WHERE external_id = ?", (post.external_id,)).fetchone():
                    raise Inconsistent("post_id", f"post '{post.external_id}' already belongs to another thread")
                parent = known.get(post.parent_external_id) if post.parent_external_id else None
                if post.parent_external_id and parent is None:
                    raise Inconsistent("parent_id", f"post '{post.external_id}' replies to '{post.parent_external_id}', which comes later or is not in thread '{thread.external_id}'")
                is_opening = index == 0 and row is None
                text = f"{thread.title}\n{post.body}" if is_opening else post.body
                post_id = self._insert_post(conn, thread_id,
                                            account_id(post.author_external_id, post.author_name, post.created_at),
                                            parent, post.body, post.created_at, text, external_id=post.external_id)
                known[post.external_id] = post_id
                stats.posts_added += 1
                kind = THREAD_CREATED if is_opening else POST_CREATED
                events.append(self._record_event(conn, kind, thread_id, post_id, post.created_at))
        return stats, events
