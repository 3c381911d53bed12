"""The shipped act labels (data/derived): the session's own Rasa model's, used only for that model, and refused
(then read from Rasa) when damaged."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from pathlib import Path

import pytest

from bots.words.acts import ActLabels, labelled_texts
from bots.words.shipped_acts import LABELS_FILE, ShippedLabels
from core.shipped import DERIVED_DIR, MANIFEST, REFRESH

SESSION = pytest.mark.asyncio(loop_scope="session")
SAMPLE = 120  # replies (about 200 texts): a few seconds of Rasa's NLU


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "derived"
    folder.mkdir()
    for name in (MANIFEST, LABELS_FILE):
        shutil.copy(DERIVED_DIR / name, folder / name)
    return folder


def shipped_model() -> str:
    return json.loads((DERIVED_DIR / MANIFEST).read_text())["files"][LABELS_FILE]["model"]


def test_labels_are_given_only_to_the_model_that_read_them(copy):
    labels = ShippedLabels(copy)
    assert len(labels.for_model(shipped_model())) > 5000
    assert labels.for_model(f"/some/folder/{shipped_model()}") == labels.for_model(shipped_model())
    assert labels.for_model("murmur-0000000000000000.tar.gz") == {} and labels.refusal is None


def test_a_damaged_labels_file_is_refused_with_the_file_and_the_fix(copy, caplog):
    path = copy / LABELS_FILE
    body = json.loads(gzip.decompress(path.read_bytes()))
    key = next(iter(body["labels"]))
    body["labels"][key] = "agree" if body["labels"][key] != "agree" else "disagree"  # one label changed
    path.write_bytes(gzip.compress(json.dumps(body).encode()))
    labels = ShippedLabels(copy)
    with caplog.at_level(logging.WARNING, logger="murmur.bots"):
        assert labels.for_model(shipped_model()) == {}
    assert str(path) in labels.refusal and "sha256 does not match" in labels.refusal and REFRESH in labels.refusal
    assert "reading them with Rasa instead" in caplog.text


def test_a_labels_file_whose_contents_do_not_match_its_entry_is_refused(copy):
    from bots.words.shipped_acts import write_labels

    write_labels({"a reply": "agree"}, model="murmur-0000000000000000.tar.gz", fingerprint="0" * 64, folder=copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["files"][LABELS_FILE]["count"] = 2
    (copy / MANIFEST).write_text(json.dumps(manifest))
    labels = ShippedLabels(copy)
    assert labels.for_model("murmur-0000000000000000.tar.gz") == {}
    assert "do not match its manifest entry" in labels.refusal


@SESSION
async def test_shipped_labels_are_what_the_sessions_model_reads(corpus_source, rasa_server, rasa_model):
    """The model this session trained has the shipped labels' name, and reads the bank as they say it does."""
    assert rasa_model.model_path.name == shipped_model(), f"the shipped labels are stale: run `{REFRESH} --no-vectors`"
    source, _ = corpus_source
    replies = source.replies[::len(source.replies) // SAMPLE][:SAMPLE]
    read: list[int] = []
    shipped = await ActLabels.by_rasa(replies, rasa_server.url, cache_path=None, progress=read.append)
    assert sum(read) == len(shipped.labels) and read.count(1) == 0  # every label shipped, none read now
    fresh = await ActLabels.by_rasa(replies, rasa_server.url, cache_path=None, shipped=None)
    assert shipped.labels.keys() == fresh.labels.keys() and len(fresh.labels) > SAMPLE // 2
    agree = sum(shipped.labels[k] == fresh.labels[k] for k in fresh.labels) / len(fresh.labels)
    print(f"\nshipped labels agree with this session's model on {agree:.1%} of {len(fresh.labels)} texts")
    assert agree >= 0.97


@SESSION
async def test_refused_labels_are_read_from_rasa(copy, corpus_source, rasa_server):
    (copy / LABELS_FILE).write_bytes(b"not gzip")
    source, _ = corpus_source
    replies = source.replies[:20]
    read: list[int] = []
    labels = await ActLabels.by_rasa(replies, rasa_server.url, cache_path=None, shipped=ShippedLabels(copy),
                                     progress=read.append)
    wanted = {(reply.id, kind) for reply in replies for kind in labelled_texts(reply.text)}
    assert labels.labels.keys() == wanted and read.count(1) == len(wanted)  # every one read by Rasa now
