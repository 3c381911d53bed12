"""A swarm on real conversations, measured beside the people of the same threads (bench/realism.py and its test).

The forum holds every n-th thread of the shipped corpus; the reply bank is
the rest (the bank leaves out whatever the forum holds). A run is exported
like any forum and measured with ``detection.realism``; the act-fit reading
uses the bots' own Rasa NLU over loopback.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bots.swarm.runlog import read_log
from conversations.importers import CORPUS_THREADS
from conversations.server import create_app
from detection.dataset import load_dataset
from detection.export import export_forum
from detection.features import embed_forum
from detection.realism import Realism, bot_posts_from_log, measure
from murmur.config import Settings
from murmur.loading import import_path
from murmur.serving import start_site


async def corpus_forum(db: Path, settings: Settings, every: int) -> int:
    """A fresh forum database holding every ``every``-th thread of the shipped corpus; returns its thread count."""
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    stats = await import_path(CORPUS_THREADS, db, settings, quiet=True, every=every)
    return stats.threads_added


def nlu_parser(rasa_url: str, workers: int = 4) -> Callable[[Sequence[str]], list[str]]:
    """Texts -> the intent the Rasa server's NLU reads in each (``/model/parse``)."""

    def one(text: str) -> str:
        request = urllib.request.Request(f"{rasa_url.rstrip('/')}/model/parse", data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return (json.load(response).get("intent") or {}).get("name") or "nlu_fallback"

    def parse(texts: Sequence[str]) -> list[str]:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, texts))

    return parse


@dataclass
class RealismRun:
    backend: str
    result: object  # bots.swarm.SwarmResult
    db: Path
    dataset: Path
    realism: Realism
    examples: list[dict[str, str]]


async def run_and_measure(settings: Settings, *, template: Path, folder: Path, admin_token: str, embedder,
                          parse: Callable[[Sequence[str]], list[str]] | None, personas_dir: Path, bots: int, hours: float,
                          run_id: str, on_action_url: Callable[[str], None] | None = None,
                          progress: bool = False, echo: Callable[[str], None] = lambda _: None) -> RealismRun:
    """One swarm run on a copy of ``template``, exported and measured."""
    from murmur.assembly import run_swarm
    from murmur.swarm_job import ForumAccess, SwarmJob

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "forum.db"
    shutil.copyfile(template, db)
    runner, port = await start_site(create_app(settings.forum, db=db, admin_token=admin_token), "127.0.0.1", 0)
    try:
        result = await run_swarm(settings, ForumAccess(f"http://127.0.0.1:{port}", admin_token),
                                 SwarmJob(run_id, bots=bots, personas_dir=personas_dir, hours=hours),
                                 progress=progress, echo=echo, embedder=embedder, on_action_url=on_action_url)
    finally:
        await runner.cleanup()
    dataset_dir = folder / "dataset"
    export_forum(db, dataset_dir)
    dataset = load_dataset(dataset_dir)
    vectors = embed_forum(dataset.forum, embedder)
    records = list(read_log(result.log_path))
    realism = measure(dataset, vectors, bot_posts_from_log(records, dataset), parse=parse)
    return RealismRun(settings.replies.backend, result, db, dataset_dir, realism, reply_examples(dataset, records))


def reply_examples(dataset, records: list[dict], limit: int | None = None) -> list[dict[str, str]]:
    """Bot replies with the post each answered and its thread, in the order they were posted (from the export)."""
    forum = dataset.forum
    row_of = {post_id: i for i, post_id in enumerate(forum.post_ids)}
    out = []
    for record in (r for r in records if r.get("kind") == "post" and r.get("parent_id")):
        i = row_of.get(str(record["post_id"]))
        if i is None or forum.post_parent[i] < 0:
            continue
        out.append({"thread": forum.thread_titles[int(forum.post_thread[i])], "answers": forum.post_body[forum.post_parent[i]],
                    "reply": forum.post_body[i], "act": record["act"], "persona": record["persona"],
                    "source": json.dumps(record.get("source") or {})})
        if limit is not None and len(out) >= limit:
            break
    return out
