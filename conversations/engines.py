"""The forum's two storage engines, SQLite (the default, one file) and PostgreSQL (a server), behind one face.

The store writes one SQL for both: ``?`` placeholders, ``RETURNING``, ``ON CONFLICT``. What differs lives here:
connecting, migrating, opening a write transaction, numbering events without gaps, full-text search, and which
exception means "that row exists already". PostgreSQL connections translate ``?`` to ``%s`` and keep handles
case-insensitive the way SQLite's ``COLLATE NOCASE`` does.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conversations.errors import StoreError
from conversations.schema import migrate_postgres, migrate_sqlite

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
EVENTS_LOCK = 0x6D75726D  # "murm": PostgreSQL writers take it, so events are numbered in commit order, without gaps


def is_postgres(database: str | Path) -> bool:
    return isinstance(database, str) and database.startswith(POSTGRES_SCHEMES)


def engine_for(database: str | Path, *, synchronous: str = "NORMAL") -> Engine:
    """SQLite for a file path, PostgreSQL for a ``postgresql://`` URL."""
    if is_postgres(database):
        return PostgresEngine(str(database))
    return SqliteEngine(Path(database), synchronous)


def shown(database: str | Path) -> str:
    """A database as messages and manifests may show it: a URL without its password."""
    if not is_postgres(database):
        return str(database)
    hidden = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", database)  # user:password@ (the user may be empty)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", hidden)  # ?password=... in the query


def words_of(text: str) -> list[str]:
    """The words of a search, letters and digits only: user input never becomes query syntax."""
    return [t for t in "".join(c if c.isalnum() else " " for c in text).split() if t]


INSERT_POST = ("INSERT INTO posts (thread_id, author_id, parent_id, body, created_at, idempotency_key, external_id) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)")
UPDATE_THREAD = ("UPDATE threads SET post_count = post_count + 1, "
                 "last_activity_at = CASE WHEN last_activity_at > ? THEN last_activity_at ELSE ? END WHERE id = ?")
LINK_PROVENANCE = "UPDATE gt_posts SET post_id = ? WHERE account_id = ? AND idempotency_key = ? AND post_id IS NULL"


