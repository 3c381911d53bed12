"""Forum throughput, measured by hand: `.venv/bin/python bench/forum.py [--quick] [--engines sqlite,postgresql]`.

Writes a fixed number of replies through the HTTP API with 1, 10 and 100
concurrent writers, then once more with 10 writers while 100 web-socket
subscribers on /api/events count every event they receive. Each rate is set
against a bare-SQLite loop (one INSERT + COMMIT per post, WAL,
synchronous=NORMAL), run first for the same number of posts, so the numbers
say what the API, the event log and the fan-out cost on top of the disk.

By default the forum is started in a process of its own (real aiohttp server on
127.0.0.1, posting limits raised so the limiter never refuses), as a deployed
forum's clients are other programs; once per storage engine: a real SQLite file
in a temp dir, and a real PostgreSQL cluster (Debian's server, a throwaway
cluster on a free port, as the tests start it; fsync on). The engines' rates
are set side by side, measured in the same run. Where the time goes: each
round's CPU time per post, split between the clients (this process), the forum
process and PostgreSQL's processes, read from /proc.
`--url URL --admin-token T` points it at a running `murmur forum` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path: the project's root must come before it.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.procs import children_of, process_cpu_seconds  # noqa: E402
from conversations.client import ForumClient, ForumClientError, ForumUnavailable  # noqa: E402
from conversations.server import create_app  # noqa: E402
from murmur.config import parse_settings  # noqa: E402
from murmur.serving import start_site  # noqa: E402

BODY = ("Benchmark reply: a post of ordinary length, long enough to look like a real answer on a forum thread "
        "and short enough that the body is not what gets measured. ") * 2
THREADS = 20
SUBSCRIBERS = 100
WRITER_ROUNDS = (1, 10, 100)
EVENT_WRITERS = 10
DELIVERY_TIMEOUT_S = 120.0


@dataclass
class Result:
    """One row of the table: how many things happened in how long, and each one's latency if known."""

    case: str
    count: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    posts: bool = True  # False for the events row, which has no baseline ratio
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # CPU time of the round, by process

    def cpu_ms_per_post(self, part: str) -> float:
        return self.cpu_seconds.get(part, 0.0) / self.count * 1000

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def refused(exc: Exception) -> SystemExit:
    """A forum error as a one-line exit, with the fix for the one a running forum's defaults cause."""
    hint = "; raise forum.limits.posts_per_minute and post_burst in its config" if getattr(exc, "status", 0) == 429 else ""
    return SystemExit(f"bench: {exc}{hint}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; enough for p50/p99 of a few thousand samples."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# -- baseline ------------------------------------------------------------------------------------


def sqlite_baseline(path: Path, posts: int) -> Result:
    """The floor: what one connection can commit per second on this disk, one post per transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, thread_id INTEGER NOT NULL, author_id INTEGER NOT NULL, "
                 "body TEXT NOT NULL, created_at TEXT NOT NULL)")
    latencies = []
    bar = tqdm(range(posts), desc="bare SQLite", unit="post")
    start = time.perf_counter()
    for i in bar:
        began = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO posts (thread_id, author_id, body, created_at) VALUES (?, ?, ?, datetime('now'))",
                     (i % THREADS + 1, 1, BODY))
        conn.execute("COMMIT")
        latencies.append((time.perf_counter() - began) * 1000)
    seconds = time.perf_counter() - start
    conn.close()
    return Result("bare SQLite, INSERT+COMMIT per post", posts, seconds, latencies)


# -- forum -------------------------------------------------------------------------------------


@asynccontextmanager
async def local_forum(database: Path | str, posts: int, admin_token: str) -> AsyncIterator[str]:
    """A real forum on a free loopback port, with limits high enough that only throughput is measured."""
    settings = parse_settings({"forum": {
        "limits": {"posts_per_minute": 1e9, "post_burst": 1_000_000},
        "events": {"queue_size": max(1000, 2 * posts)},  # a subscriber is never dropped mid-round
    }})
    runner, port = await start_site(create_app(settings.forum, db=database, admin_token=admin_token), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def serve_forum(database: Path | str, posts: int, admin_token: str, pipe) -> None:
    """The forum process: serve until the bench says stop, telling it the URL first."""
    async def serve() -> None:
        async with local_forum(database, posts, admin_token) as url:
            pipe.send(url)
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(serve())


@contextmanager
def forum_process(database: Path | str, posts: int, admin_token: str) -> Iterator[tuple[str, int]]:
    """A forum in a process of its own: (its URL, its pid)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_forum, args=(database, posts, admin_token, theirs), daemon=True)
    process.start()
    try:
        if not ours.poll(120):
            raise SystemExit("bench: the forum process did not start within 120 s")
        yield ours.recv(), process.pid
    finally:
        if process.is_alive():
            ours.send("stop")
        process.join(60)
        if process.is_alive():
            process.kill()


