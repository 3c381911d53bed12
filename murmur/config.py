"""config.yml: parsed once into typed settings, composed from the sections each package owns.

Every setting has a default, so a missing config.yml works. Unknown keys,
wrong types and bad values fail at start with the key's dotted path and a
hint. Secrets can come from the environment instead of the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bots.settings import (LLM_KEY_ENV, BotsSettings, ChatSettings, LLMSettings, RasaSettings, ReplySettings,
                           SwarmSettings)
from conversations.settings import ADMIN_TOKEN_ENV, ForumEvents, ForumLimits, ForumSettings
from core.errors import ConfigError
from core.settings import Section
from core.validation import explain
from index.settings import IndexSettings

__all__ = ["ADMIN_TOKEN_ENV", "BotsSettings", "ChatSettings", "ConfigError", "ForumEvents", "ForumLimits",
           "ForumSettings", "IndexSettings", "LLMSettings", "LLM_KEY_ENV", "RasaSettings", "ReplySettings", "Settings",
           "SwarmSettings", "load_settings", "parse_settings"]

CONFIG_ENV = "MURMUR_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.yml")
CONFIG_FIX = "see the comments in config.yml for the allowed values"


class Settings(Section):
    """All of config.yml."""

    seed: int = 0
    forum: ForumSettings = ForumSettings()
    index: IndexSettings = IndexSettings()
    bots: BotsSettings = BotsSettings()
    chat: ChatSettings = ChatSettings()
    replies: ReplySettings = ReplySettings()
    rasa: RasaSettings = RasaSettings()
    swarm: SwarmSettings = SwarmSettings()


def parse_settings(data: Any, source: str = "config.yml") -> Settings:
    """Validate an already-loaded mapping; every problem is reported, each with its dotted path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(explain(e, Settings, fix=CONFIG_FIX).line(source) for e in exc.errors())) from None


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
