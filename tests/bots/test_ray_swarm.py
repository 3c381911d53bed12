"""Swarms on Ray: a real local Ray cluster, real TurnWorker actors each with its own real Rasa server.

The same seed and inputs give the same run log and posts on 1 worker, on 2, and in the single process; a worker
killed mid-run loses no post and doubles none (its turns go to the other).
"""

from __future__ import annotations

import functools
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
import pytest_asyncio

from bots.swarm.hooks import SwarmHooks
from bots.swarm.runlog import read_log
from murmur.assembly import run_swarm, turn_worker_base
from murmur.swarm_job import ForumAccess, RayTurns, SwarmJob
from tests.bots.test_swarm import _bot_posts, _seed_forum, _swarm_on_seed_forum, swarm_settings
from tests.conftest import ADMIN_TOKEN, ROOT, stop_forum

ray = pytest.importorskip("ray", reason="Ray is an optional dependency: pip install -e '.[ray]' (make setup does)")

SESSION = pytest.mark.asyncio(loop_scope="session")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
WORKERS = 2  # each starts its own Rasa server: two show routing and failover as well as more would


def _settings(folder: Path, rasa_model) -> object:
    """The swarm tests' settings, with the session's trained model where the workers look for it."""
    base = swarm_settings(folder, "http://unused", bots=10, hours=6)
    rasa = base.rasa.model_copy(update={"url": None, "model_dir": rasa_model.model_path.parent})
    # the embedding cache the session's embedder uses: coordinator and workers read the very same vectors
    index = base.index.model_copy(update={"cache_path": ROOT / "var" / "test-embeddings.sqlite"})
    return base.model_copy(update={"rasa": rasa, "index": index})


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def turn_workers(ray_cluster, rasa_model, tmp_path_factory):
    """The TurnWorker actors, each with its own Rasa server, reused by every run of this module."""
    from bots.swarm.ray_turns import TurnWorker

    settings = _settings(tmp_path_factory.mktemp("ray"), rasa_model)
    build = functools.partial(turn_worker_base, settings, None, str(ROOT))
    actor = ray.remote(TurnWorker).options(num_cpus=1, max_restarts=0)
    workers = [actor.remote(slot, build) for slot in range(WORKERS)]
    infos = [await w.start.remote() for w in workers]
    assert len({info["pid"] for info in infos}) == WORKERS and all(info["rasa"] for info in infos)
    yield workers, infos
    for worker in workers:
        try:
            await worker.stop.remote()
        except ray.exceptions.RayActorError:
            pass  # the one the last test killed


async def _run(folder: Path, rasa_model, embedder, workers, run_id: str = "same", hooks=None, echo=None):
    settings = _settings(folder, rasa_model)
    forum = await _seed_forum(folder, settings)
    try:
        result = await run_swarm(settings, ForumAccess(forum.url, ADMIN_TOKEN), SwarmJob(run_id),
                                 progress=False, echo=echo or (lambda _: None), embedder=embedder,
                                 ray=RayTurns(workers=workers), hooks=hooks)
        return result, forum.db
    finally:
        await stop_forum(forum)


@SESSION
async def test_same_run_on_one_worker_on_two_and_in_one_process(tmp_path, rasa_server, forward_actions, embedder,
                                                                   rasa_model, turn_workers):
    workers, _ = turn_workers
    single_folder = tmp_path / "single"
    single_folder.mkdir()
    single, single_db = await _swarm_on_seed_forum(single_folder, swarm_settings(single_folder, rasa_server.url,
                                                                                  bots=10, hours=6),
                                                   "same", embedder, forward_actions)
    expected_log = single.log_path.read_text(encoding="utf-8")
    expected_posts = [p[1:] for p in _bot_posts(single_db)]
    assert expected_posts and expected_log.count('"kind": "post"') == len(expected_posts)
    for name, subset in (("one", workers[:1]), ("two", workers)):
        folder = tmp_path / name
        folder.mkdir()
        result, db = await _run(folder, rasa_model, embedder, subset)
        assert result.log_path.read_text(encoding="utf-8") == expected_log, f"{name} worker(s): the same run log"
        assert [p[1:] for p in _bot_posts(db)] == expected_posts, f"{name} worker(s): the same posts"
    counts = await _turns_by_worker(workers)
    assert all(n > 0 for n in counts), f"every worker took turns: {counts}"


async def _turns_by_worker(workers) -> list[int]:
    return [await w.turn_count.remote() for w in workers]


@SESSION
async def test_a_worker_killed_mid_run_loses_no_post_and_doubles_none(tmp_path, embedder, rasa_model, turn_workers):
    workers, infos = turn_workers
    steps_with_turns = []

    def turns(count: int, seconds: float) -> None:
        steps_with_turns.append(count)
        if len(steps_with_turns) == 3:  # a few steps in, between two steps' turns: worker #1's process dies
            os.kill(infos[0]["pid"], signal.SIGKILL)

    echoed: list[str] = []
    result, db = await _run(tmp_path, rasa_model, embedder, workers, run_id="killed",
                            hooks=SwarmHooks(turns=turns), echo=echoed.append)
    assert len(steps_with_turns) > 3, "the run went on after the kill"
    assert any("turn worker #1: died" in line for line in echoed), echoed
    logged = [r for r in read_log(result.log_path) if r["kind"] == "post"]
    posts = _bot_posts(db)
    assert result.tally.failures == 0, "every turn of the dead worker was taken by another"
    assert len(posts) == len(logged) == result.tally.posts > 0, "every post the run logged is in the forum, once"
    keys = Counter(p[5] for p in posts)
    assert keys and max(keys.values()) == 1, "no idempotency key was posted twice"
    assert all(p[6] is not None and p[7] == "killed" for p in posts), "every bot post has its provenance"
