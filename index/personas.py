"""Reading what matching needs of personas (name, bio, interests) from YAML files.

The persona format as a whole belongs to bots/; this reads only its matching
fields, so index/ does not depend on bots/. Errors name the file, the key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from index.errors import IndexFailure
from index.matching import PersonaProfile


class PersonaFileError(IndexFailure):
    """A persona file that cannot be read."""


def _profile(data: Any, where: str) -> PersonaProfile:
    if not isinstance(data, dict):
        raise PersonaFileError(f"{where}: a persona must be a mapping with name, bio and interests")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PersonaFileError(f"{where}: name: missing or empty; give the persona a name")
    interests = data.get("interests")
    if not isinstance(interests, list) or not interests or not all(isinstance(i, str) and i.strip() for i in interests):
        raise PersonaFileError(f"{where}: interests: must be a non-empty list of phrases, e.g. ['espresso extraction']")
    bio = data.get("bio", "")
    if not isinstance(bio, str):
        raise PersonaFileError(f"{where}: bio: must be text")
    return PersonaProfile(name.strip(), tuple(i.strip() for i in interests), bio.strip())


def load_profiles(path: Path) -> list[PersonaProfile]:
    """A folder of persona YAML files (one each), or one YAML file holding a list of personas."""
    path = Path(path)
    if not path.exists():
        raise PersonaFileError(f"{path}: no such persona file or folder; point --personas (or bots.personas_dir) at one")
    files = sorted(path.glob("*.yml")) + sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    profiles: list[PersonaProfile] = []
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise PersonaFileError(f"{file}: not valid YAML ({exc})") from None
        entries = data if isinstance(data, list) else [data]
        profiles.extend(_profile(entry, f"{file}" + (f"[{i}]" if isinstance(data, list) else "")) for i, entry in enumerate(entries))
    if not profiles:
        raise PersonaFileError(f"{path}: no personas found; add YAML files with name, bio and interests")
    names = [p.name for p in profiles]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PersonaFileError(f"{path}: persona names must be unique; repeated: {', '.join(duplicates)}")
    return profiles
