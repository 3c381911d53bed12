"""Shared fixtures: a real forum on a free loopback port over a real SQLite file or a real PostgreSQL server.

A test that takes ``forum`` (or ``database``) runs once per storage engine; PostgreSQL is a throwaway cluster the
harness starts once per session (tests/postgres.py), with a fresh database for each test.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from conversations.client import ForumClient
from conversations.importers import CORPUS_DIR
from conversations.importers.jsonl import open_jsonl
from conversations.server import create_app
from bots.dialogue.training import DEFAULT_VENV, RASA_DIR, TrainResult, rasa_bin_in, train_model
from murmur.config import Settings, parse_settings

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token-0123456789"
RASA_BIN = rasa_bin_in(DEFAULT_VENV)
TEST_EPOCHS = 30    # murmur's default (rasa.epochs); held-out accuracy is tested at this length
CHROMIUM = "/usr/bin/chromium"  # Debian's (Playwright's own browser download cannot reach the network here)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextlib.asynccontextmanager
async def chromium():
    """A headless Chromium driven by Playwright, closed on the way out."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def make_settings(**forum: object) -> Settings:
    """Settings with test-friendly limits; keyword arguments override ``forum.*`` keys (nested dicts allowed)."""
    base: dict[str, object] = {"limits": {"posts_per_minute": 1_000_000, "post_burst": 100_000}}
    for key, value in forum.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    return parse_settings({"forum": base})


ENGINES = ("sqlite", "postgresql")


@dataclass
class RunningForum:
    url: str
    db: Path | str  # a SQLite file or a postgresql:// URL
    app: web.Application
    runner: web.AppRunner
    admin: ForumClient
    anonymous: ForumClient

    async def account(self, handle: str) -> ForumClient:
        """A new person's account, as a client acting with its token."""
        data = await self.anonymous.create_account(handle)
        return self.anonymous.with_token(data["token"])


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    """Run an aiohttp app on a loopback port (0: a free one): its runner (``cleanup()`` stops it) and its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def start_forum(tmp_path: Path, settings: Settings, db: Path | str | None = None, port: int = 0) -> RunningForum:
    """A forum on a loopback port (0: a free one); pass ``db`` and ``port`` of a stopped one to restart it."""
    db = db or tmp_path / "forum.db"
    app = create_app(settings.forum, db=db, admin_token=ADMIN_TOKEN)
    runner, url = await serve(app, port)
    anonymous = ForumClient(url)
    return RunningForum(url=url, db=db, app=app, runner=runner, admin=anonymous.with_token(ADMIN_TOKEN), anonymous=anonymous)


async def stop_forum(forum: RunningForum) -> None:
    await forum.anonymous.close()
    await forum.runner.cleanup()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the session, started on first use."""
    from tests.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=ENGINES)
def database(request, tmp_path: Path) -> Path | str:
    """A fresh, empty forum database on each engine: a SQLite file, or a new PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "forum.db"
    return request.getfixturevalue("postgres_server").new_database()


def query(db: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of one query, read from the database itself on either engine (``?`` placeholders on both)."""
    from conversations.engines import engine_for

    conn = engine_for(db).connect(read_only=True)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def table_counts(db: Path | str, tables: tuple[str, ...]) -> tuple[int, ...]:
    """Rows per table on either engine (for tests that check nothing was written)."""
    return tuple(query(db, f"SELECT count(*) FROM {table}")[0][0] for table in tables)


@pytest.fixture
async def forum(tmp_path: Path, settings: Settings, database: Path | str) -> AsyncIterator[RunningForum]:
    running = await start_forum(tmp_path, settings, db=database)
    yield running
    await stop_forum(running)


def read_corpus_sample(name: str, count: int, every: int = 1) -> list[dict]:
    """Every ``every``-th thread of a forum-corpus file, ``count`` of them."""
    rows = []
    with open_jsonl(CORPUS_DIR / name) as handle:
        for index, line in enumerate(handle):
            if index % every == 0:
                rows.append(json.loads(line))
            if len(rows) >= count:
                break
    return rows


