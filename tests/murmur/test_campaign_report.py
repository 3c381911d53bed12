"""`murmur campaign report` on a scripted campaign written as a dataset folder: the page scores it, draws the
network with campaign accounts in colour and people grey, measures shaping, and refuses a bad sweep with the fix."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from murmur.campaign_report import CAMPAIGNS, PEOPLE, build_report, stance_reader_sides
from murmur.cli import cli
from tests.detection.campaign_forum import AMPLIFIERS, DRIVERS, scripted_forum, scripted_sides, write_dataset


def _accounts(page: str) -> list[tuple[str, str]]:
    """(data-kind, fill) of every account drawn in the network."""
    svg = page[page.index('<svg id="network"'):page.index("</svg>")]
    return re.findall(r'class="account" data-kind="([^"]+)" fill="([^"]+)"', svg)


def test_the_page_draws_the_campaign_in_colour_and_people_grey_and_scores_it(tmp_path):
    dataset = scripted_forum()
    folder = write_dataset(dataset, tmp_path / "dataset")
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"population": "people", "hours": 24, "seed": 0, "cells": [
        {"delay": "2 min", "size": 20, "murmur": {"roc_auc": 0.74, "ami": 0.37}, "toolkit": {"ami": -0.01},
         "shaping": {"effect": -0.16}}]}))
    by_text = dict(zip(dataset.forum.post_body, scripted_sides(dataset)))
    made = build_report(folder, tmp_path / "report.html", side_of=lambda texts: [by_text[t] for t in texts],
                        stance_topic="pods", sweep=sweep, window_s=600, seed=1)
    page = made.path.read_text(encoding="utf-8")
    drawn = _accounts(page)
    campaign = [(kind, fill) for kind, fill in drawn if kind.startswith("campaign c1")]
    assert len(campaign) == len(DRIVERS + AMPLIFIERS), "every campaign account is drawn, tied or not"
    assert {fill for _, fill in campaign} == {CAMPAIGNS[0]}
    assert all(fill == PEOPLE for kind, fill in drawn if kind == "person")
    assert page.count('<rect class="account"') == len(DRIVERS), "drivers are squares"
    assert "account ROC-AUC" in page and "co-stance" in page and "0.740" in page  # the sweep's cell
    assert any("c1" in line and "detected after" in line for line in made.lines)
    shaping = re.search(r"<tr><th>c1</th>.*?</tr>", page, re.S).group(0)
    assert "difference-in-differences" in shaping


def test_without_a_stance_topic_the_page_says_what_is_missing(tmp_path):
    folder = write_dataset(scripted_forum(), tmp_path / "dataset")
    made = build_report(folder, tmp_path / "report.html", window_s=600)
    page = made.path.read_text(encoding="utf-8")
    assert "give --stance-topic" in page and "No sweep given" in page


def test_the_command_refuses_a_sweep_that_is_not_the_benchs(tmp_path):
    folder = write_dataset(scripted_forum(), tmp_path / "dataset")
    (tmp_path / "bad.json").write_text('{"rows": []}')
    result = CliRunner().invoke(cli, ["campaign", "report", str(folder), "--sweep", str(tmp_path / "bad.json")])
    assert result.exit_code != 0 and "--sweep" in result.output and "bench/campaigns.py" in result.output
    assert not (folder / "campaign-report.html").exists(), "nothing half-written"
    ok = CliRunner().invoke(cli, ["campaign", "report", str(folder), "--window-minutes", "10"])
    assert ok.exit_code == 0, ok.output
    assert (folder / "campaign-report.html").exists() and "report:" in ok.output


def test_the_stance_reader_reads_sides_on_the_named_topic(embedder):
    side_of = stance_reader_sides(embedder, "coffee pods are as good as fresh beans")
    assert side_of(["Honestly coffee pods are every bit as good as fresh beans, I switched and never looked back.",
                    "Pods are not as good as fresh beans; they taste stale and flat to me.",
                    "What time does the bus leave on Sunday?"]) == ["pro", "con", "none"]
