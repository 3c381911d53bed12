"""The project stands on its own: a clone carries the data it needs, and nothing reads outside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conversations.importers import CORPUS_DISTRACTORS, CORPUS_THREADS, DUMPS_DIR

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = "../" + "shared"  # spelled in two parts so that this file does not name it
DOCUMENTATION = (".md",)


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_outside_documentation_names_the_folder_beside_the_project():
    offenders = []
    for path in tracked_files():
        if path.suffix in DOCUMENTATION or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (the gzipped corpus)
        if OUTSIDE in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"these files name {OUTSIDE}; read the shipped copy under data/ instead"


def test_the_shipped_data_and_its_licence_are_tracked():
    tracked = {str(p.relative_to(ROOT)) for p in tracked_files()}
    for path in (CORPUS_THREADS, CORPUS_DISTRACTORS, CORPUS_THREADS.with_name("ATTRIBUTION.md"),
                 ROOT / "data" / "README.md"):
        assert str(path.relative_to(ROOT)) in tracked
    for site in ("askubuntu", "beer.meta"):
        assert f"data/stackexchange-dumps/{site}/Posts.xml" in tracked
    assert "CC BY-SA" in (ROOT / "data" / "README.md").read_text(encoding="utf-8")