@dataclass
class CpuMeter:
    """CPU seconds by part: the clients (this process), the forum's process, PostgreSQL's processes."""

    forum_pid: int | None = None
    postgres_pid: int | None = None

    def read(self) -> dict[str, float]:
        parts = {"clients": time.process_time()}
        if self.forum_pid is not None:
            parts["forum"] = process_cpu_seconds(self.forum_pid)
        if self.postgres_pid is not None:
            parts["postgresql"] = sum(process_cpu_seconds(p) for p in [self.postgres_pid, *children_of(self.postgres_pid)])
        return parts

    @contextmanager
    def measure(self) -> Iterator[dict[str, float]]:
        """Fills the yielded dict with the CPU seconds each part spent inside the block."""
        spent: dict[str, float] = {}
        before = self.read()
        yield spent
        after = self.read()
        spent.update({part: max(0.0, after[part] - before.get(part, 0.0)) for part in after})


async def make_accounts(admin: ForumClient, prefix: str, count: int) -> list[ForumClient]:
    """Bot accounts (marked as the bench in ground truth, so they never pass for people), one client each."""
    clients = []
    for i in range(count):
        data = await admin.create_bot_account(f"{prefix}{i:03d}", persona="bench", run_id=prefix.rstrip("-"),
                                              generator="bench/forum.py")
        clients.append(admin.with_token(data["token"]))
    return clients


async def make_threads(admin: ForumClient, prefix: str) -> list[int]:
    """The threads every round replies to, spread so no one thread's row takes every update."""
    host = (await make_accounts(admin, f"{prefix}host-", 1))[0]
    return [(await host.create_thread(f"Bench thread {i}", BODY))["thread"]["id"] for i in range(THREADS)]


async def write_posts(writers: list[ForumClient], threads: list[int], posts: int, desc: str) -> tuple[float, list[float]]:
    """Writers share one queue of ``posts`` replies and each sends its next as soon as the last is answered."""
    jobs = iter(range(posts))
    latencies: list[float] = []
    bar = tqdm(total=posts, desc=desc, unit="post")

    async def writer(client: ForumClient) -> None:
        for i in jobs:
            began = time.perf_counter()
            try:
                await client.reply(threads[i % len(threads)], BODY)
            except (ForumClientError, ForumUnavailable) as exc:
                raise refused(exc) from None  # SystemExit leaves the TaskGroup as itself, not in a group
            latencies.append((time.perf_counter() - began) * 1000)
            bar.update()

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for client in writers:
            group.create_task(writer(client))
    seconds = time.perf_counter() - start
    bar.close()
    return seconds, latencies


async def writer_round(admin: ForumClient, threads: list[int], prefix: str, writers: int, posts: int,
                       meter: CpuMeter) -> Result:
    """posts/s and per-reply latency with ``writers`` accounts posting at once, nobody listening."""
    clients = await make_accounts(admin, prefix, writers)
    label = f"forum, {writers} writer{'s' if writers > 1 else ''}"
    with meter.measure() as cpu:
        seconds, latencies = await write_posts(clients, threads, posts, label)
    return Result(label, posts, seconds, latencies, cpu_seconds=cpu)


