"""The reply bank: pairs read with the importers, disjoint from the forum, refused clearly when it cannot be used."""

from __future__ import annotations

import gzip
import json

import pytest

from bots.words.bank import ReplyBank, read_bank, runs
from bots.errors import BankError
from conversations.importers import DUMPS_DIR

QUESTION = "My espresso shots run fast and taste sour even with fresh beans. What should I change first?"
ANSWER = "Grind finer until a double takes about thirty seconds, and keep the dose the same while you change it."
COMMENT = "Thanks, grinding finer fixed it. The shot now takes twenty eight seconds and tastes sweet."


def _thread(number: int, title: str, posts: list[tuple[str, str | None]]) -> dict:
    """posts: (body, parent post id or None); ids are site:number*10+i."""
    return {"thread_id": f"coffee:{number}", "title": title, "tags": ["espresso"], "posts": [
        {"post_id": f"coffee:{number * 10 + i}", "author": f"coffee:{i}", "created_at": f"2015-01-0{i + 1}T10:00:00Z",
         "body": body, "parent_id": parent} for i, (body, parent) in enumerate(posts)]}


def _write(path, threads: list[dict]) -> None:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for thread in threads:
            handle.write(json.dumps(thread) + "\n")


@pytest.fixture
def bank_file(tmp_path):
    path = tmp_path / "bank.jsonl.gz"
    _write(path, [
        _thread(1, "Sour espresso shots", [(QUESTION, None), (ANSWER, "coffee:10"), (COMMENT, "coffee:11")]),
        _thread(2, "How long do beans keep?", [("How many weeks after roasting are beans still good for espresso?", None),
                                                ("About a month after roasting, kept airtight and out of the light.",
                                                 "coffee:20")]),
    ])
    return path


def test_replies_are_paired_with_the_post_they_answered(bank_file):
    source = read_bank([bank_file])
    assert [t.external_id for t in source.threads] == ["coffee:1", "coffee:2"]
    assert [t.site for t in source.threads] == ["coffee", "coffee"]
    by_post = {r.post_id: r for r in source.replies}
    assert by_post["coffee:11"].context == QUESTION and by_post["coffee:11"].text == ANSWER  # answer -> question
    assert by_post["coffee:12"].context == ANSWER and by_post["coffee:12"].text == COMMENT  # comment -> its answer
    assert by_post["coffee:21"].thread == 1 and not by_post["coffee:21"].asks


def test_threads_the_forum_holds_are_left_out(bank_file):
    held = read_bank([bank_file], forum_posts=["  my espresso SHOTS run fast and taste sour even with fresh beans.  "
                                               "What should I change first?"])
    assert held.skipped_threads == 1 and [t.external_id for t in held.threads] == ["coffee:2"]
    by_title = read_bank([bank_file], forum_titles=["how long do beans KEEP?"])
    assert by_title.skipped_threads == 1 and [t.external_id for t in by_title.threads] == ["coffee:1"]
    with pytest.raises(BankError, match=r"hold no replies.*2 threads are in the forum already"):
        read_bank([bank_file], forum_titles=["Sour espresso shots", "How long do beans keep?"])


def test_a_stack_exchange_dump_is_a_bank_too():
    source = read_bank([DUMPS_DIR / "beer.meta"])
    assert len(source.threads) > 30 and len(source.replies) > len(source.threads)
    assert {t.site for t in source.threads} == {"beer.meta"}


@pytest.mark.parametrize("make, words", [
    (lambda tmp: tmp / "missing.jsonl", ["missing.jsonl does not exist", "replies.bank"]),
    (lambda tmp: _empty(tmp), ["hold no replies", "empty.jsonl"]),
    (lambda tmp: _broken(tmp), ["broken.jsonl.gz", "cannot be read", "remove it from replies.bank"]),
    (lambda tmp: _bad_line(tmp), ["bad.jsonl:1", "posts"]),
])
def test_a_bank_that_cannot_be_used_is_refused_with_the_file_the_problem_and_the_fix(tmp_path, make, words):
    with pytest.raises(BankError) as info:
        read_bank([make(tmp_path)])
    for word in words:
        assert word in str(info.value)
    with pytest.raises(BankError, match="no bank files"):
        read_bank([])


def _empty(tmp):
    path = tmp / "empty.jsonl"
    _write(path, [_thread(1, "Only a question", [("Is anyone here?", None)])])
    return path


def _broken(tmp):
    path = tmp / "broken.jsonl.gz"
    path.write_bytes(b"definitely not gzip")
    return path


def _bad_line(tmp):
    path = tmp / "bad.jsonl"
    path.write_text('{"thread_id": "x:1", "title": "t", "posts": []}\n', encoding="utf-8")
    return path


def test_runs_count_words_as_the_copy_detectors_do():
    assert runs("one two three four five six seven") == []
    assert len(runs("One, two; three four five six seven EIGHT nine")) == 2
    assert runs("one two three four five six seven eight") == runs("ONE two, three four five six seven eight!")


def test_a_reply_repeated_in_the_forum_is_never_used(bank_file, embedder):
    bank = ReplyBank(read_bank([bank_file]), embedder)
    assert len(bank) == 3 and bank.used == set()
    assert bank.reply_vectors.shape == (3, embedder.dims) and bank.thread_vectors.shape == (2, embedder.dims)
    seven = " ".join(ANSWER.split()[:7])
    assert bank.observe([f"Someone wrote: {seven} and more"]) == 0 and bank.used == set()
    eight = " ".join(ANSWER.split()[2:10])
    assert bank.observe([f"Quoting: {eight.upper()}"]) == 1
    assert bank.used == {next(r.id for r in bank.replies if r.text == ANSWER)}
    # a question the forum repeats is never opened again
    bank.observe(["How many weeks after roasting are beans still good for espresso? Asking again."])
    assert bank.used_questions == {1}
