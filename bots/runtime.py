"""Assembling the bots' parts from settings: personas, the text library, the reply generator."""

from __future__ import annotations

from pathlib import Path

from bots.library import Library
from bots.personas import Persona, load_personas
from bots.replies import LLMGenerator, ReplyGenerator, RetrievalGenerator
from index.embedder import Embedder
from murmur.config import Settings


def personas_by_name(settings: Settings, folder: Path | None = None) -> dict[str, Persona]:
    return {p.name: p for p in load_personas(folder or settings.bots.personas_path())}


def library_for(settings: Settings, embedder: Embedder, db: Path | None = None) -> Library:
    """The forum's threads when there is a forum database, else the project's seed threads."""
    db = db or settings.forum.db
    return Library.from_forum(embedder, db) if Path(db).exists() else Library.from_seed(embedder)


def reply_generator(settings: Settings, library: Library) -> ReplyGenerator:
    if settings.replies.backend == "llm":
        llm = settings.replies.llm
        return LLMGenerator(llm.url, llm.model, timeout_s=llm.timeout_s, retries=llm.retries, api_key=llm.api_key)
    return RetrievalGenerator(library, seed=settings.seed)
