"""The bots' sections of config.yml: personas, chat, replies, Rasa and the swarm."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from core.settings import Section

LLM_KEY_ENV = "MURMUR_LLM_API_KEY"
# The Rasa environment `make setup` builds beside the checkout (Rasa 3.6 needs its own Python).
DEFAULT_RASA_VENV = Path(__file__).resolve().parents[1] / ".venv-rasa"


class BotsSettings(Section):
    """The synthetic participants."""

    personas_dir: Path | None = Field(None, description="folder of persona YAML files; empty means the ones shipped in bots/personas")

    def personas_path(self) -> Path:
        if self.personas_dir is not None:
            return self.personas_dir
        return Path(__file__).resolve().parent / "personas"


class ChatSettings(Section):
    """Chatting with a persona over a web socket."""

    host: str = "127.0.0.1"
    port: int = Field(8766, ge=0, le=65535)
    max_chars: int = Field(2000, ge=10, description="longest message a client may send")
    max_frame_bytes: int = Field(16 * 1024, ge=1024)
    messages_per_minute: float = Field(30.0, gt=0)
    message_burst: int = Field(20, ge=1, description="messages a client may send back to back before the rate applies")


class LLMSettings(Section):
    """An OpenAI-compatible chat-completions endpoint (llama.cpp server, vLLM, Ollama)."""

    url: str = "http://127.0.0.1:8080"
    model: str = "local-model"
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    api_key: str | None = Field(None, description=f"or set {LLM_KEY_ENV}")


class ReplySettings(Section):
    """How reply text is written."""

    backend: Literal["bank", "splice", "llm"] = Field(
        "bank", description="bank: one human reply chosen from the reply bank; splice: the old baseline; llm")
    bank: tuple[Path, ...] = Field((), description="murmur JSONL files or Stack Exchange dump folders; "
                                                   "empty: the shipped corpus (data/forum-corpus/threads.jsonl.gz)")
    topic_threshold: float = Field(0.5, ge=-1, le=1, description="cosine a bank thread needs to the conversation's "
                                                                   "thread before its replies are considered")
    acts: Literal["rasa", "cues"] = Field("rasa", description="how bank replies' acts are read: the bots' Rasa NLU, "
                                                               "or cue words (offline)")
    llm: LLMSettings = LLMSettings()


class RasaSettings(Section):
    """The Rasa dialogue server murmur trains and runs."""

    url: str | None = Field(None, description="a Rasa server you run yourself; empty: murmur starts its own")
    urls: tuple[str, ...] = Field((), description="several Rasa servers you run yourself, as one pool (give each the "
                                                   "same SQL tracker store); empty: rasa.url, or murmur starts its own")
    servers: int = Field(1, ge=1, le=32, description="Rasa servers murmur starts as one pool (each ~1 GB and a core "
                                                      "at full load); each conversation stays on one")
    venv: Path | None = Field(None, description="Rasa's virtual environment; empty means .venv-rasa in the project")

    def venv_path(self) -> Path:
        if self.venv is not None:
            return self.venv
        return DEFAULT_RASA_VENV
    model_dir: Path = Path("var/rasa-models")
    epochs: int = Field(30, ge=1, le=500)
    start_timeout_s: float = Field(180.0, gt=0)
    concurrency: int = Field(4, ge=1, le=64, description="turns in flight to one Rasa server")

    @model_validator(mode="after")
    def _one_kind_of_pool(self) -> RasaSettings:
        if self.servers > 1 and (self.url or self.urls):
            raise ValueError("servers: murmur starts servers only when rasa.url and rasa.urls are empty; "
                             "set servers: 1, or empty the URLs")
        if self.url and self.urls:
            raise ValueError("urls: give rasa.url (one server) or rasa.urls (a pool), not both")
        return self

    def external_urls(self) -> list[str]:
        """The servers someone else runs (rasa.urls, or rasa.url); empty when murmur starts its own."""
        return [u.rstrip("/") for u in self.urls] or ([self.url.rstrip("/")] if self.url else [])


class SwarmSettings(Section):
    """A swarm run: how many bots, for how long, and the join policy they follow."""

    bots: int = Field(20, ge=1, le=100_000, description="bots in a run; personas are reused (numbered) past their count")
    hours: float = Field(24.0, gt=0, le=24 * 365, description="hours of forum life to run")
    clock: Literal["simulated", "wall"] = "simulated"
    start: str | None = Field(None, description="simulated start time (ISO-8601); empty: the forum's latest activity")
    tick_s: float = Field(60.0, ge=1, description="simulated seconds per step; bots react no faster than this")
    relevance_threshold: float = Field(0.45, ge=-1, le=2, description="matching score a thread needs for a bot to join")
    candidates: int = Field(20, ge=1, le=200, description="threads a bot reads down per search; personas asked per thread")
    scan_every_minutes: float = Field(90.0, gt=0, description="how often each bot looks for threads to join")
    join_probability: float = Field(0.5, ge=0, le=1, description="chance a bot joins a thread that passes every rule")
    max_bots_per_thread: int = Field(3, ge=1, description="distinct bots in one thread, at most")
    max_consecutive_bot_posts: int = Field(2, ge=1, description="bot posts in a row at a thread's end, at most")
    new_thread_share: float = Field(0.1, ge=0, le=1, description="chance that a bot's search opens a thread on one of its interests instead")
    reply_delay_minutes: tuple[float, float] = Field((3.0, 40.0), description="a reply's delay: min and median minutes")
    behaviour: Literal["persona", "fitted"] = Field(
        "persona", description="persona: each persona's own schedule; fitted: rates, hours, gaps and reply delays "
                               "drawn from the forum's people")
    population: Literal["persona", "people"] = Field(
        "persona", description="persona: one account per persona, posting as its schedule allows; people: accounts "
                               "whose posts over the run, handles and number per persona are drawn from the forum's "
                               "people (most post once or twice), at most one account of a persona in a thread")
    account_age_days: tuple[float, float] | None = Field(
        None, description="a bot account's age at its first post, drawn uniformly from [min, max] days; "
                          "empty: as old as the forum's people's accounts were at theirs")
    log_dir: Path = Field(Path("var/runs"), description="run logs (JSONL), one file per run id")
    campaign: Path | None = Field(
        None, description="a campaign file (YAML, examples/campaigns/) run beside the bots; empty: none. "
                          "`murmur swarm --campaign FILE` overrides it")
