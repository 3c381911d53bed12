"""Persona files: the shipped ones load, and bad ones fail naming file, key and fix."""

from __future__ import annotations

import pytest
import yaml

from bots.personas import PersonaError, load_persona, load_personas
from tests.conftest import ROOT

GOOD = {"name": "tester", "bio": "A persona used in a test.", "interests": ["testing things"]}


def test_shipped_personas_load_and_differ():
    personas = load_personas(ROOT / "bots" / "personas")
    assert len(personas) >= 8
    assert len({p.style.tone for p in personas}) == 3
    assert len({p.schedule.timezone for p in personas}) >= 6
    assert len({p.style.signature for p in personas}) >= 3
    assert all(p.disclose_when_asked for p in personas)
    assert len({p.interests[0] for p in personas}) == len(personas)


def _write(tmp_path, data, name="tester"):
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(data) if isinstance(data, dict) else data)
    return path


@pytest.mark.parametrize("change, words", [
    ({"intrests": ["x"]}, ["unknown key 'intrests'", "did you mean 'interests'"]),
    ({"interests": []}, ["interests", "at least 1"]),
    ({"bio": None}, ["bio"]),
    ({"style": {"tone": "sarcastic"}}, ["style.tone", "'casual', 'formal' or 'technical'"]),
    ({"style": {"length": {"min_words": 90, "max_words": 10}}}, ["style.length", "more than max_words"]),
    ({"style": {"typos": 0.9}}, ["style.typos", "less than or equal to 0.2"]),
    ({"style": {"emojis": 0.1}}, ["unknown key 'style.emojis'", "did you mean 'emoji'"]),
    ({"schedule": {"timezone": "Mars/Olympus"}}, ["schedule.timezone", "IANA"]),
    ({"schedule": {"active_hours": [25, 3]}}, ["schedule.active_hours", "between 0 and 24"]),
    ({"stance": [{"topic": "tea", "position": "maybe"}]}, ["stance.0.position", "'for' or 'against'"]),
    ({"disclose_when_asked": "sometimes"}, ["disclose_when_asked", "boolean"]),
])
def test_bad_persona_files_name_file_key_and_fix(tmp_path, change, words):
    path = _write(tmp_path, {**GOOD, **change})
    with pytest.raises(PersonaError) as info:
        load_persona(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_name_must_match_file_and_yaml_must_parse(tmp_path):
    with pytest.raises(PersonaError, match="differs from the file name"):
        load_persona(_write(tmp_path, GOOD, name="other"))
    with pytest.raises(PersonaError, match="not valid YAML"):
        load_persona(_write(tmp_path, "name: [oops\n"))
    with pytest.raises(PersonaError, match="no persona files"):
        load_personas(tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None
    assert load_persona(_write(tmp_path, GOOD)).disclose_when_asked is True  # honest by default
