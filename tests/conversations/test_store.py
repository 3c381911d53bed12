"""ForumStore on a real SQLite file: schema versioning, WAL, refusal of unusable files."""

from __future__ import annotations

import sqlite3

import pytest

from conversations.errors import StoreError
from conversations.schema import SCHEMA_VERSION
from conversations.store import ForumStore


async def test_new_database_gets_schema_version_and_wal(tmp_path):
    db = tmp_path / "sub" / "forum.db"
    async with ForumStore(db) as store:
        account, token = await store.create_account("alice", "Alice")
        assert await store.account_for_token(token) == account
        assert await store.account_for_token("nope") is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # tokens are stored hashed
        assert conn.execute("SELECT token_hash FROM accounts").fetchone()[0] != token


async def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path):
    db = tmp_path / "forum.db"
    async with ForumStore(db) as store:
        account, _ = await store.create_account("alice", "Alice")
        await store.create_thread(account, "kept", "body")
    async with ForumStore(db) as store:
        threads, total = await store.list_threads(10)
        assert total == 1 and threads[0].title == "kept"


async def test_database_from_a_newer_murmur_is_refused(tmp_path):
    db = tmp_path / "forum.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this murmur"):
        await ForumStore(db).open()


async def test_a_file_that_is_not_a_database_is_refused_with_a_hint(tmp_path):
    db = tmp_path / "forum.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable forum database.*--db"):
        await ForumStore(db).open()
    assert db.read_bytes() == b"this is not sqlite" * 100  # untouched


async def test_failed_write_rolls_back_everything(tmp_path):
    async with ForumStore(tmp_path / "forum.db") as store:
        account, _ = await store.create_account("alice", "Alice")
        thread, _, _ = await store.create_thread(account, "t", "b")
        with pytest.raises(Exception):
            await store.create_post(account, thread.id, "x", parent_id=12345)
        _, posts = await store.get_thread(thread.id)
        assert len(posts) == 1 and await store.latest_seq() == 1
