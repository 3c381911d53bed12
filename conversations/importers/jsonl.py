"""murmur's JSONL thread format: one thread a line.

    {"thread_id": str, "title": str, "tags": [str] (optional), "source_url": str (optional),
     "posts": [{"post_id": str, "author": str, "author_name": str | null (optional),
                "created_at": ISO-8601, "body": str, "parent_id": str | null (optional)}, ...]}

``posts[0]`` opens the thread; ``parent_id`` names an earlier post of the same
thread (a reply to the opening post may also leave it null). Ids are the
record's identity: importing the same file twice adds nothing. Other keys
(``site``, ``type``, ``score``, ``license``, ...) are allowed and ignored, so
the Stack Exchange corpus in ``data/forum-corpus`` reads as it is. A file
ending in ``.jsonl.gz`` is read through gzip, so the shipped corpus is read
as it ships.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from conversations.errors import InvalidInput
from conversations.models import ImportedPost, ImportedThread, format_time, parse_time


SUFFIXES = (".jsonl", ".jsonl.gz")


def is_jsonl(path: Path) -> bool:
    """A murmur JSONL file, plain or gzipped, by its name."""
    return Path(path).name.endswith(SUFFIXES)


def open_jsonl(path: Path) -> IO[str]:
    """A JSONL file as text, through gzip when its name ends in ``.gz``."""
    path = Path(path)
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _unreadable(path: Path, exc: Exception) -> InvalidInput:
    return InvalidInput(str(path), f"cannot be read ({exc}); give a murmur JSONL file (.jsonl or .jsonl.gz)")


def count_lines(path: Path) -> int:
    try:
        with open_jsonl(path) as handle:
            return sum(1 for line in handle if line.strip())
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None


def _text(record: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{where}.{key}", f"must be a non-empty string, got {value!r}")
    return value


def parse_thread(record: Any, where: str) -> ImportedThread:
    """One JSONL record as an ImportedThread; ``where`` (file:line) prefixes every error."""
    if not isinstance(record, dict):
        raise InvalidInput(where, "each line must be a JSON object (one thread)")
    thread_id = _text(record, "thread_id", where)
    posts = record.get("posts")
    if not isinstance(posts, list) or not posts:
        raise InvalidInput(f"{where}.posts", "must be a non-empty list; posts[0] opens the thread")
    tags = [] if record.get("tags") is None else record["tags"]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(f"{where}.tags", "must be a list of strings")
    parsed = []
    for index, post in enumerate(posts):
        at = f"{where}.posts[{index}]"
        if not isinstance(post, dict):
            raise InvalidInput(at, "must be an object")
        created = _text(post, "created_at", at)
        try:
            created_at = format_time(parse_time(created))
        except ValueError:
            raise InvalidInput(f"{at}.created_at", f"not an ISO-8601 time: {created!r}") from None
        parent = _text(post, "parent_id", at, required=False)
        parsed.append(ImportedPost(
            external_id=_text(post, "post_id", at),
            author_external_id=_text(post, "author", at),
            author_name=_text(post, "author_name", at, required=False),
            created_at=created_at,
            body=_text(post, "body", at),
            parent_external_id=None if index == 0 else parent,
        ))
    return ImportedThread(
        external_id=thread_id,
        title=_text(record, "title", where),
        posts=tuple(parsed),
        tags=tuple(t.lower() for t in tags),
        source_url=_text(record, "source_url", where, required=False),
    )


def read_files(paths: Iterable[Path]) -> Iterator[ImportedThread]:
    for path in paths:
        for where, record in read_records(path):
            yield parse_thread(record, where)


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Each line's JSON value with where it is (``file:line``); unreadable files and bad JSON name the place."""
    path = Path(path)
    try:
        with open_jsonl(path) as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path.name}:{number}"
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(where, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
