"""The index follows a live forum through its event socket, across a forum restart."""

from __future__ import annotations

import asyncio

import pytest

from conversations.appkeys import STORE
from conversations.client import ForumClient
from conversations.importers import SEED_THREADS, import_threads, open_source
from conversations.store import ForumStore
from index.build import build_from_forum
from index.follower import IndexFollower
from index.threads import ThreadIndex
from murmur.config import IndexSettings
from tests.conftest import start_forum, stop_forum


async def _wait_for(condition, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_follower_indexes_new_threads_and_catches_up_after_a_restart(tmp_path, settings, embedder):
    forum = await start_forum(tmp_path, settings)
    threads, _ = open_source(SEED_THREADS)
    await import_threads(forum.app[STORE], threads)
    index = await asyncio.to_thread(build_from_forum, forum.db, IndexSettings(), embedder)
    assert len(index) == 50 and index.last_seq == 304

    token = (await forum.anonymous.create_account("newcomer"))["token"]
    follower_client = ForumClient(forum.url)
    follower = IndexFollower(follower_client, embedder, index, save_path=tmp_path / "threads.index")
    task = asyncio.create_task(follower.run())
    try:
        author = ForumClient(forum.url, token)
        created = await author.create_thread("Rebuilding a derailleur hanger after a crash",
                                             "My rear derailleur hanger bent when the bike fell over. Can I bend it back?")
        thread_id = created["thread"]["id"]
        await _wait_for(lambda: thread_id in index)
        query = embedder.embed_one("bent derailleur hanger")
        assert index.search(query, 1)[0].thread_id == thread_id

        # replies that make up the thread's vector update it; later ones are skipped
        for i in range(6):
            await author.reply(thread_id, f"Update {i}: I tried a hanger alignment tool and it worked after some care.")
        await _wait_for(lambda: index.last_seq == 311)
        assert follower.upserted <= 1 + 4  # the opening plus at most the first four replies
        port = int(forum.url.rsplit(":", 1)[1])
        await author.close()

        # the forum goes away; a thread written while it is down (straight into its database) can only
        # reach the follower through the ?since= replay after the restart
        await stop_forum(forum)
        async with ForumStore(forum.db) as store:
            account = await store.account_for_token(token)
            thread, _, _ = await store.create_thread(account, "Pickling cucumbers with dill and garlic",
                                                     "How long should the jars sit before the pickles are sour?")
            late = thread.id
        restarted = await start_forum(tmp_path, settings, db=forum.db, port=port)
        try:
            await _wait_for(lambda: late in index)
            assert index.search(embedder.embed_one("pickled cucumbers in jars"), 1)[0].thread_id == late
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stop_forum(restarted)
    finally:
        await follower_client.close()
    saved = ThreadIndex.load(tmp_path / "threads.index", model_id=embedder.model_id, dims=embedder.dims)
    assert len(saved) == 52 and saved.last_seq == index.last_seq == 312