async def subscribe(session: aiohttp.ClientSession, url: str, prefix: str, posts: int, bar: tqdm) -> tuple[int, float]:
    """Count every event until all of this round's posts have arrived; (events received, time of the last)."""
    received = mine = 0
    async with session.ws_connect(url + "/api/events") as ws:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(message.data)
            if event.get("type") == "hello":
                continue
            if event.get("type") == "dropped":
                raise SystemExit("bench: a subscriber was dropped for falling behind; raise forum.events.queue_size")
            received += 1
            bar.update()
            if event["post"]["author"]["handle"].startswith(prefix):
                mine += 1
                if mine == posts:
                    return received, time.perf_counter()
    raise SystemExit("bench: an event socket closed before every post arrived")


async def wait_for_subscribers(admin: ForumClient, count: int) -> None:
    """Posting starts only once every socket is subscribed, so each one can see every post."""
    while (await admin.request("GET", "/api/health"))["subscribers"] < count:
        await asyncio.sleep(0.05)


async def events_round(admin: ForumClient, url: str, threads: list[int], prefix: str, posts: int,
                       meter: CpuMeter) -> list[Result]:
    """The 10-writer round again, with 100 subscribers counting deliveries: posts/s under fan-out, and events/s."""
    clients = await make_accounts(admin, prefix, EVENT_WRITERS)
    already = (await admin.request("GET", "/api/health"))["subscribers"]
    deliveries = tqdm(total=posts * SUBSCRIBERS, desc=f"events to {SUBSCRIBERS} subscribers", unit="event", position=1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        listeners = [asyncio.create_task(subscribe(session, url, prefix, posts, deliveries)) for _ in range(SUBSCRIBERS)]
        await asyncio.wait_for(wait_for_subscribers(admin, already + SUBSCRIBERS), 30)
        start = time.perf_counter()
        label = f"forum, {EVENT_WRITERS} writers + {SUBSCRIBERS} subscribers"
        with meter.measure() as cpu:  # until the last delivery: the fan-out's cost is part of a post's
            seconds, latencies = await write_posts(clients, threads, posts, label)
            done = await asyncio.wait_for(asyncio.gather(*listeners), DELIVERY_TIMEOUT_S)
    deliveries.close()
    events = sum(received for received, _ in done)
    last = max(at for _, at in done)
    return [Result(label, posts, seconds, latencies, cpu_seconds=cpu),
            Result(f"  events delivered to {SUBSCRIBERS} subscribers", events, last - start, posts=False)]


async def forum_rounds(url: str, admin_token: str, posts: int, meter: CpuMeter) -> list[Result]:
    """Every forum round against one forum; accounts are new each round, the threads are shared."""
    tag = f"bench-{secrets.token_hex(3)}-"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        admin = ForumClient(url, admin_token, session=session)
        threads = await make_threads(admin, tag)
        results = [await writer_round(admin, threads, f"{tag}w{n}-", n, posts, meter) for n in WRITER_ROUNDS]
        results += await events_round(admin, url, threads, f"{tag}s{EVENT_WRITERS}-", posts, meter)
    return results


# -- report ------------------------------------------------------------------------------------


def cores() -> int:
    """What `nproc` says: the cores this process may run on, not the machine's total."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    return (f"machine: {cores()} cores (nproc), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"{platform.system()} {platform.machine()}")


def table(results: list[Result], baseline: Result) -> str:
    """One row per case; the ratio says how much of the bare-disk rate the forum keeps."""
    head = f"{'case':<42} {'count':>7} {'seconds':>8} {'per s':>9} {'p50 ms':>7} {'p99 ms':>7} {'x of baseline':>14}"
    lines = [head, "-" * len(head)]
    for r in [baseline, *results]:
        p50, p99 = (f"{percentile(r.latencies_ms, q):7.2f}" for q in (50, 99)) if r.latencies_ms else ("      -",) * 2
        ratio = f"{r.rate / baseline.rate:14.3f}" if r.posts else f"{'-':>14}"
        lines.append(f"{r.case:<42} {r.count:>7} {r.seconds:8.3f} {r.rate:9.0f} {p50} {p99} {ratio}")
    return "\n".join(lines)


def cpu_table(results: list[Result]) -> str:
    """Where the time goes: CPU ms per post by process, and what that total allows on this machine's cores."""
    measured = [r for r in results if r.cpu_seconds]
    parts = sorted({part for r in measured for part in r.cpu_seconds}, key=["forum", "postgresql", "clients"].index)
    head = f"{'CPU ms per post':<42} " + " ".join(f"{p:>10}" for p in parts) + f" {'total':>8} {'cores busy':>10}"
    lines = [head, "-" * len(head)]
    for r in measured:
        total = sum(r.cpu_seconds.values())
        lines.append(f"{r.case:<42} " + " ".join(f"{r.cpu_ms_per_post(p):10.2f}" for p in parts)
                     + f" {total / r.count * 1000:8.2f} {total / r.seconds:10.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 posts a round instead of 2000 (under 40 s)")
    parser.add_argument("--posts", type=int, help="posts a round (overrides --quick)")
    parser.add_argument("--url", help="a running `murmur forum` to measure instead of starting one here")
    parser.add_argument("--admin-token", help="that forum's admin token (needed with --url)")
    parser.add_argument("--engines", default="sqlite,postgresql",
                        help="storage engines to start the forum on, comma-separated (default: both)")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not set(engines) <= {"sqlite", "postgresql"}:
        parser.error("--engines: sqlite and/or postgresql")
    if args.url and not args.admin_token:
        parser.error("--url needs --admin-token (the bench's accounts are created as bot accounts)")
    posts = args.posts or (300 if args.quick else 2000)

    print(f"murmur forum bench: {posts} posts a round over {THREADS} threads; "
          f"events counted by {SUBSCRIBERS} web-socket subscribers during the {EVENT_WRITERS}-writer round")
    print(machine())
    if args.url:
        print(f"forum: {args.url} (its own limits and settings); clients run in this process, one event loop")
    else:
        print(f"forum: started here on 127.0.0.1 for each of {', '.join(engines)} (SQLite: a temp file, WAL, "
              f"synchronous=NORMAL; PostgreSQL: a throwaway cluster), posting limits raised out of the way;\n"
              f"       the forum in a process of its own, the clients in this one (one asyncio event loop), all on "
              f"{cores()} cores with PostgreSQL's server processes")
    sys.stdout.flush()

    with tempfile.TemporaryDirectory(prefix="murmur-bench-") as tmp:
        baseline = sqlite_baseline(Path(tmp) / "baseline.db", posts)

        def run(database: Path | str | None, postgres_pid: int | None = None) -> list[Result]:
            if database is None:
                return asyncio.run(forum_rounds(args.url, args.admin_token, posts, CpuMeter()))
            token = secrets.token_urlsafe(24)
            with forum_process(database, posts, token) as (url, pid):
                return asyncio.run(forum_rounds(url, token, posts, CpuMeter(pid, postgres_pid)))

        by_engine: dict[str, list[Result]] = {}
        try:
            if args.url:
                by_engine["the running forum"] = run(None)
            for engine in engines if not args.url else ():
                if engine == "sqlite":
                    by_engine[engine] = run(Path(tmp) / "forum.db")
                else:
                    server = postgres_server()
                    try:
                        by_engine[engine] = run(server.new_database(), server.postmaster_pid())
                    finally:
                        server.stop()
        except (ForumClientError, ForumUnavailable) as exc:
            raise refused(exc) from None
    for engine, results in by_engine.items():
        print(f"\n{engine}")
        print(table(results, baseline))
        print(cpu_table(results))
    if {"sqlite", "postgresql"} <= by_engine.keys():
        print("\npostgresql / sqlite, same run: " + ", ".join(
            f"{a.case.split(' (')[0]} {b.rate / a.rate:.2f}x" for a, b in zip(by_engine["sqlite"], by_engine["postgresql"])))
    print("latency: client-side, request sent to answer read, per reply (per INSERT+COMMIT for the baseline)")


def postgres_server():
    """A throwaway PostgreSQL cluster, started the way the tests start theirs."""
    from tests.postgres import PostgresServer

    print("starting a throwaway PostgreSQL cluster ...", flush=True)
    return PostgresServer().start()


if __name__ == "__main__":
    main()