@pytest.fixture(scope="session")
def embedder():
    """The real model, with a cache kept between test runs (var/ is ignored by git): nothing is embedded twice."""
    from index.embedder import Embedder

    instance = Embedder(cache_path=ROOT / "var" / "test-embeddings.sqlite")
    yield instance
    instance.close()


CORPUS_SPLIT = 6  # the forum of the demo, the realism test and bench/realism.py: every 6th corpus thread


def corpus_split() -> tuple[list[dict], list[dict]]:
    """The shipped corpus as (forum threads: every 6th, bank threads: the rest), in file order."""
    rows = read_corpus_sample("threads.jsonl.gz", 10_000)
    return ([r for i, r in enumerate(rows) if i % CORPUS_SPLIT == 0],
            [r for i, r in enumerate(rows) if i % CORPUS_SPLIT != 0])


@pytest.fixture(scope="session")
def corpus_source() -> tuple:
    """The reply bank's texts beside the corpus-split forum (the shipped corpus minus the forum's threads), and that
    forum; nothing embedded yet."""
    from bots.words.bank import read_bank

    forum, _ = corpus_split()
    return read_bank([CORPUS_DIR / "threads.jsonl.gz"], forum_posts=[p["body"] for r in forum for p in r["posts"]]), forum


def selected_tests_use(request: pytest.FixtureRequest, *fixtures: str) -> bool:
    """Whether a test selected for this session needs one of ``fixtures`` (directly or through another fixture)."""
    return any(set(fixtures) & set(item.fixturenames) for item in request.session.items)


@contextlib.contextmanager
def in_background(work: Callable[[], object], name: str):
    """``work()`` started now in a thread: its Future, joined on the way out, so that a session that ends early
    leaves nothing running."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name) as pool:
        yield pool.submit(work)


@pytest.fixture(scope="session", autouse=True)
def _corpus_bank_embedding(request: pytest.FixtureRequest):
    """The corpus bank embeds in a thread from the session's first test on, when a selected test needs it: on a fresh
    clone that is ~3 minutes of the model's time, which then overlaps Rasa's training, its server's start and the
    reading of the bank's acts (they need only the texts) instead of coming before them."""
    if not selected_tests_use(request, "corpus_bank", "corpus_source"):
        yield None
        return
    from bots.words.bank import ReplyBank

    embedder = request.getfixturevalue("embedder")
    source, forum = request.getfixturevalue("corpus_source")
    with in_background(lambda: (ReplyBank(source, embedder), forum), "corpus-bank") as built:
        yield built


@pytest.fixture(scope="session")
def corpus_bank(_corpus_bank_embedding: concurrent.futures.Future) -> tuple:
    """The corpus source's reply bank, embedded, and its forum."""
    return _corpus_bank_embedding.result()


@pytest.fixture(scope="session", autouse=True)
def _training(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The session's Rasa model training (~2 min), started with the session's first test in a thread when a
    selected test needs the model, so that it overlaps the tests that do not."""
    if not selected_tests_use(request, "rasa_model"):
        yield None
        return
    out = tmp_path_factory.mktemp("rasa-models")
    with in_background(lambda: train_model(RASA_DIR, out, epochs=TEST_EPOCHS, rasa_bin=RASA_BIN),
                       "rasa-training") as training:
        yield training


@pytest.fixture(scope="session")
def rasa_model(_training: concurrent.futures.Future) -> TrainResult:
    """The project's model, trained once per session into a temporary folder."""
    return _training.result()


WAITS_FOR = (("rasa_model",), ("corpus_bank", "corpus_source"))  # background work, latest ready first


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that wait on the session's background work (the Rasa model's training, then the corpus bank's
    embedding) run after those that wait on nothing, a whole module at a time (its module fixtures set up once),
    so that the work overlaps tests instead of being waited for at the start."""
    def waits(item: pytest.Item) -> int:
        names = set(getattr(item, "fixturenames", ()))
        return next((len(WAITS_FOR) - n for n, fixtures in enumerate(WAITS_FOR) if names & set(fixtures)), 0)

    module_rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        module_rank[module] = max(module_rank.get(module, 0), waits(item))
    items.sort(key=lambda item: module_rank[item.nodeid.split("::")[0]])  # stable: the order within a rank stays
