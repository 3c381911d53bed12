"""The guarantees each storage engine must keep, checked on both: SQLite files and a real PostgreSQL server.

Two stores on one database stand for two forum processes (PostgreSQL lets several servers share one database).
"""

from __future__ import annotations

import asyncio

import pytest

from conversations.engines import engine_for, is_postgres, postgres_sql, shown
from conversations.schema import SCHEMA_VERSION
from conversations.errors import Conflict, NotFound, StoreError
from conversations.models import Provenance
from conversations.snapshot import ForumSnapshot
from conversations.store import ForumStore
from detection.export import export_forum
from murmur.config import parse_settings
from murmur.loading import import_path
from conversations.importers import SEED_THREADS
from tests.conftest import table_counts


async def test_failed_writes_roll_back_and_events_stay_gapless(database):
    async with ForumStore(database) as store:
        alice, _ = await store.create_account("alice", "Alice")
        thread, _, _ = await store.create_thread(alice, "t", "b")
        with pytest.raises(NotFound):
            await store.create_post(alice, thread.id, "x", parent_id=12345)
        with pytest.raises(Conflict):
            await store.create_account("ALICE", "a handle differs from another only in case")
        await store.create_post(alice, thread.id, "after the failures")
        _, posts = await store.get_thread(thread.id)
        assert [p.body for p in posts] == ["b", "after the failures"]
        assert [e.seq for e in await store.events_since(0)] == [1, 2]


async def test_writers_of_two_processes_number_events_in_commit_order_without_gaps(postgres_server):
    """PostgreSQL only: a SQLite file has one writing process, the forum's own."""
    database = postgres_server.new_database()
    first, second = ForumStore(database), ForumStore(database)
    await first.open()
    await second.open()
    try:
        people = [await first.create_account(f"p{n}", f"P{n}") for n in range(6)]
        thread, _, _ = await first.create_thread(people[0][0], "busy", "opening")

        async def write(store: ForumStore, account, n: int) -> None:
            for i in range(15):
                await store.create_post(account, thread.id, f"{n}-{i}", idempotency_key=f"{n}-{i}")
                if i % 5 == 0:  # a failed write in between burns nothing
                    with pytest.raises(NotFound):
                        await store.create_post(account, thread.id, "x", parent_id=10**9)

        await asyncio.gather(*(write(first if n % 2 else second, account, n) for n, (account, _) in enumerate(people)))
        events = await second.events_since(0, limit=1000)
        assert [e.seq for e in events] == list(range(1, 1 + 1 + 6 * 15))
        assert [e.post.id for e in events] == sorted(e.post.id for e in events)  # commit order is post order
        assert len({e.post.id for e in events}) == len(events)
    finally:
        await first.close()
        await second.close()


async def test_provenance_is_linked_in_the_posts_own_transaction_and_search_finds_posts(database):
    async with ForumStore(database) as store:
        bot, _, _ = await store.create_synthetic_account("bot-1", "Bot", "espresso-nerd", "run-1", "bank")
        person, _ = await store.create_account("person", "Person")
        thread, _, _ = await store.create_thread(person, "Sour espresso shots", "my shots taste sour and thin")
        await store.record_provenance(Provenance("espresso-nerd", "run-1", "bank", "answer", 0.7, {}),
                                      account_id=bot.id, idempotency_key="k-1")
        post, created = await store.create_post(bot, thread.id, "grind finer and pull longer", idempotency_key="k-1")
        again, created_again = await store.create_post(bot, thread.id, "grind finer and pull longer", idempotency_key="k-1")
        assert created and not created_again and again.id == post.id
        found = await store.search_threads("sour shots", 5)
        assert [t.id for t, score in found] == [thread.id] and found[0][1] > 0
        assert await store.search_threads("nothing like this here", 5) == []
    with ForumSnapshot.open(database) as forum:
        assert forum.synthetic_counts() == (1, 1)


async def test_import_export_and_a_newer_schema_on_each_engine(tmp_path, database):
    settings = parse_settings({})
    stats = await import_path(SEED_THREADS, database, settings, quiet=True)
    again = await import_path(SEED_THREADS, database, settings, quiet=True)
    assert stats.threads_added > 10 and again.threads_added == 0 and again.threads_skipped == stats.threads_added
    manifest = export_forum(database, tmp_path / "dataset")
    assert manifest.counts["threads"] == stats.threads_added and manifest.counts["posts"] == stats.posts_added
    assert table_counts(database, ("threads",)) == (stats.threads_added,)
    conn = engine_for(database).connect()
    try:
        if is_postgres(database):
            conn.execute("UPDATE schema_version SET version = version + 1")
        else:
            conn.execute("PRAGMA user_version = 99")
    finally:
        conn.close()
    with pytest.raises(StoreError, match="newer than this murmur"):
        await ForumStore(database).open()


