"""ForumSnapshot, the forum's read side, on a real SQLite file or PostgreSQL database written by the real store."""

from __future__ import annotations

import sqlite3

import pytest

from conversations.errors import NotAForum
from conversations.snapshot import ForumSnapshot
from conversations.store import ForumStore


async def test_threads_posts_and_sequence_read_back_as_written(database):
    db = database
    async with ForumStore(db) as store:
        alice, _ = await store.create_account("alice", "Alice")
        first, _, _ = await store.create_thread(alice, "espresso too sour", "my shots taste sour")
        second, _, _ = await store.create_thread(alice, "rye crumb", "dense crumb")
        for n in range(3):
            await store.create_post(alice, first.id, f"reply {n}")
    with ForumSnapshot.open(db) as forum:
        assert forum.thread_count() == 2 and forum.thread_ids() == [first.id, second.id]
        assert forum.titles([second.id, 999]) == {second.id: "rye crumb"}
        assert forum.thread_text(first.id, 3) == ("espresso too sour", ["my shots taste sour", "reply 0", "reply 1"])
        assert forum.thread_text(999, 3) is None
        assert [t for t, _ in forum.newest_threads(2)] == [first.id, second.id]  # the replies made it the liveliest
        assert forum.thread_sites() == {first.id: None, second.id: None}  # the forum's own threads have no site
        assert forum.latest_seq() >= 5  # two threads, three posts, each an event
        assert forum.synthetic_counts() == (0, 0)
        header, rows = forum.export_rows("posts")
        assert header[0] == "post_id" and len(list(rows)) == 5


async def test_a_snapshot_is_one_moment_while_the_forum_writes(database):
    db = database
    async with ForumStore(db) as store:
        alice, _ = await store.create_account("alice", "Alice")
        thread, _, _ = await store.create_thread(alice, "before", "body")
        with ForumSnapshot.open(db) as forum:
            seen = forum.thread_count()
            await store.create_thread(alice, "after", "body")
            assert forum.thread_count() == seen == 1 and forum.titles([thread.id + 1]) == {}
        with ForumSnapshot.open(db) as forum:
            assert forum.thread_count() == 2


def test_what_is_not_a_forum_is_refused_with_the_fix(tmp_path):
    with pytest.raises(NotAForum, match="no forum database here.*--db"):
        ForumSnapshot.open(tmp_path / "missing.db")
    (tmp_path / "text.db").write_text("not a database at all, just text" * 100)
    with pytest.raises(NotAForum, match="not a murmur forum database"):
        ForumSnapshot.open(tmp_path / "text.db")
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(NotAForum, match="no table accounts"):
        ForumSnapshot.open(tmp_path / "other.db")
