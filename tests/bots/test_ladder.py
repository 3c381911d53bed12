"""The detection ladder on a small corpus forum: replay removes the calendar artifacts the `after` clock leaves, and
accounts shaped like the people's come closer to them in volume."""

from __future__ import annotations

import json

import pytest

from murmur.config import parse_settings
from murmur.ladder import Cell, run_ladder

SESSION = pytest.mark.asyncio(loop_scope="session")


@SESSION
@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_replay_cells_have_no_period_artifact_and_no_calendar_feature_separates(tmp_path, rasa_server,
                                                                                   forward_actions, embedder):
    settings = parse_settings({"seed": 2})
    cells = [Cell("bank", "after", "persona"), Cell("bank", "replay", "fitted", "people")]
    results = await run_ladder(settings, out=tmp_path / "ladder", cells=cells, every=12, days=1.5, bots=12,
                               people_accounts=30, splits=2,
                               bootstrap=20, embedder=embedder, progress=False, echo=lambda _: None,
                               rasa_url=rasa_server.url, on_action_url=forward_actions)
    after, replay = results["cells"]["bank-after-persona-persona"], results["cells"]["bank-replay-fitted-people"]
    # the `after` clock: bots' days come after the people's years, and dates alone tell them apart
    assert "periods_do_not_overlap" in after["flags"]
    assert {"account_created", "first_post", "mean_post_time"} <= set(after["calendar_separates"])
    # replay: one timeline, accounts made before their posts; no calendar or account-age value separates the classes
    assert "periods_do_not_overlap" not in replay["flags"]
    assert replay["calendar_separates"] == [], replay["calendar"]
    assert replay["replayed"] > 0 and replay["posts"] > 0
    for cell in (after, replay):
        assert cell["best_feature"]["family"] in ("timing", "text", "relevance", "coordination")
        assert 0.0 <= cell["combined"]["roc_auc"]["mean"] <= 1.0 and cell["carried_by"]
    # accounts shaped like the people's post about as often as they do: posts per account alone tells less
    assert replay["accounts_posting"] > after["accounts_posting"]
    assert replay["distances"]["posts_per_account"]["ks"] < after["distances"]["posts_per_account"]["ks"]
    for cell in (after, replay):
        assert 0.5 <= cell["posts_per_account"] <= 1.0
        for test in cell["two_sample"].values():
            assert test is None or test["ci"][0] <= test["accuracy"] <= test["ci"][1]
    saved = json.loads((tmp_path / "ladder" / "ladder.json").read_text())
    assert set(saved["cells"]) == {"bank-after-persona-persona", "bank-replay-fitted-people"}
    page = (tmp_path / "ladder" / "ladder.html").read_text()
    assert "bank-replay-fitted-people" in page and "two-sample accuracy" in page
    assert all((tmp_path / "ladder" / f"family-{f}.png").exists() for f in ("timing", "text", "relevance", "coordination"))
    assert list((tmp_path / "ladder").glob("two-sample-*.png"))
