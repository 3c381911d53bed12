"""config.yml: defaults, and errors that name the key's dotted path with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from murmur.config import ConfigError, load_settings, parse_settings

ROOT = Path(__file__).resolve().parents[2]


def test_missing_default_file_means_all_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MURMUR_CONFIG", raising=False)
    settings = load_settings()
    assert settings.forum.port == 8765 and settings.forum.host == "127.0.0.1"


def test_shipped_config_matches_the_defaults():
    assert load_settings(ROOT / "config.yml") == parse_settings({})


@pytest.mark.parametrize("data, words", [
    ({"forum": {"limts": {}}}, ["forum.limts", "did you mean 'limits'"]),
    ({"forum": {"port": "http"}}, ["forum.port", "integer", "'http'"]),
    ({"forum": {"limits": {"post_max_chars": 0}}}, ["forum.limits.post_max_chars", "greater than or equal to 10"]),
    ({"forum": {"sqlite_synchronous": "OFF"}}, ["forum.sqlite_synchronous"]),
    ({"forum": {"admin_token": "short"}}, ["forum.admin_token", "at least 16"]),
    ({"nonsense": 1}, ["'nonsense'", "known keys here"]),
    ({"rasa": {"servers": 2, "url": "http://127.0.0.1:5005"}}, ["rasa", "servers:", "set servers: 1, or empty the URLs"]),
    ({"rasa": {"url": "http://a:1", "urls": ["http://b:1"]}}, ["urls:", "not both"]),
    ({"rasa": {"servers": 0}}, ["rasa.servers", "greater than or equal to 1"]),
    ([1, 2], ["top level must be a mapping"]),
])
def test_bad_settings_name_the_path_and_a_fix(data, words):
    with pytest.raises(ConfigError) as info:
        parse_settings(data)
    for word in words:
        assert word in str(info.value)


def test_yaml_errors_and_missing_explicit_files(tmp_path):
    bad = tmp_path / "config.yml"
    bad.write_text("forum: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.yml")


def test_admin_token_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MURMUR_ADMIN_TOKEN", "from-the-environment-123")
    config = tmp_path / "config.yml"
    config.write_text("forum:\n  port: 9000\n")
    settings = load_settings(config)
    assert settings.forum.admin_token == "from-the-environment-123" and settings.forum.port == 9000
