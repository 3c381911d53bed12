"""The Rasa NLU's act labels for the shipped reply bank, shipped with it (``data/derived/act-labels.json.gz``).

Reading ~10k bank texts with Rasa's NLU takes minutes on a first run, and gives the same labels for the same
model. The Rasa model's name is a fingerprint of everything it is trained from (``bots/dialogue/training.py``), so labels
made with a model of that name are used by a run whose Rasa server has a model of that name, and never by another
model. A file whose checksum or model does not match is refused once, with a warning naming the file and the fix,
and the labels are read from Rasa instead.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from core.shipped import DERIVED_DIR, ShippedFileRefused, checked, read_manifest, record, refused

log = logging.getLogger("murmur.bots")

LABELS_FILE = "act-labels.json.gz"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def bank_texts() -> list[str]:
    """Every text of the shipped corpus that a bank would have Rasa read, whichever threads a forum holds."""
    from bots.words.acts import labelled_texts
    from bots.words.bank import read_bank
    from conversations.importers import CORPUS_THREADS

    source = read_bank([CORPUS_THREADS])
    return sorted({text for reply in source.replies for text in labelled_texts(reply.text).values()})


def texts_digest(texts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(text_key(t) for t in texts)).encode()).hexdigest()


def write_labels(labels: dict[str, str], *, model: str, fingerprint: str, folder: Path = DERIVED_DIR) -> Path:
    """Write text -> intent for ``model`` as the shipped labels and list them in the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"model": model, "labels": dict(sorted((text_key(t), i) for t, i in labels.items()))},
                      separators=(",", ":")).encode("utf-8")
    tmp = folder / f".{LABELS_FILE}.tmp"
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
        handle.write(body)  # mtime 0: the same labels give the same bytes, and the same checksum
    tmp.replace(folder / LABELS_FILE)
    record(LABELS_FILE, {"model": model, "fingerprint": fingerprint, "count": len(labels),
                         "texts": texts_digest(labels)}, folder)
    return folder / LABELS_FILE


class ShippedLabels:
    """The shipped labels, read and checked on first use; ``for_model`` gives them only to the model they are of."""

    def __init__(self, folder: Path = DERIVED_DIR) -> None:
        self.folder = Path(folder)
        self.refusal: str | None = None
        self._model: str | None = None
        self._labels: dict[str, str] | None = None
        self._lock = threading.Lock()

    def for_model(self, model: str) -> dict[str, str]:
        """text key -> intent, when the labels were made with ``model`` (a Rasa model file's name); else empty."""
        self._load()
        return self._labels if self._model == Path(model).name else {}

    def get_many(self, model: str, texts: dict[tuple[int, str], str]) -> dict[tuple[int, str], str]:
        labels = self.for_model(model)
        if not labels:
            return {}
        found = {key: labels.get(text_key(text)) for key, text in texts.items()}
        return {key: intent for key, intent in found.items() if intent is not None}

    def _load(self) -> None:
        with self._lock:
            if self._labels is not None:
                return
            self._labels = {}
            try:
                self._model, self._labels = self._read()
            except ShippedFileRefused as exc:
                self.refusal = str(exc)
                log.warning("shipped act labels refused, reading them with Rasa instead: %s", exc)

    def _read(self) -> tuple[str | None, dict[str, str]]:
        if LABELS_FILE not in read_manifest(self.folder)["files"] and not (self.folder / LABELS_FILE).exists():
            return None, {}
        shipped = checked(LABELS_FILE, self.folder)
        try:
            with gzip.open(shipped.path, "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError, EOFError) as exc:
            raise refused(shipped.path, f"not act labels ({exc})") from None
        labels = data.get("labels") if isinstance(data, dict) else None
        if (not isinstance(labels, dict) or data.get("model") != shipped.entry.get("model")
                or len(labels) != shipped.entry.get("count")
                or not all(isinstance(v, str) for v in labels.values())):
            raise refused(shipped.path, "its labels or model do not match its manifest entry")
        return data["model"], labels


def labels_problems(model: str, fingerprint: str, folder: Path = DERIVED_DIR) -> list[str]:
    """Why the shipped labels are not what this checkout's Rasa model would give (empty: they are), without
    reading a text: the model's fingerprint and the exact set of bank texts."""
    try:
        entry = checked(LABELS_FILE, folder).entry
    except ShippedFileRefused as exc:
        return [str(exc)]
    problems = []
    if entry.get("model") != model or entry.get("fingerprint") != fingerprint:
        problems.append(f"{LABELS_FILE} was read by the Rasa model {entry.get('model')}; bots/dialogue/rasa, rasa.epochs and "
                        f"the Rasa release now make {model}")
    if entry.get("texts") != texts_digest(bank_texts()):
        problems.append(f"{LABELS_FILE} was read from other bank texts than the shipped corpus gives now")
    return problems
