"""Assembly: the bots' parts built from the whole app's settings (personas, the reply generator and what it
draws on), in the shell, so that nothing below ``murmur/`` needs the composed Settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from bots.acts import ActLabels
from bots.bank import ReplyBank, read_bank
from bots.library import Library
from bots.llm import LLMGenerator
from bots.personas import Persona, load_personas
from bots.replies import ReplyGenerator
from bots.selection import BankGenerator
from bots.splice import SpliceGenerator
from conversations.importers import CORPUS_THREADS
from index.embedder import Embedder
from murmur.config import Settings

ForumThreads = dict[int, tuple[str, list[str]]]  # thread id -> (title, post bodies): what a generator may not repeat


def personas_by_name(settings: Settings, folder: Path | None = None) -> dict[str, Persona]:
    return {p.name: p for p in load_personas(folder or settings.bots.personas_path())}


def library_for(settings: Settings, embedder: Embedder, db: Path | None = None) -> Library:
    """The forum's threads when there is a forum database, else the project's seed threads."""
    db = db or settings.forum.db
    return Library.from_forum(embedder, db) if Path(db).exists() else Library.from_seed(embedder)


def bank_files(settings: Settings) -> list[Path]:
    return list(settings.replies.bank) or [CORPUS_THREADS]


def build_bank(settings: Settings, embedder: Embedder, forum: ForumThreads | None = None, *,
               progress: bool = True, echo: Callable[[str], None] = print) -> ReplyBank:
    """The reply bank from ``replies.bank`` (default: the shipped corpus), without the forum's own threads."""
    forum = forum or {}
    files = bank_files(settings)
    with tqdm(unit="thread", desc="reading the reply bank", disable=not progress, leave=False) as bar:
        source = read_bank(files, forum_posts=(b for _, bodies in forum.values() for b in bodies),
                           forum_titles=(title for title, _ in forum.values()), progress=bar.update)
    echo(f"reply bank: {len(source.replies):,} replies in {len(source.threads):,} threads from "
         f"{', '.join(Path(f).name for f in files)}" + (f"; {source.skipped_threads:,} threads left out because the "
                                                        "forum holds them" if source.skipped_threads else ""))
    total = len(source.threads) + len(source.replies)
    with tqdm(total=total, unit="text", desc="embedding the reply bank", disable=not progress, leave=False) as bar:
        bank = ReplyBank(source, embedder, progress=bar.update)
    if forum:
        bank.observe(b for _, bodies in forum.values() for b in bodies)
    return bank


def reply_generator(settings: Settings, embedder: Embedder, *, forum: ForumThreads | None = None,
                    library: Library | None = None, progress: bool = True,
                    echo: Callable[[str], None] = print) -> ReplyGenerator:
    """The generator ``replies.backend`` names, with what it draws on (the bank, or the forum's text for splice)."""
    replies = settings.replies
    if replies.backend == "llm":
        llm = replies.llm
        return LLMGenerator(llm.url, llm.model, timeout_s=llm.timeout_s, retries=llm.retries, api_key=llm.api_key)
    if replies.backend == "splice":
        if library is None:
            library = Library(embedder, forum) if forum else Library.from_seed(embedder)
        return SpliceGenerator(library, seed=settings.seed)
    bank = build_bank(settings, embedder, forum, progress=progress, echo=echo)
    return BankGenerator(bank, seed=settings.seed, topic_threshold=replies.topic_threshold)


async def label_acts(generator: ReplyGenerator, settings: Settings, rasa_url: str, *, progress: bool = True) -> None:
    """Read the bank's replies with the Rasa server's NLU (``replies.acts: rasa``), cached per model."""
    if not isinstance(generator, BankGenerator) or settings.replies.acts != "rasa":
        return
    bank = generator.bank
    with tqdm(unit="text", desc="reading the bank's acts with Rasa NLU", disable=not progress, leave=False) as bar:
        generator.labels = await ActLabels.by_rasa(bank, rasa_url, cache_path=settings.rasa.model_dir / "act-labels.sqlite",
                                                   concurrency=settings.rasa.concurrency, progress=bar.update)
