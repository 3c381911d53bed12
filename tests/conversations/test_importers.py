"""Importers on real data: both Stack Exchange dumps and a sample of the forum corpus."""

from __future__ import annotations

import gzip
import json
import sqlite3

import pytest

from conversations.errors import InvalidInput
from conversations.importers import DUMPS_DIR, SEED_THREADS, import_threads, open_source
from conversations.importers.jsonl import read_files
from conversations.importers.stackexchange import html_to_text
from conversations.store import ForumStore
from tests.conftest import query, read_corpus_sample

DUMPS = DUMPS_DIR


async def _import(store, path):
    threads, _ = open_source(path)
    return await import_threads(store, threads, batch_size=25)


@pytest.mark.parametrize("site", ["askubuntu", "beer.meta"])
async def test_stack_exchange_dump_import_keeps_authors_times_and_structure(database, site):
    async with ForumStore(database) as store:
        stats = await _import(store, DUMPS / site)
        again = await _import(store, DUMPS / site)
    assert stats.threads_added > 30 and stats.posts_added > stats.threads_added
    assert again.threads_added == again.posts_added == again.accounts_added == 0
    assert again.threads_skipped == stats.threads_added and again.posts_skipped == stats.posts_added

    posts_xml = (DUMPS / site / "Posts.xml").read_text(encoding="utf-8-sig")
    questions = posts_xml.count('PostTypeId="1"')

    def one(sql: str, params: tuple = ()):
        return query(database, sql, params)[0][0]

    assert one("SELECT count(*) FROM threads") == questions
    # timestamps are the dump's, not the import's
    assert one("SELECT created_at FROM threads ORDER BY created_at LIMIT 1")[:4] in {"2010", "2014"}
    # answers reply to their question's opening post; comments to the post they were made on
    assert one("SELECT count(*) FROM posts p LEFT JOIN posts q ON q.id = p.parent_id "
               "WHERE p.parent_id IS NOT NULL AND (q.id IS NULL OR q.thread_id != p.thread_id)") == 0
    assert one("SELECT count(*) FROM posts WHERE external_id LIKE ?", (f"{site}:c%",)) > 0
    # the same person is one account across all their posts
    assert one("SELECT count(*) FROM accounts") == stats.accounts_added
    body = one("SELECT body FROM posts ORDER BY id LIMIT 1")
    assert "<p>" not in body and body.strip()


async def test_corpus_sample_and_the_dump_of_the_same_site_do_not_duplicate(tmp_path, database):
    sample = read_corpus_sample("threads.jsonl.gz", 60, every=25)
    sample += [t for t in read_corpus_sample("threads.jsonl.gz", 2000) if t["site"] == "askubuntu"][:10]
    path = tmp_path / "sample.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in sample), encoding="utf-8")
    async with ForumStore(database) as store:
        stats = await _import(store, path)
        assert stats.threads_added == len(sample)
        assert stats.posts_added == sum(len(t["posts"]) for t in sample)
        dump = await _import(store, DUMPS / "askubuntu")
        assert dump.threads_skipped == 10  # the corpus's askubuntu threads are the dump's questions
        thread, posts = await store.get_thread(1)
    first = sample[0]
    assert thread.title == first["title"] and list(thread.tags) == first["tags"]
    assert [p.body for p in posts] == [p["body"] for p in first["posts"]]
    assert posts[0].created_at.startswith(first["posts"][0]["created_at"][:19])
    assert posts[0].author.display_name == first["posts"][0]["author_name"]


async def test_seed_threads_import(database):
    async with ForumStore(database) as store:
        stats = await _import(store, SEED_THREADS)
        hits = await store.search_threads("espresso", 5)
    assert stats.threads_added >= 40 and stats.posts_added >= 200
    assert hits


@pytest.mark.parametrize("line, words", [
    ("{not json", ["bad.jsonl:2", "not valid JSON"]),
    ('{"thread_id": "x:1", "title": "t", "posts": []}', ["bad.jsonl:2.posts", "non-empty list"]),
    ('{"thread_id": "x:1", "posts": [{"post_id": "x:1", "author": "a", "created_at": "2020-01-01", "body": "b"}]}',
     ["bad.jsonl:2.title"]),
    ('{"thread_id": "x:1", "title": "t", "posts": [{"post_id": "x:1", "author": "a", "created_at": "yesterday", "body": "b"}]}',
     ["posts[0].created_at", "ISO-8601"]),
    ('{"thread_id": "x:1", "title": "t", "posts": [{"post_id": "x:1", "author": "a", "created_at": "2020-01-01", "body": "b"},'
     ' {"post_id": "x:2", "author": "a", "created_at": "2020-01-02", "body": "b", "parent_id": "x:9"}]}',
     ["parent_id", "x:9"]),
])
async def test_bad_jsonl_names_the_line_and_field_and_writes_nothing_of_its_batch(tmp_path, database, line, words):
    good = {"thread_id": "x:0", "title": "fine", "posts": [{"post_id": "x:0", "author": "a", "created_at": "2020-01-01", "body": "b"}]}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + line + "\n", encoding="utf-8")
    async with ForumStore(database) as store:
        with pytest.raises(InvalidInput) as info:
            await _import(store, path)
        for word in words:
            assert word in str(info.value)
        assert (await store.list_threads(10))[1] == 0


async def test_gzipped_jsonl_reads_like_the_plain_file(tmp_path):
    sample = read_corpus_sample("threads.jsonl.gz", 20, every=50)
    text = "".join(json.dumps(t) + "\n" for t in sample)
    (tmp_path / "plain.jsonl").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "packed.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(text)
    rows = {}
    for name in ("plain.jsonl", "packed.jsonl.gz"):
        async with ForumStore(tmp_path / f"{name}.db") as store:
            stats = await _import(store, tmp_path / name)
        assert stats.threads_added == 20
        with sqlite3.connect(tmp_path / f"{name}.db") as conn:
            rows[name] = conn.execute("SELECT external_id, body, created_at FROM posts ORDER BY external_id").fetchall()
    assert rows["plain.jsonl"] == rows["packed.jsonl.gz"]
    threads, total = open_source(tmp_path)  # a folder of both kinds reads both
    assert total == 40


def test_a_damaged_gzip_file_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(InvalidInput, match=r"broken.jsonl.gz.*cannot be read.*\.jsonl\.gz"):
        open_source(path)
    with pytest.raises(InvalidInput, match=r"broken.jsonl.gz.*cannot be read"):
        list(read_files([path]))


def test_unknown_paths_are_explained(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        open_source(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InvalidInput, match="no Posts.xml and no .jsonl"):
        open_source(tmp_path)


def test_html_to_text_keeps_paragraphs_and_links():
    html = '<p>See <a href="https://example.org/x">the docs</a>.</p>\n<pre><code>a &lt; b</code></pre><p>Bye<br>now</p>'
    assert html_to_text(html) == "See the docs (https://example.org/x).\n\na < b\n\nBye\nnow"
