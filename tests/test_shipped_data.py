"""The files in data/derived are what this checkout would compute: else this fails and names the command that
rebuilds them (`murmur data refresh`)."""

from __future__ import annotations

import json
import shutil

from core.shipped import DERIVED_DIR, MANIFEST, REFRESH
from murmur.config import parse_settings
from murmur.shipped_data import check_shipped


def test_shipped_files_match_the_corpus_the_model_and_the_rasa_project():
    lines = check_shipped(parse_settings({}))
    stale = [line for line in lines if not line.startswith("ok:")]
    assert len(lines) == 2 and not stale, "\n".join(stale)


def test_a_stale_file_is_named_with_the_command_that_rebuilds_it(tmp_path):
    folder = tmp_path / "derived"
    shutil.copytree(DERIVED_DIR, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    for entry in manifest["files"].values():
        if "sources" in entry:
            entry["sources"] = {name: "0" * 64 for name in entry["sources"]}  # made from another corpus
        else:
            entry["fingerprint"] = "0" * 64  # read by another Rasa model
    (folder / MANIFEST).write_text(json.dumps(manifest))
    lines = check_shipped(parse_settings({}), folder)
    assert [line.split(":")[0] for line in lines] == ["stale", "stale"]
    assert "other versions of the shipped corpus" in lines[0] and f"`{REFRESH} --no-labels`" in lines[0]
    assert "Rasa model" in lines[1] and f"`{REFRESH} --no-vectors`" in lines[1]