class Engine:
    name: str
    integrity_errors: tuple[type[BaseException], ...]
    connection_errors: tuple[type[BaseException], ...] = ()  # the server went away: reconnect and try once more
    database: str

    def connect(self, *, read_only: bool = False) -> Any:
        raise NotImplementedError

    def open_writer(self) -> Any:
        """A connection for the one writer, with the schema brought to SCHEMA_VERSION."""
        raise NotImplementedError

    # A batch of writes is one transaction and each write one savepoint in it (group commit). The four steps are
    # the engine's so PostgreSQL can send each as one round trip, where SQLite takes one call per statement.

    def start_batch(self, conn: Any) -> None:
        """Open the batch's transaction and the first write's savepoint."""
        raise NotImplementedError

    def next_write(self, conn: Any) -> None:
        """Keep the last write (release its savepoint) and open the next one's."""
        self.execute_all(conn, "RELEASE SAVEPOINT one_write", "SAVEPOINT one_write")

    def undo_write(self, conn: Any) -> None:
        """Roll the current write back to its savepoint; the batch goes on."""
        conn.execute("ROLLBACK TO SAVEPOINT one_write")

    def commit_batch(self, conn: Any) -> None:
        self.execute_all(conn, "RELEASE SAVEPOINT one_write", "COMMIT")

    def execute_all(self, conn: Any, *statements: str) -> None:
        for statement in statements:
            conn.execute(statement)

    def insert_post(self, conn: Any, post: Sequence[Any], search_text: str) -> int:
        """Insert a post (thread_id, author_id, parent_id, body, created_at, idempotency_key, external_id), its
        search text, its thread's count and activity, and its link to provenance recorded ahead; the post's id."""
        thread_id, author_id, _, _, created_at, idempotency_key, _ = post
        post_id = conn.execute(f"{INSERT_POST} RETURNING id", tuple(post)).fetchone()[0]
        self.index_text(conn, post_id, thread_id, search_text)
        conn.execute(UPDATE_THREAD, (created_at, created_at, thread_id))
        if idempotency_key is not None:
            conn.execute(LINK_PROVENANCE, (post_id, author_id, idempotency_key))
        return post_id

    def insert_event(self, conn: Any, kind: str, thread_id: int, post_id: int, now: str) -> int:
        raise NotImplementedError

    def index_text(self, conn: Any, post_id: int, thread_id: int, text: str) -> None:
        raise NotImplementedError

    def search(self, conn: Any, words: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """(thread id, score: higher is better) of the threads whose posts hold every word, best first."""
        raise NotImplementedError


class SqliteEngine(Engine):
    name = "sqlite"
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: Path, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.database = str(path)
        self.synchronous = synchronous

    def connect(self, *, read_only: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def open_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self.connect()
            migrate_sqlite(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable forum database ({exc}); pick another --db") from None
        return conn

    def start_batch(self, conn: sqlite3.Connection) -> None:
        # the one writer: serialised, so events number in commit order
        self.execute_all(conn, "BEGIN IMMEDIATE", "SAVEPOINT one_write")

    def insert_event(self, conn: sqlite3.Connection, kind: str, thread_id: int, post_id: int, now: str) -> int:
        return conn.execute("INSERT INTO events (type, thread_id, post_id, created_at) VALUES (?, ?, ?, ?) RETURNING seq",
                            (kind, thread_id, post_id, now)).fetchone()[0]

    def index_text(self, conn: sqlite3.Connection, post_id: int, thread_id: int, text: str) -> None:
        conn.execute("INSERT INTO post_search (rowid, text, thread_id) VALUES (?, ?, ?)", (post_id, text, thread_id))

    def search(self, conn: sqlite3.Connection, words: Sequence[str], limit: int) -> list[tuple[int, float]]:
        best: dict[int, float] = {}  # posts come best first (BM25); a thread ranks by its best post
        query = " ".join(f'"{w}"' for w in words)
        for thread_id, rank in conn.execute(
                "SELECT thread_id, rank FROM post_search WHERE post_search MATCH ? ORDER BY rank", (query,)):
            best.setdefault(thread_id, -rank)
            if len(best) >= limit:
                break
        return list(best.items())


# -- PostgreSQL ----------------------------------------------------------------------------------------------

_HANDLE = re.compile(r"\b(WHERE|AND) ((?:a\.)?handle) = \?")


def postgres_sql(sql: str) -> str:
    """The store's SQL as PostgreSQL reads it: ``%s`` placeholders, and handles compared without case."""
    sql = _HANDLE.sub(r"\1 lower(\2) = lower(?)", sql)
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection:
    """A psycopg connection that takes the store's SQL (``?`` placeholders) and answers as sqlite3 does."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
            return self.raw.execute(sql)
        return self.raw.execute(postgres_sql(sql), tuple(params))

    def close(self) -> None:
        self.raw.close()


class PostgresEngine(Engine):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("forum database is a PostgreSQL URL, but psycopg is not installed; "
                             "run `make setup` (or pip install 'psycopg[binary]')") from None
        self._psycopg = psycopg
        self.database = url
        self.integrity_errors = (psycopg.errors.IntegrityError,)
        self.connection_errors = (psycopg.OperationalError,)

    def redacted(self) -> str:
        """The URL without its password, for messages."""
        return shown(self.database)

    def connect(self, *, read_only: bool = False) -> PostgresConnection:
        try:
            conn = self._psycopg.connect(self.database, autocommit=True)
        except self._psycopg.OperationalError as exc:
            raise StoreError(f"{self.redacted()}: cannot reach PostgreSQL ({' '.join(str(exc).split())}); "
                             "check the URL and that the server runs") from None
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
        return PostgresConnection(conn)

    def open_writer(self) -> PostgresConnection:
        conn = self.connect()
        conn.raw.execute("SET lock_timeout = '30s'")  # a writer stuck in another process fails a write, never hangs
        try:
            migrate_postgres(conn.raw)
        except self._psycopg.Error as exc:
            conn.close()
            raise StoreError(f"{self.redacted()}: not a usable forum database ({' '.join(str(exc).split())}); "
                             "give an empty database or one murmur made") from None
        except BaseException:
            conn.close()
            raise
        return conn

    def start_batch(self, conn: PostgresConnection) -> None:
        if conn.raw.closed or conn.raw.broken:
            raise self._psycopg.OperationalError("the connection to PostgreSQL was lost")
        # the advisory lock: writers of every process, one at a time
        self.execute_all(conn, "BEGIN", f"SELECT pg_advisory_xact_lock({EVENTS_LOCK})", "SAVEPOINT one_write")

    def execute_all(self, conn: PostgresConnection, *statements: str) -> None:
        conn.raw.execute("; ".join(statements))  # no parameters: one round trip (the simple query protocol)

    def insert_post(self, conn: PostgresConnection, post: Sequence[Any], search_text: str) -> int:
        # one statement, one round trip: PostgreSQL's data-modifying WITH does the four writes of the base class
        thread_id, author_id, _, _, created_at, idempotency_key, _ = post
        return conn.execute(
            f"WITH new AS ({INSERT_POST} RETURNING id, thread_id), "
            "searched AS (INSERT INTO post_search (post_id, thread_id, words) "
            "  SELECT id, thread_id, to_tsvector('english', ?) FROM new), "
            f"counted AS ({UPDATE_THREAD}), "
            "linked AS (UPDATE gt_posts SET post_id = (SELECT id FROM new) "
            "  WHERE account_id = ? AND idempotency_key = ? AND post_id IS NULL) "
            "SELECT id FROM new",
            (*post, search_text, created_at, created_at, thread_id, author_id, idempotency_key)).fetchone()[0]

    def insert_event(self, conn: PostgresConnection, kind: str, thread_id: int, post_id: int, now: str) -> int:
        # under the writers' lock: max + 1 never skips a number, as a sequence would after a rollback
        return conn.execute(
            "INSERT INTO events (seq, type, thread_id, post_id, created_at) "
            "SELECT coalesce(max(seq), 0) + 1, ?, ?, ?, ? FROM events RETURNING seq",
            (kind, thread_id, post_id, now)).fetchone()[0]

    def index_text(self, conn: PostgresConnection, post_id: int, thread_id: int, text: str) -> None:
        conn.execute("INSERT INTO post_search (post_id, thread_id, words) VALUES (?, ?, to_tsvector('english', ?))",
                     (post_id, thread_id, text))

    def search(self, conn: PostgresConnection, words: Sequence[str], limit: int) -> list[tuple[int, float]]:
        rows = conn.execute(
            "SELECT thread_id, max(ts_rank(words, query)) AS score "
            "FROM post_search, plainto_tsquery('english', ?) AS query WHERE words @@ query "
            "GROUP BY thread_id ORDER BY score DESC, thread_id LIMIT ?", (" ".join(words), limit)).fetchall()
        return [(thread_id, float(score)) for thread_id, score in rows]
