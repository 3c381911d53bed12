"""Anticipation on real people: no leakage, metrics by hand, each baseline on a forum whose answer is known, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from conversations.models import ImportedPost, ImportedThread
from index.anticipation import METHODS, History, bootstrap, hit_at, mrr, walk
from index.anticipation_report import summarize
from murmur.cli import cli

T0 = datetime(2015, 1, 1, tzinfo=timezone.utc)
N = 0


def _thread(tid: str, title: str, body: str, tags: tuple[str, ...], hour: float, asker: str,
            replies: list[tuple[str, float, str]]) -> ImportedThread:
    """replies: (author, hour, body)."""
    global N
    posts = [ImportedPost(tid, asker, asker, (T0 + timedelta(hours=hour)).isoformat(), body)]
    for author, when, text in replies:
        N += 1
        posts.append(ImportedPost(f"{tid}-{N}", author, author, (T0 + timedelta(hours=when)).isoformat(), text, tid))
    return ImportedThread(tid, title, tuple(posts), tags)


def _forum() -> list[ImportedThread]:
    """Four people with known habits, then a new thread about espresso tagged 'espresso' (x:new, hour 100)."""
    espresso = "My espresso shots run fast and taste sour, grind finer or dose more?"
    history = [
        _thread("x:1", "Espresso tastes sour", espresso, ("espresso",), 0, "x:asker1",
                [("x:barista", 1, "Grind finer and keep the dose; sour means under-extracted.")]),
        _thread("x:2", "Crema disappears quickly", "Why does the crema on my espresso vanish in seconds?", ("espresso",),
                5, "x:asker2", [("x:barista", 6, "Stale beans lose their crema; buy fresher coffee beans.")]),
    ]
    for i in range(6):  # the busiest account writes about beer hops, in threads tagged 'hops'
        history.append(_thread(f"x:{10 + i}", f"Dry hopping question {i}", f"How long should I dry hop batch {i}?",
                               ("hops",), 10 + i, "x:asker3", [("x:brewer", 10.5 + i, "Three days of dry hopping is plenty."),
                                                                 ("x:brewer", 10.7 + i, "Cold crash after that.")]))
    history.append(_thread("x:20", "Sourdough hydration", "What hydration for a sourdough loaf?", ("bread",), 30,
                           "x:asker4", [("x:baker", 31, "Start at seventy percent hydration, sourdough starter ripe.")]))
    history.append(_thread("x:new", "Sour espresso shots from a new grinder",
                           "Since I changed grinder my espresso shots taste sour. Grind finer?", ("espresso",), 100,
                           "x:asker5", [("x:barista", 101, "Yes, grind finer.")]))
    return history


def _ranking(method: str, threads: list[ImportedThread], embedder) -> list[str]:
    history = History.of(threads)
    result = walk(history, embedder, methods=(method,), select=lambda t: history.thread_ids[t] == "x:new",
                  keep_rankings=True)
    [query] = result.queries
    return [history.accounts[a] for a in query.top[method]]


def test_each_baseline_ranks_the_account_its_rule_favours_first(embedder):
    threads = _forum()
    assert _ranking("most_active", threads, embedder)[0] == "x:brewer"  # twelve posts
    assert set(_ranking("tag_overlap", threads, embedder)[:3]) == {"x:barista", "x:asker1", "x:asker2"}
    assert _ranking("bm25", threads, embedder)[0] in ("x:barista", "x:asker1")  # wrote "espresso", "sour", "grind"
    assert _ranking("murmur", threads, embedder)[0] in ("x:barista", "x:asker1", "x:asker2")
    ranked = _ranking("random", threads, embedder)
    assert sorted(ranked) == sorted(set(ranked)) and "x:asker5" not in ranked  # the asker is never a candidate
    assert ranked == _ranking("random", threads, embedder)  # seeded


def test_the_murmur_ranking_puts_the_espresso_answerer_above_the_busiest_account(embedder):
    ranking = _ranking("murmur", _forum(), embedder)
    assert ranking.index("x:barista") < ranking.index("x:brewer") and ranking.index("x:barista") < 3


def test_nothing_after_a_thread_changes_its_ranking(embedder):
    before = _forum()
    later = [_thread("x:late", "Espresso espresso espresso", "espresso grind sour crema", ("espresso",), 150,
                     "x:latecomer", [("x:brewer", 151, "espresso grind sour crema espresso"),
                                     ("x:newbie", 152, "espresso sour shots grind finer crema")])]
    for method in METHODS:
        assert _ranking(method, before, embedder) == _ranking(method, before + later, embedder), method
    # and the walk reads no post at or after the thread: accounts that appear only later are never candidates
    assert "x:newbie" not in _ranking("murmur", before + later, embedder)


def test_metrics_match_a_hand_computed_case():
    ranks = [1, 3, None, 12, 2]
    assert hit_at(ranks, 1) == 0.2 and hit_at(ranks, 5) == 0.6 and hit_at(ranks, 10) == 0.6 and hit_at(ranks, 12) == 0.8
    assert mrr(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 12 + 1 / 2) / 5)
    low, high = bootstrap(ranks, lambda r: hit_at(r, 5), resamples=500)
    assert 0.0 <= low <= 0.6 <= high <= 1.0
    assert bootstrap([1] * 10, mrr, resamples=50) == (1.0, 1.0)


def test_the_summary_compares_with_the_best_baseline_per_site(embedder):
    history = History.of(_forum())
    result = walk(history, embedder)
    summary = summarize(result, resamples=50)
    assert summary["threads"] == len(result.queries) >= 2
    assert set(summary["groups"]["all"]["methods"]) == set(METHODS)
    assert summary["comparison"]["best_baseline"] in METHODS and summary["comparison"]["sites"] == ["x"]


def _jsonl(path, threads: list[ImportedThread]):
    rows = [{"thread_id": t.external_id, "title": t.title, "tags": list(t.tags),
             "posts": [{"post_id": p.external_id, "author": p.author_external_id, "created_at": p.created_at,
                        "body": p.body, "parent_id": p.parent_external_id} for p in t.posts]} for t in threads]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_cli_reports_and_refuses_bad_input_in_one_line(tmp_path):
    runner = CliRunner()
    data = _jsonl(tmp_path / "forum.jsonl", _forum())
    ok = runner.invoke(cli, ["anticipate", str(data), "--out", str(tmp_path / "report"), "--quiet", "--bootstrap", "20"])
    assert ok.exit_code == 0, ok.output
    assert "murmur" in ok.output and "Hit@10" in ok.output and (tmp_path / "report" / "report.html").exists()
    assert json.loads((tmp_path / "report" / "report.json").read_text())["threads"] >= 2
    missing = runner.invoke(cli, ["anticipate", str(tmp_path / "nothing.jsonl")])
    assert missing.exit_code == 1 and missing.output.startswith("error: PATH:") and len(missing.output.splitlines()) == 1
    empty = runner.invoke(cli, ["anticipate", str(data), "--from", "2030-01-01T00:00:00Z"])
    assert empty.exit_code == 1 and "no thread" in empty.output and "window" in empty.output
    silent = _jsonl(tmp_path / "silent.jsonl", [_thread("y:1", "Alone", "Nobody answers.", (), 0, "y:a", [])])
    nobody = runner.invoke(cli, ["anticipate", str(silent)])
    assert nobody.exit_code == 1 and "had anyone reply" in nobody.output
    bad_time = runner.invoke(cli, ["anticipate", str(data), "--until", "soon"])
    assert bad_time.exit_code == 1 and "--until" in bad_time.output
