"""config.yml: parsed once into typed settings.

Every setting has a default, so a missing config.yml works. Unknown keys,
wrong types and bad values fail at start with the key's dotted path and a
hint. Secrets can come from the environment instead of the file.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from murmur.errors import ConfigError

CONFIG_ENV = "MURMUR_CONFIG"
ADMIN_TOKEN_ENV = "MURMUR_ADMIN_TOKEN"
LLM_KEY_ENV = "MURMUR_LLM_API_KEY"
DEFAULT_CONFIG_PATH = Path("config.yml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ForumLimits(_Section):
    """Input limits the forum enforces with 4xx errors."""

    body_max_bytes: int = Field(64 * 1024, ge=1024, description="largest request body accepted")
    title_max_chars: int = Field(200, ge=10, description="longest thread title")
    post_max_chars: int = Field(10_000, ge=10, description="longest post body")
    handle_max_chars: int = Field(40, ge=3, description="longest account handle")
    posts_per_minute: float = Field(20.0, gt=0, description="sustained posting rate per account")
    post_burst: int = Field(5, ge=1, description="posts an account may make back to back")
    page_size_max: int = Field(100, ge=1, description="largest page a list request may ask for")


class ForumEvents(_Section):
    """The event web socket."""

    queue_size: int = Field(1000, ge=10, description="events buffered per subscriber before it is dropped")
    heartbeat_s: float = Field(20.0, gt=0, description="web-socket ping interval")


class ForumSettings(_Section):
    """The test forum: where it listens, where it stores, what it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    db: Path = Path("var/forum.db")
    admin_token: str | None = Field(None, min_length=16, description=f"or set {ADMIN_TOKEN_ENV}")
    sqlite_synchronous: str = Field("NORMAL", pattern="^(NORMAL|FULL)$")
    limits: ForumLimits = ForumLimits()
    events: ForumEvents = ForumEvents()


class IndexSettings(_Section):
    """The thread index: embeddings, their cache, and FAISS."""

    path: Path = Path("var/threads.index")
    cache_path: Path = Path("var/embeddings.sqlite")
    hnsw_threshold: int = Field(50_000, ge=1, description="threads past which exact search gives way to HNSW")
    hnsw_m: int = Field(32, ge=4, le=128)
    ef_construction: int = Field(80, ge=8)
    ef_search: int = Field(64, ge=8)
    batch_size: int = Field(16, ge=1, le=1024, description="texts per model call (ONNX: per length-sorted batch; "
                                                            "measured here: 8-16 best, 128 35% slower)")
    threads: int | None = Field(None, ge=1, description="threads for embedding; empty means the backend's default")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx", description="how the model runs: torch, or ONNX Runtime in fp32 (the vectors of torch, faster) or "
                            "int8 (2.2x torch, relevance within 0.002, but bank replies measurably less responsive); "
                            "exported once to onnx_dir")
    onnx_dir: Path = Field(Path("var/onnx"), description="where the ONNX exports of the model are kept")


class BotsSettings(_Section):
    """The synthetic participants."""

    personas_dir: Path | None = Field(None, description="folder of persona YAML files; empty means the ones shipped in bots/personas")

    def personas_path(self) -> Path:
        if self.personas_dir is not None:
            return self.personas_dir
        import bots

        return Path(bots.__file__).resolve().parent / "personas"


class ChatSettings(_Section):
    """Chatting with a persona over a web socket."""

    host: str = "127.0.0.1"
    port: int = Field(8766, ge=0, le=65535)
    max_chars: int = Field(2000, ge=10, description="longest message a client may send")
    max_frame_bytes: int = Field(16 * 1024, ge=1024)
    messages_per_minute: float = Field(30.0, gt=0)
    message_burst: int = Field(20, ge=1, description="messages a client may send back to back before the rate applies")


class LLMSettings(_Section):
    """An OpenAI-compatible chat-completions endpoint (llama.cpp server, vLLM, Ollama)."""

    url: str = "http://127.0.0.1:8080"
    model: str = "local-model"
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    api_key: str | None = Field(None, description=f"or set {LLM_KEY_ENV}")


class ReplySettings(_Section):
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


class RasaSettings(_Section):
    """The Rasa dialogue server murmur trains and runs."""

    url: str | None = Field(None, description="a Rasa server you run yourself; empty: murmur starts its own")
    venv: Path | None = Field(None, description="Rasa's virtual environment; empty means .venv-rasa in the project")

    def venv_path(self) -> Path:
        if self.venv is not None:
            return self.venv
        from bots.training import DEFAULT_VENV

        return DEFAULT_VENV
    model_dir: Path = Path("var/rasa-models")
    epochs: int = Field(30, ge=1, le=500)
    start_timeout_s: float = Field(180.0, gt=0)
    concurrency: int = Field(4, ge=1, le=64, description="turns in flight to one Rasa server")


class SwarmSettings(_Section):
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
    account_age_days: tuple[float, float] | None = Field(
        None, description="a bot account's age at its first post, drawn uniformly from [min, max] days; "
                          "empty: as old as the forum's people's accounts were at theirs")
    log_dir: Path = Field(Path("var/runs"), description="run logs (JSONL), one file per run id")


class Settings(_Section):
    """All of config.yml."""

    seed: int = 0
    forum: ForumSettings = ForumSettings()
    index: IndexSettings = IndexSettings()
    bots: BotsSettings = BotsSettings()
    chat: ChatSettings = ChatSettings()
    replies: ReplySettings = ReplySettings()
    rasa: RasaSettings = RasaSettings()
    swarm: SwarmSettings = SwarmSettings()


_HINTS = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
}


def _known_keys(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys a section accepts, found by walking the settings model along the error path."""
    for part in path[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: dict[str, Any], source: str) -> str:
    path = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        known = _known_keys(Settings, error["loc"])
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys here: {', '.join(known)}"
        return f"{source}: unknown key '{path}'; {hint}"
    hint = _HINTS.get(error["type"], "see the comments in config.yml for the allowed values")
    return f"{source}: {path}: {error['msg']} (got {error.get('input')!r}); {hint}"


def parse_settings(data: Any, source: str = "config.yml") -> Settings:
    """Validate an already-loaded mapping; every problem is reported, each with its dotted path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(e, source) for e in exc.errors())) from None


def _apply_environment(data: dict[str, Any]) -> dict[str, Any]:
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        forum = dict(data.get("forum") or {})
        forum["admin_token"] = token
        data = {**data, "forum": forum}
    key = os.environ.get(LLM_KEY_ENV)
    if key:
        replies = dict(data.get("replies") or {})
        replies["llm"] = {**dict(replies.get("llm") or {}), "api_key": key}
        data = {**data, "replies": replies}
    return data


def load_settings(path: Path | str | None = None) -> Settings:
    """Read config.yml (or ``$MURMUR_CONFIG``); a missing default file means all defaults."""
    explicit = path is not None or CONFIG_ENV in os.environ
    file = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    if not file.exists():
        if explicit:
            raise ConfigError(f"{file}: no such config file; create it or drop the option to use the defaults")
        data: Any = {}
    else:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of sections, got {type(data).__name__}")
    return parse_settings(_apply_environment(data), source=str(file))
