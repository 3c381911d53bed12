"""murmur detect end to end: splits by account, the report's files and numbers, honesty notes, seeds."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from detection.evaluate import make_splits
from detection.pipeline import run_detection
from tests.detection.test_dataset import _write, minimal


@pytest.fixture(scope="module")
def report(dataset_dir, embedder, tmp_path_factory):
    return run_detection(dataset_dir, tmp_path_factory.mktemp("report"), embedder=embedder, progress=False,
                         splits=3, bootstrap=50, seed=5)


def test_splits_are_by_account_stratified_seeded_and_calibrate_on_humans_only():
    labels = np.array([True] * 10 + [False] * 60)
    splits = make_splits(labels, 4, seed=3)
    for split in splits:
        parts = [set(split.fit), set(split.calibration), set(split.test)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert parts[0] | parts[1] | parts[2] == set(range(70))
        assert not labels[split.calibration].any()
        assert labels[split.test].sum() == 3 and (~labels[split.test]).sum() == 18
    assert len({tuple(s.test) for s in splits}) == 4
    assert [tuple(s.test) for s in make_splits(labels, 4, seed=3)] == [tuple(s.test) for s in splits]
    assert [tuple(s.test) for s in make_splits(labels, 4, seed=4)] != [tuple(s.test) for s in splits]
    smallest = make_splits(np.array([True] * 4 + [False] * 8), 1, seed=0)[0]
    assert labels[:0].size == 0 and len(smallest.calibration) >= 1 and len(smallest.test) >= 2


def test_report_files_exist_and_hold_the_numbers(report):
    names = {"timing", "text", "relevance", "coordination", "combined", "boosted", "baseline"}
    results = json.loads(report.report_json.read_text())
    assert names | {f"combined without {f}" for f in ("timing", "text", "relevance", "coordination")} == set(results["detectors"])
    for name, entry in results["detectors"].items():
        for level in ("accounts", "posts"):
            for metric in ("roc_auc", "pr_auc", "dr_at_1pct_fpr", "dr_at_5pct_fpr", "f1_at_5pct_fpr", "fpr_achieved_1pct"):
                value = entry[level][metric]
                assert 0 <= value["mean"] <= 1 and len(value["splits"]) == 3, (name, level, metric)
                assert value["ci"][0] <= value["ci"][1]
    combined = results["detectors"]["combined"]["accounts"]
    assert combined["roc_auc"]["mean"] >= 0.95 and combined["dr_at_5pct_fpr"]["mean"] >= 0.8
    for plot in results["files"]["plots"].values():
        assert (report.out_dir / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = report.report_html.read_text()
    table = html.split('id="detectors-accounts"')[1].split("</table>")[0]
    for name in names:
        row = table.split(f"<td>{name}</td>")[1].split("</tr>")[0]
        assert f"{results['detectors'][name]['accounts']['roc_auc']['mean']:.3f}" in row
    assert results["closing_note"] in html.replace("&#39;", "'")
    assert f"<td>{results['dataset']['accounts']['synthetic']}</td>" in html
    assert set(results["ablation"]) == {"timing", "text", "relevance", "coordination"}
    seen = [row["k"] for row in results["posts_seen"]["combined"]]
    assert seen[:4] == [1, 2, 3, 5] and seen[-1] == "all"
    assert results["protocol"]["seed"] == 5 and results["dataset"]["accounts"] == {"synthetic": 40, "human": 256, "without_posts": 0}
    # how far bots are from people: a two-sample test per family on balanced samples, and KS distances
    assert set(results["two_sample"]) == set(results["ablation"])
    for test in results["two_sample"].values():
        assert test["per_class"] == 40 and test["ci"][0] <= test["accuracy"] <= test["ci"][1]
    assert max(t["accuracy"] for t in results["two_sample"].values()) >= 0.8  # this forum's bots are easy to tell
    assert {"posts_per_account", "reply_latency", "post_length", "answer_fit"} <= {
        m for m, d in results["distances"].items() if d and 0 <= d["ks"] <= 1}
    assert 'id="two-sample"' in html and 'id="distances"' in html


def test_summary_lines_and_closing_note_agree_with_the_numbers(report):
    results = report.results
    lines = report.summary_lines()
    assert lines[0].startswith("dataset: 40 synthetic and 256 human accounts")
    combined = results["detectors"]["combined"]["accounts"]["roc_auc"]
    assert any(line.startswith(f"combined: ROC-AUC {combined['mean']:.3f} [") for line in lines)
    assert any(line.startswith("baseline (best single feature: ") for line in lines)
    assert lines[-1] == f"report: {report.report_html}"
    comparison = results["comparison"]
    wins = (comparison["roc_auc_difference"]["ci"][0] > 0, comparison["dr_at_1pct_fpr_difference"]["ci"][0] > 0)
    expected = {(True, True): " beats the best single feature", (True, False): " ranks accounts better than",
                (False, True): " ranks accounts no better than", (False, False): "The trivial baseline cannot be beaten"}
    assert expected[wins] in results["closing_note"]
    assert lines[-2] == results["closing_note"]


def _compared(auc: tuple[float, float, float], dr: tuple[float, float, float], baseline_auc: float) -> dict:
    metric = lambda mean: {"mean": mean, "ci": [mean, mean]}  # noqa: E731
    return {
        "comparison": {"detector": "combined", "roc_auc_difference": {"mean": auc[0], "ci": list(auc[1:])},
                       "dr_at_1pct_fpr_difference": {"mean": dr[0], "ci": list(dr[1:])}},
        "detectors": {"combined": {"accounts": {"roc_auc": metric(0.99), "dr_at_1pct_fpr": metric(0.9)}},
                      "baseline": {"accounts": {"roc_auc": metric(baseline_auc), "dr_at_1pct_fpr": metric(0.2)}}},
        "baseline_choices": {"accounts": {"gap_median_log (timing)": 3}},
    }


@pytest.mark.parametrize("auc, dr, baseline_auc, expected", [
    ((0.1, 0.05, 0.2), (0.7, 0.5, 0.9), 0.89, "The combined detector beats the best single feature (mostly gap_median_log"),
    ((0.1, 0.05, 0.2), (0.0, -0.2, 0.3), 0.89, "The combined detector ranks accounts better than"),
    ((0.0, -0.01, 0.02), (0.7, 0.5, 0.9), 0.99, "The combined detector ranks accounts no better than"),
    ((0.0, 0.0, 0.02), (0.0, -0.1, 0.1), 0.99, "The trivial baseline cannot be beaten on this dataset"),
])
def test_closing_note_says_which_way_the_comparison_went(auc, dr, baseline_auc, expected):
    from detection.pipeline import _closing_note

    note = _closing_note(_compared(auc, dr, baseline_auc))
    assert note.startswith(expected)
    assert ("says more about how this dataset was assembled" in note) == expected.startswith("The trivial")


def test_a_trivially_separable_dataset_is_called_so(tmp_path, capsys):
    """Bots that post in a later period than every person, hourly to the second: a single feature is enough,
    the notes say the periods do not overlap, and the closing note says the baseline cannot be beaten."""
    folder = minimal(tmp_path / "ds", synthetic=6, human=14, posts_each=4)
    posts = (folder / "posts.csv").read_text().splitlines()[1:]
    rows = []
    for line in posts:
        post_id, account, at = line.split(",")
        shift = 10 ** 8 if int(account[1:]) < 6 else 0
        rows.append([post_id, account, int(at) + shift])
    _write(folder / "posts.csv", ["post_id", "account_id", "created_at"], rows)
    report = run_detection(folder, tmp_path / "out", progress=True, splits=2, bootstrap=20)
    notes = " ".join(report.results["notes"])
    assert "come from periods that do not overlap" in notes
    assert "separate synthetic from human accounts almost perfectly on their own" in notes
    assert report.results["closing_note"].startswith("The trivial baseline cannot be beaten on this dataset")
    assert "says more about how this dataset was assembled" in report.results["closing_note"]
    bars = capsys.readouterr().err
    assert re.search(r"fitting and scoring detectors: 100%\|.*\| \d+/\d+ \[\d\d:\d\d<\d\d:\d\d, +[\d.]+model/s\]", bars)


def test_same_seed_same_numbers_other_seed_other_splits(tmp_path):
    """On data that does not separate perfectly (gaps drawn at random, bots' a little steadier)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "ds"
    folder.mkdir()
    posts, labels = [], []
    for a in range(30):
        synthetic = a < 10
        labels.append([f"u{a}", int(synthetic)])
        times = np.cumsum(rng.lognormal(8, 0.9 if synthetic else 1.3, 6))
        posts += [[f"p{a}-{k}", f"u{a}", 1.6e9 + t] for k, t in enumerate(times)]
    _write(folder / "posts.csv", ["post_id", "account_id", "created_at"], posts)
    _write(folder / "labels.csv", ["account_id", "synthetic"], labels)

    def numbers(seed: int, out: str) -> dict:
        results = run_detection(folder, tmp_path / out, seed=seed, progress=False, splits=2, bootstrap=20).results
        return {name: entry["accounts"]["roc_auc"] for name, entry in results["detectors"].items()}

    first = numbers(1, "a")
    assert numbers(1, "b") == first
    other = numbers(2, "c")
    assert other != first and all(math.isfinite(v["mean"]) for v in other.values())
    assert 0.5 < first["combined"]["mean"] < 1.0  # a dataset where splits matter
