"""Swarm scaling across processes, measured by hand: `.venv/bin/python bench/scaling.py [--quick]`.

The same swarm run (`murmur.assembly.run_swarm`: the seed forum, the twenty shipped personas, the simulated
clock, one seed; 300 bots for 8 forum hours, 100 for 4 with --quick) four ways, each on a fresh copy of the same forum:

- one process pinned to 1 core (the bench's process, and the Rasa server it starts, by `sched_setaffinity`);
- one process on every core;
- Ray, 1 turn worker (its process and its Rasa server) pinned to core 0;
- Ray, 2 turn workers, pinned to cores 0 and 1.

The coordinator (this process) and the forum (a `murmur forum` process) run on every core in the Ray rows, the
same for 1 and 2 workers, so the Ray ratio says what the second worker buys. For each row: turns/s, actions/s
(join decisions + turns) and posts/s over the run's wall time, and CPU seconds per turn by process: the Rasa
servers, the turn workers (action server, reply generator, stance embedding), the coordinator (phase 1, posting,
the index; in the single process also everything the workers do) and the forum; then each process's memory.
Ratios are set against the 1-core row of the same kind, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import yaml  # noqa: E402

from bench.procs import group_usage, pin_group, pin_process, process_cpu_seconds  # noqa: E402
from bots.swarm.hooks import SwarmHooks  # noqa: E402
from conversations.importers import SEED_THREADS  # noqa: E402
from murmur.assembly import run_swarm, train_shared_model, turn_workers_for  # noqa: E402
from murmur.swarm_job import ForumAccess, RayTurns, SwarmJob  # noqa: E402
from murmur.config import Settings, parse_settings  # noqa: E402
from murmur.loading import import_path  # noqa: E402

ADMIN_TOKEN = "bench-scaling-admin-token-0123456789"
SEED = 11


@dataclass
class Row:
    label: str
    kind: str  # "process" or "ray"
    cores: int
    turns: int = 0
    decisions: int = 0
    posts: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # part -> CPU seconds over the run
    rss_mib: dict[str, float] = field(default_factory=dict)  # process -> resident MiB at the end

    def per_s(self, count: int) -> float:
        return count / self.seconds if self.seconds else float("nan")

    def cpu_ms_per_turn(self, part: str) -> float:
        return self.cpu.get(part, 0.0) / self.turns * 1000 if self.turns else float("nan")


def settings_for(tmp: Path, quick: bool, tick_s: float) -> Settings:
    return parse_settings({
        "seed": SEED,
        "forum": {"limits": {"posts_per_minute": 1e9, "post_burst": 1_000_000}, "events": {"queue_size": 1_000_000}},
        "index": {"cache_path": str(ROOT / "var" / "embeddings.sqlite")},
        "rasa": {"model_dir": str(ROOT / "var" / "rasa-models")},
        # enough bots that a step has many turns to run at once: that is what more workers can share
        "swarm": {"log_dir": str(tmp / "runs"), "bots": 100 if quick else 300, "hours": 4 if quick else 8,
                  "tick_s": tick_s},
        "replies": {"backend": "splice"},  # the seed forum's topics are not the reply bank's (see bench/swarm.py)
    })


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Forum:
    """A `murmur forum` process over a copy of the seeded database: its CPU is the forum's own."""

    def __init__(self, template: Path, folder: Path) -> None:
        self.db = folder / "forum.db"
        shutil.copy(template, self.db)
        config = folder / "config.yml"
        config.write_text(yaml.safe_dump({"forum": {"limits": {"posts_per_minute": 1e9, "post_burst": 1_000_000},
                                                    "events": {"queue_size": 1_000_000}}}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "murmur.cli", "--config", str(config), "forum", "--port", str(self.port),
             "--db", str(self.db)], env={**os.environ, "MURMUR_ADMIN_TOKEN": ADMIN_TOKEN},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def wait(self) -> None:
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(60):
                while True:
                    try:
                        async with session.get(self.url + "/api/health") as response:
                            if response.status == 200:
                                return
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def cpu_now(parts: dict[str, list[int]], forum_pid: int) -> dict[str, float]:
    out = {"coordinator": _own_cpu(), "forum": process_cpu_seconds(forum_pid)}
    for part, pgids in parts.items():
        out[part] = sum(group_usage(pgid)[0] if part == "rasa" else process_cpu_seconds(pgid) for pgid in pgids)
    return out


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def measured_run(row: Row, settings: Settings, template: Path, tmp: Path, *, workers=None,
                       worker_pids: dict[str, list[int]] | None = None, pin_self: set[int] | None = None) -> Row:
    folder = tmp / row.label.replace(" ", "-").replace(",", "")
    folder.mkdir()
    forum = Forum(template, folder)
    parts: dict[str, list[int]] = dict(worker_pids or {})
    everything = set(range(os.cpu_count() or 1))
    try:
        await forum.wait()
        if pin_self is not None:
            pin_process(os.getpid(), pin_self)

        def ready(swarm) -> None:  # the single process's own Rasa servers, started by now
            if workers is None:
                pgids = [m.server.pid for m in swarm.dialogue.pool.members if m.server.pid]
                parts["rasa"] = pgids
                if pin_self is not None:
                    pin_process(os.getpid(), pin_self)  # the threads started since, too
                    for pgid in pgids:
                        pin_group(pgid, pin_self)
            start.update(cpu_now(parts, forum.process.pid))

        def finished(swarm) -> None:  # the run is over, its servers still up
            end = cpu_now(parts, forum.process.pid)
            row.cpu = {k: v - start.get(k, 0.0) for k, v in end.items()}
            row.rss_mib = {"rasa (each)": max((group_usage(p)[1] for p in parts.get("rasa", [])), default=0.0),
                           "worker (each)": max((group_usage(p)[1] for p in parts.get("worker", [])), default=0.0)}

        start: dict[str, float] = {}
        result = await run_swarm(settings, ForumAccess(forum.url, ADMIN_TOKEN), SwarmJob(f"scaling-{folder.name}", SEED),
                                 progress=True, echo=lambda _: None, ray=RayTurns(workers=workers),
                                 hooks=SwarmHooks(ready=ready, finished=finished))
        row.seconds = result.wall_seconds
        row.turns, row.decisions, row.posts = result.tally.turns, result.tally.decisions, result.tally.posts
        print(f"{row.label}: {row.turns} turns, {row.posts} posts in {row.seconds:.1f} s", flush=True)
    finally:
        if pin_self is not None:
            pin_process(os.getpid(), everything)
        forum.stop()
    return row


async def ray_rows(settings: Settings, template: Path, tmp: Path) -> list[Row]:
    rows = []
    for count in (1, 2):
        async with turn_workers_for(settings, None, count=count, echo=lambda line: print(line, flush=True)) as workers:
            pids = [await w.processes.remote() for w in workers]
            for core, info in enumerate(pids):  # each worker, and its Rasa server, on a core of its own
                pin_process(info["worker"], {core})
                for pgid in info["rasa"]:
                    pin_group(pgid, {core})
            parts = {"worker": [i["worker"] for i in pids], "rasa": [p for i in pids for p in i["rasa"]]}
            row = Row(f"Ray, {count} worker{'s' if count > 1 else ''} pinned to {count} core{'s' if count > 1 else ''}",
                      "ray", count)
            rows.append(await measured_run(row, settings, template, tmp, workers=workers, worker_pids=parts))
    return rows


def table(rows: list[Row]) -> str:
    parts = ["rasa", "worker", "coordinator", "forum"]
    head = (f"{'run':<36} {'turns/s':>8} {'actions/s':>9} {'posts/s':>8} {'x 1 core':>9}  CPU ms/turn: "
            + " ".join(f"{p:>11}" for p in parts) + f" {'total':>8}")
    lines = [head, "-" * len(head)]
    for row in rows:
        base = next((r for r in rows if r.kind == row.kind and r.cores == 1), None)
        ratio = row.per_s(row.turns) / base.per_s(base.turns) if base and base.turns else float("nan")
        total = sum(row.cpu.get(p, 0.0) for p in parts) / row.turns * 1000 if row.turns else float("nan")
        lines.append(f"{row.label:<36} {row.per_s(row.turns):8.2f} {row.per_s(row.turns + row.decisions):9.2f}"
                     f" {row.per_s(row.posts):8.2f} {ratio:9.2f}  {'':12}"
                     + " ".join(f"{row.cpu_ms_per_turn(p):11.0f}" for p in parts) + f" {total:8.0f}")
    memory = "; ".join(f"{r.label}: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in r.rss_mib.items() if v)
                       for r in rows)
    lines.append(f"memory (resident, at the end): {memory}")
    return "\n".join(lines)


async def bench(quick: bool, tmp: Path, tick_s: float) -> list[Row]:
    settings = settings_for(tmp, quick, tick_s)
    print("model: checking var/rasa-models (a missing model is trained now, about a minute) ...", flush=True)
    await asyncio.to_thread(train_shared_model, settings, False, lambda line: print(line, flush=True))
    template = tmp / "seed.db"
    await import_path(SEED_THREADS, template, settings)
    rows = [await measured_run(Row("one process, 1 core", "process", 1), settings, template, tmp, pin_self={0}),
            await measured_run(Row("one process, every core", "process", os.cpu_count() or 1), settings, template, tmp)]
    rows += await ray_rows(settings, template, tmp)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 bots for 4 forum hours instead of 300 for 8")
    parser.add_argument("--tick-s", type=float, default=60.0,
                        help="simulated seconds a step (swarm.tick_s, default 60): a longer step has more turns to share")
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("bench: pinning 2 workers to 2 cores needs at least 2 cores")
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; swarm.tick_s {args.tick_s:g}")
    with tempfile.TemporaryDirectory(prefix="murmur-bench-scaling-") as tmp:
        rows = asyncio.run(bench(args.quick, Path(tmp), args.tick_s))
    print()
    print(table(rows))
    print("x 1 core: turns/s against the 1-core row of the same kind (one process, or Ray), measured in this run")


if __name__ == "__main__":
    main()