def test_a_postgres_password_never_shows():
    assert shown("postgresql://murmur:s3cret@db.example/forum") == "postgresql://murmur:***@db.example/forum"
    assert shown("postgresql://:s3cret@db.example/forum") == "postgresql://:***@db.example/forum"
    assert shown("postgresql://murmur@db.example/forum?password=s3cret&sslmode=require") == (
        "postgresql://murmur@db.example/forum?password=***&sslmode=require")
    assert shown("postgresql://murmur@db.example/forum") == "postgresql://murmur@db.example/forum"


def test_handles_are_compared_without_case_only_where_they_are_looked_up():
    assert postgres_sql("UPDATE accounts SET handle = ? WHERE a.handle = ? AND handle = ?") == (
        "UPDATE accounts SET handle = %s WHERE lower(a.handle) = lower(%s) AND lower(handle) = lower(%s)")
    assert postgres_sql("SELECT 1 WHERE body LIKE '%x'") == "SELECT 1 WHERE body LIKE '%%x'"


async def test_two_servers_starting_on_an_empty_database_migrate_once(postgres_server):
    database = postgres_server.new_database()
    stores = [ForumStore(database) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        conn = engine_for(database).connect(read_only=True)
        try:
            assert [tuple(r) for r in conn.execute("SELECT version FROM schema_version")] == [(SCHEMA_VERSION,)]
        finally:
            conn.close()
    finally:
        for store in stores:
            await store.close()


async def test_a_postgres_restart_costs_the_forum_nothing_but_a_reconnect(postgres_server):
    """Every connection the forum holds is cut (as a server restart would); the next write and read reconnect."""
    database = postgres_server.new_database()
    async with ForumStore(database) as store:
        alice, _ = await store.create_account("alice", "Alice")
        thread, _, _ = await store.create_thread(alice, "before", "body")
        await store.get_thread(thread.id)
        admin = engine_for(postgres_server.url()).connect()
        try:
            cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = ? AND pid <> pg_backend_pid()", (database.rsplit("/", 1)[1],))
            assert cut.fetchone()[0] >= 2  # the writer and a reader
        finally:
            admin.close()
        post, _ = await store.create_post(alice, thread.id, "after the restart")
        _, posts = await store.get_thread(thread.id)
        assert [p.body for p in posts] == ["body", "after the restart"] and post.id == posts[-1].id
        assert [e.seq for e in await store.events_since(0)] == [1, 2]


async def test_an_unreachable_postgres_is_a_clear_error():
    with pytest.raises(StoreError, match="cannot reach PostgreSQL.*check the URL"):
        await ForumStore("postgresql://nobody:pw@127.0.0.1:1/none").open()


async def test_every_reader_reads_either_engine(database, embedder):
    """The index build, the swarm's evaluation and the reply library read the forum through its read side."""
    from bots.words.library import Library
    from bots.swarm.evaluation import thread_sites
    from index.build import build_from_forum
    from index.settings import IndexSettings

    stats = await import_path(SEED_THREADS, database, parse_settings({}), quiet=True)
    index = build_from_forum(database, IndexSettings(), embedder)
    assert len(index) == stats.threads_added and index.last_seq == stats.posts_added  # one event per post
    sites = thread_sites(database)
    assert len(sites) == stats.threads_added
    library = Library.from_forum(embedder, database)
    assert len(library.threads) == stats.threads_added


async def test_writes_committed_together_fail_alone(database):
    """Group commit: writes that wait together share a transaction, but a failing one rolls back alone."""
    async with ForumStore(database) as store:
        alice, _ = await store.create_account("alice", "Alice")
        thread, _, _ = await store.create_thread(alice, "t", "b")
        outcomes = await asyncio.gather(*(
            store.create_post(alice, thread.id, f"post {n}", parent_id=10**9 if n == 7 else None)
            for n in range(20)), return_exceptions=True)
        failed = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, BaseException)]
        assert failed == [7] and isinstance(outcomes[7], NotFound)
        _, posts = await store.get_thread(thread.id)
        assert [p.body for p in posts[1:]] == [f"post {n}" for n in range(20) if n != 7]
        assert [e.seq for e in await store.events_since(0)] == list(range(1, 21))
