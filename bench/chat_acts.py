"""Chat acts, measured by hand: `.venv/bin/python bench/chat_acts.py [--url URL] [--split tune|held_out|both]`.

How the bots' Rasa NLU reads what a person types to a persona in a one-to-one chat: every message of
``bots/chat/chat_acts.yml`` goes through a Rasa server's ``/model/parse``, and the intent it reads there
(``intent.name``, or ``nlu_fallback``) is set against the intent the message was labelled with. Per
split it prints the accuracy, a per-intent table (support, precision, recall), every misread message
(text, wanted, read, confidence) and, for both splits, the overall numbers.

The training data (``bots/dialogue/rasa/data/nlu.yml``) was written in a forum's register; a chat window is
where the persona answers one person, so this is the check that the rules in ``bots/dialogue/rasa/data/rules.yml``
get the turn they were written for. ``tune`` is the split to look at when adding training examples;
``held_out`` only reports, so it says how the model reads messages nobody tuned it on.

Without ``--url`` it starts its own Rasa server on the model ``murmur train`` keeps in var/rasa-models
(an up-to-date model is reused, a missing one is trained first, about a minute). ``load_chat_acts``
and ``measure`` need neither Rasa nor a server, so a test can load this file with ``importlib``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

CHAT_ACTS = ROOT / "bots" / "chat" / "chat_acts.yml"
RASA_PROJECT = ROOT / "bots" / "dialogue" / "rasa"  # bots.dialogue.training.RASA_DIR, without importing the training code
SPLITS = ("tune", "held_out")
FALLBACK = "nlu_fallback"

Reading = str | tuple  # an intent, or (intent, confidence) or (intent, confidence, note)


def normalized(text: str) -> str:
    """Lowercase words without punctuation: the whitespace tokenizer drops punctuation, so "hi there" and
    "Hi there!" are one training example to the model, and one message here."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def nlu_examples(path: Path | None = None) -> dict[str, str]:
    """normalized example -> intent, for every intent example in the NLU training data."""
    data = yaml.safe_load(Path(path or RASA_PROJECT / "data" / "nlu.yml").read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for entry in data.get("nlu") or []:
        if not isinstance(entry, dict) or "intent" not in entry:
            continue  # regex and lookup entries are features, not examples
        for line in str(entry.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                out[normalized(line[2:])] = entry["intent"]
    return out


def domain_intents(path: Path | None = None) -> set[str]:
    data = yaml.safe_load(Path(path or RASA_PROJECT / "domain.yml").read_text(encoding="utf-8")) or {}
    return {next(iter(i)) if isinstance(i, dict) else str(i) for i in data.get("intents") or []}


def load_chat_acts(path: Path | str | None = None, *, nlu_path: Path | None = None,
                   domain_path: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """split -> [(text, intent)], checked: both splits there, every intent one of the domain's, no message
    twice, and none in the NLU training data.

    The last is an assertion on purpose: a message the model was trained on measures its memory, not how
    it reads people. A misread in ``tune`` is fixed by new examples of its pattern, never by the message.
    """
    path = Path(path or CHAT_ACTS)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping with {' and '.join(SPLITS)}")
    known = domain_intents(domain_path)
    out: dict[str, list[tuple[str, str]]] = {}
    seen: dict[str, str] = {}
    for split in SPLITS:
        items = data.get(split)
        if not isinstance(items, list) or not items:
            raise ValueError(f"{path}: `{split}` must be a non-empty list of {{text, intent}}")
        out[split] = []
        for n, item in enumerate(items):
            if not (isinstance(item, dict) and isinstance(item.get("text"), str)
                    and isinstance(item.get("intent"), str)):
                raise ValueError(f"{path}: {split}[{n}] must be {{text: ..., intent: ...}}, got {item!r}")
            text, intent = item["text"].strip(), item["intent"]
            if intent not in known:
                raise ValueError(f"{path}: {split}[{n}] {text!r}: {intent!r} is not an intent of the domain")
            key = normalized(text)
            if key in seen:
                raise ValueError(f"{path}: {split}[{n}] {text!r} is already in {seen[key]}")
            seen[key] = split
            out[split].append((text, intent))
    trained = nlu_examples(nlu_path)
    leaked = [f"{text!r} ({split})" for split, items in out.items() for text, _ in items if normalized(text) in trained]
    if leaked:
        raise AssertionError(f"{len(leaked)} chat act(s) are NLU training examples too, so they measure nothing: "
                             + ", ".join(leaked))
    return out


def _reading(read: Reading) -> tuple[str, float | None, str | None]:
    if isinstance(read, str):
        return read, None, None
    intent, confidence, note = (tuple(read) + (None, None))[:3]
    return str(intent), None if confidence is None else float(confidence), note


def measure(parse: Callable[[list[str]], Sequence[Reading]], items: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """How ``parse`` reads ``items`` ([(text, wanted intent)]): accuracy, per-intent support/precision/recall,
    and every misread message.

    ``parse`` takes the texts and gives one reading each: the intent, or (intent, confidence[, note]) where
    the reader knows more. It is any callable, so this is testable without Rasa. Precision is None for an
    intent nothing was read as, recall None for one no message wanted (e.g. ``nlu_fallback``).
    """
    items = list(items)
    readings = [_reading(r) for r in parse([text for text, _ in items])]
    if len(readings) != len(items):
        raise ValueError(f"parse gave {len(readings)} readings for {len(items)} texts")
    wanted = Counter(want for _, want in items)
    read_as = Counter(read for read, _, _ in readings)
    hits = Counter(want for (_, want), (read, _, _) in zip(items, readings) if read == want)
    per_intent = {}
    for intent in sorted(set(wanted) | set(read_as)):
        per_intent[intent] = {
            "support": wanted[intent], "read": read_as[intent], "correct": hits[intent],
            "precision": hits[intent] / read_as[intent] if read_as[intent] else None,
            "recall": hits[intent] / wanted[intent] if wanted[intent] else None}
    misread = [{"text": text, "wanted": want, "read": read, "confidence": confidence, "note": note}
               for (text, want), (read, confidence, note) in zip(items, readings) if read != want]
    correct = sum(hits.values())
    return {"n": len(items), "correct": correct, "accuracy": correct / len(items) if items else None,
            "per_intent": per_intent, "misread": misread,
            "confusions": Counter((m["wanted"], m["read"]) for m in misread).most_common()}


async def read_with_rasa(url: str, texts: Sequence[str], concurrency: int = 4) -> tuple[str | None, dict[str, tuple]]:
    """(the server's model file, text -> (intent, confidence, note)) from ``/model/parse``; for a fallback the
    note is the best intent under the fallback threshold, which is what a tuner wants to see."""
    from bots.words.acts import intent_of, model_of, parse_all
    from bots.errors import RasaError

    url = url.rstrip("/")
    try:
        model: str | None = await model_of(url)
    except RasaError:
        model = None  # the parse below says what is wrong with the server
    unique = list(dict.fromkeys(texts))
    out: dict[str, tuple] = {}
    for text, data in (await parse_all(url, [(t, t) for t in unique], concurrency)).items():
        name = intent_of(data)
        note = None
        if name == FALLBACK:
            below = [r for r in data.get("intent_ranking") or [] if r.get("name") not in (None, FALLBACK)]
            if below:
                note = f"best {below[0]['name']} {float(below[0].get('confidence') or 0):.2f}"
        out[text] = (name, (data.get("intent") or {}).get("confidence"), note)
    return model, out


async def read_with_own_server(texts: Sequence[str], tmp: Path) -> tuple[str | None, dict[str, tuple]]:
    """The model `murmur train` keeps (trained now if missing), served by a Rasa server of our own."""
    from bots.dialogue.server import RasaServer
    from bots.dialogue.training import RASA_DIR, rasa_bin_in, train_model
    from murmur.config import parse_settings

    settings = parse_settings({})  # murmur's defaults: the model `murmur train` keeps
    rasa_bin = rasa_bin_in(ROOT / settings.rasa.venv_path())  # relative paths are the project's
    print("model: checking var/rasa-models (a missing model is trained now, about a minute) ...", flush=True)
    trained = await asyncio.to_thread(train_model, RASA_DIR, ROOT / settings.rasa.model_dir,
                                      epochs=settings.rasa.epochs, rasa_bin=rasa_bin)
    async with RasaServer(trained.model_path, action_url="http://127.0.0.1:9/unused", rasa_bin=rasa_bin,
                          log_path=tmp / "rasa-parse.log") as server:
        return await read_with_rasa(server.url, texts)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(name: str, result: dict[str, Any]) -> None:
    title = f"{name}: {result['correct']}/{result['n']} read as labelled, accuracy {_fmt(result['accuracy'])}"
    print(f"\n{title}\n" + "-" * len(title))
    print(f"{'intent':<16} {'support':>7} {'read as':>7} {'precision':>9} {'recall':>6}")
    for intent, row in result["per_intent"].items():
        print(f"{intent:<16} {row['support']:>7} {row['read']:>7} {_fmt(row['precision']):>9} {_fmt(row['recall']):>6}")
    if not result["misread"]:
        print("no message misread")
        return
    print(f"misread ({len(result['misread'])}): wanted -> read (confidence): text")
    for m in sorted(result["misread"], key=lambda m: (m["wanted"], m["read"])):
        note = f", {m['note']}" if m["note"] else ""
        print(f"  {m['wanted']} -> {m['read']} ({_fmt(m['confidence'])}{note}): {m['text']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="a Rasa server run with --enable-api; default: start one")
    parser.add_argument("--split", choices=(*SPLITS, "both"), default="both")
    parser.add_argument("--set", type=Path, default=CHAT_ACTS, help="the labelled messages (bots/chat/chat_acts.yml)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    acts = load_chat_acts(args.set)
    splits = list(SPLITS) if args.split == "both" else [args.split]
    texts = [text for split in splits for text, _ in acts[split]]
    if args.url:
        model, read = asyncio.run(read_with_rasa(args.url, texts))
    else:
        with tempfile.TemporaryDirectory(prefix="murmur-bench-chat-acts-") as tmp:
            model, read = asyncio.run(read_with_own_server(texts, Path(tmp)))
    print(f"model: {model or 'unknown'}; {len(texts)} chat messages from {args.set}")

    def parse(batch: list[str]) -> list[tuple]:
        return [read[t] for t in batch]

    from bots.words.acts import chat_reading

    def parse_in_chat(batch: list[str]) -> list[tuple]:
        """What a one-to-one chat acts on: the NLU's reading through bots.words.acts.chat_reading."""
        return [(chat_reading(t, read[t][0]), *read[t][1:]) for t in batch]

    results = {}
    for reader, name in ((parse, "the NLU"), (parse_in_chat, "the chat (NLU, then bots.words.acts.chat_reading)")):
        print(f"\n=== as read by {name}")
        key = "" if reader is parse else "chat:"
        for split in splits:
            results[key + split] = measure(reader, acts[split])
            report(split, results[key + split])
        if len(splits) > 1:
            results[key + "overall"] = measure(reader, [item for split in splits for item in acts[split]])
            report("overall", results[key + "overall"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": model, "results": results}, indent=1), encoding="utf-8")
        print(f"\nnumbers: {args.json}")


if __name__ == "__main__":
    main()
