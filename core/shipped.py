"""Files the project ships beside its data, computed once from it (``data/derived/``), each checked before use.

A first run on a fresh machine would otherwise embed every corpus text and read every bank reply with Rasa's
NLU: minutes of work whose result is the same everywhere. The files are listed in one manifest
(``manifest.json``) with their sha256 and what they were made from; a file is used only when its checksum
matches, so a damaged or changed file is refused (``ShippedFileRefused``, naming the file and the fix) and the
caller computes instead. Nothing wrong is ever used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import MurmurError
from core.files import sha256_of

DERIVED_DIR = Path(__file__).resolve().parent.parent / "data" / "derived"
MANIFEST = "manifest.json"
FORMAT = 1
REFRESH = "murmur data refresh"
_FIX = f"run `{REFRESH}` to rebuild it, or `git checkout -- data/derived` to restore the shipped one"


class ShippedFileRefused(MurmurError):
    """A shipped file is missing from its manifest, damaged, or not for this model: never used."""


@dataclass(frozen=True)
class ShippedFile:
    path: Path
    entry: dict[str, Any]  # the manifest's record of it: sha256 and what it was made from


def read_manifest(folder: Path = DERIVED_DIR) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": FORMAT, "files": {}}
    except (OSError, ValueError) as exc:
        raise ShippedFileRefused(f"{path}: unreadable ({exc}); {_FIX}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ShippedFileRefused(f"{path}: not a manifest of format {FORMAT}; {_FIX}")
    return manifest


def checked(name: str, folder: Path = DERIVED_DIR) -> ShippedFile:
    """The shipped file ``name`` and its manifest entry, once its sha256 matches the manifest's."""
    folder = Path(folder)
    entry = read_manifest(folder)["files"].get(name)
    path = folder / name
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise ShippedFileRefused(f"{path}: not listed in {folder / MANIFEST}; {_FIX}")
    if not path.is_file():
        raise ShippedFileRefused(f"{path}: missing, though {folder / MANIFEST} lists it; {_FIX}")
    if sha256_of(path) != entry["sha256"]:
        raise ShippedFileRefused(f"{path}: its sha256 does not match {folder / MANIFEST} (damaged or changed); {_FIX}")
    return ShippedFile(path, entry)


def refused(path: Path, problem: str) -> ShippedFileRefused:
    """The error for a file whose checksum matched but whose content cannot be what it claims."""
    return ShippedFileRefused(f"{path}: {problem}; {_FIX}")


def record(name: str, entry: dict[str, Any], folder: Path = DERIVED_DIR) -> None:
    """List ``name`` (already written in ``folder``) in the manifest with its sha256, written atomically."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    manifest["files"][name] = {**entry, "sha256": sha256_of(folder / name)}
    manifest["files"] = dict(sorted(manifest["files"].items()))
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(folder / MANIFEST)
