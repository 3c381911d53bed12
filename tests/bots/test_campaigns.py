"""Campaign files are refused with the key and the fix, as persona files are."""

from __future__ import annotations

import pytest

from bots.campaigns import CampaignError, load_campaign, parse_campaign
from tests.conftest import ROOT

GOOD = {"id": "pods-push", "goal": {"topic": "coffee pods", "side": "pro"}, "audience": {"personas": ["home-barista"]}}


def test_the_shipped_example_loads_and_splits_its_accounts_into_roles():
    campaign = load_campaign(ROOT / "examples" / "campaigns" / "pods-push.yml")
    assert campaign.role_counts() == {"driver": 4, "amplifier": 16}
    assert campaign.roles_in_order()[:5] == ["driver"] * 4 + ["amplifier"]


@pytest.mark.parametrize(("change", "words"), [
    ({"acounts": 3}, "unknown key 'acounts'; did you mean 'accounts'?"),
    ({"roles": {"driver": 0.2, "booster": 0.8}}, "'booster' is not a role; the roles are driver, amplifier"),
    ({"roles": {"driver": 1.0}}, "roles: give a share for every role (amplifier missing)"),
    ({"audience": {}}, "audience: the audience is empty; give personas"),
    ({"goal": {"topic": "coffee pods", "side": "maybe"}}, "goal.side"),
    ({"id": "no spaces"}, "is not a campaign id"),
    ({"accounts": 1}, "accounts"),
])
def test_a_bad_campaign_is_refused_naming_the_key_and_the_fix(change, words):
    with pytest.raises(CampaignError) as info:
        parse_campaign({**GOOD, **change}, "c.yml")
    assert str(info.value).startswith("c.yml: ") and words in str(info.value)


def test_a_missing_or_broken_file_says_what_it_is(tmp_path):
    with pytest.raises(CampaignError, match="no campaign file here"):
        load_campaign(tmp_path / "none.yml")
    (tmp_path / "bad.yml").write_text("id: [unclosed\n")
    with pytest.raises(CampaignError, match="not valid YAML"):
        load_campaign(tmp_path / "bad.yml")
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    with pytest.raises(CampaignError, match="a campaign is a mapping"):
        load_campaign(tmp_path / "list.yml")
