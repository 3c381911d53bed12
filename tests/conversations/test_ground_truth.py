"""Synthetic accounts and provenance: recorded for every bot post, never visible in the public API."""

from __future__ import annotations

import csv
import json

import pytest

from conversations.client import ForumClientError


async def _export(forum) -> list[dict]:
    async with forum.anonymous._session.get(forum.url + "/api/admin/export",
                                            headers={"Authorization": f"Bearer {forum.admin.token}"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in (await response.text()).splitlines()]


def _shape(value):
    """The JSON keys of a value, recursively: what a client could tell two records apart by."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


async def test_bot_and_person_posts_are_indistinguishable_in_the_public_api(forum):
    person = await forum.account("human_reader")
    bot_data = await forum.admin.create_bot_account("espresso_fan", persona="espresso-nerd", run_id="run-7", generator="retrieval")
    bot = forum.anonymous.with_token(bot_data["token"])
    human_thread = await person.create_thread("Milk steaming tips", "How do you get microfoam?")
    bot_thread = await bot.create_thread("Pressure profiling at home", "Anyone tried it?")
    human_post = await person.reply(bot_thread["thread"]["id"], "Yes, with a lever machine.")
    bot_post = await bot.reply(human_thread["thread"]["id"], "Purge the wand first.", idempotency_key="k1")
    await forum.admin.record_provenance(post_id=bot_post["id"], persona="espresso-nerd", run_id="run-7",
                                        generator="retrieval", action="answer", score=0.83)

    assert _shape(human_post) == _shape(bot_post)
    assert _shape(human_thread) == _shape(bot_thread)
    # nothing the public reads mentions the ground truth
    public = [await forum.anonymous.get_thread(t["thread"]["id"]) for t in (human_thread, bot_thread)]
    public.append(await forum.anonymous.list_threads())
    public.append(await forum.anonymous.search("wand"))
    public.append(await forum.anonymous.request("GET", f"/api/posts/{bot_post['id']}"))
    async with forum.anonymous._session.ws_connect(forum.url + "/api/events", params={"since": 0}) as ws:
        await ws.receive_json()
        public.extend([await ws.receive_json() for _ in range(4)])
    text = json.dumps(public).lower()
    for secret in ("espresso-nerd", "run-7", "retrieval", "synthetic", "persona", "provenance", "generator"):
        assert secret not in text
    assert _shape(public[-1]) == _shape(public[-2])  # a bot's event and a person's event


async def test_export_carries_ground_truth_for_admins_only(forum):
    person = await forum.account("person")
    bot_data = await forum.admin.create_bot_account("bot_one", persona="trail-runner", run_id="r1", generator="llm")
    bot = forum.anonymous.with_token(bot_data["token"])
    thread = (await person.create_thread("Hill repeats", "How many per week?"))["thread"]["id"]
    # provenance recorded before the post, keyed by the idempotency key: linked when the post is committed
    await forum.admin.record_provenance(account_id=bot_data["account"]["id"], idempotency_key="run-r1-1",
                                        persona="trail-runner", run_id="r1", generator="llm", action="agree", score=0.5)
    post = await bot.reply(thread, "Two sessions, never on consecutive days.", idempotency_key="run-r1-1")

    records = await _export(forum)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "meta" and records[0]["schema_version"] >= 1
    assert kinds.count("account") == 2 and kinds.count("thread") == 1 and kinds.count("post") == 2
    synthetic = [r for r in records if r["kind"] == "synthetic_account"]
    assert synthetic == [{"kind": "synthetic_account", "account_id": bot_data["account"]["id"], "persona": "trail-runner",
                          "run_id": "r1", "generator": "llm", "created_at": synthetic[0]["created_at"],
                          "campaign_id": None, "role": None}]
    provenance = [r for r in records if r["kind"] == "provenance"]
    assert len(provenance) == 1 and provenance[0]["post_id"] == post["id"] and provenance[0]["action"] == "agree"

    with pytest.raises(ForumClientError) as info:
        await person.request("GET", "/api/admin/export")
    assert info.value.status == 403


async def test_campaign_ground_truth_is_kept_for_admins_and_exports_and_never_shown_to_the_public(forum, tmp_path):
    from detection.export import export_forum

    person = await forum.account("person_c")
    driver = await forum.admin.create_bot_account("brew_voice", persona="espresso-nerd", run_id="c1", generator="bank",
                                                  campaign_id="push-1", role="driver")
    amplifier = await forum.admin.create_bot_account("brew_echo", persona="espresso-nerd", run_id="c1",
                                                     generator="bank", campaign_id="push-1", role="amplifier")
    thread = (await forum.anonymous.with_token(driver["token"]).create_thread("Pods or beans", "Pods are fine."))
    reply = await forum.anonymous.with_token(amplifier["token"]).reply(thread["thread"]["id"], "Agreed, pods.",
                                                                       idempotency_key="c1-1")
    await forum.admin.record_provenance(post_id=reply["id"], persona="espresso-nerd", run_id="c1", generator="bank",
                                        action="agree", campaign={"id": "push-1", "role": "amplifier"})
    await person.reply(thread["thread"]["id"], "Beans taste better.")

    records = await _export(forum)
    roles = {r["account_id"]: (r["campaign_id"], r["role"]) for r in records if r["kind"] == "synthetic_account"}
    assert roles == {driver["account"]["id"]: ("push-1", "driver"), amplifier["account"]["id"]: ("push-1", "amplifier")}
    assert [(r["campaign_id"], r["role"]) for r in records if r["kind"] == "provenance"] == [("push-1", "amplifier")]

    export_forum(forum.db, tmp_path / "export")
    with (tmp_path / "export" / "labels.csv").open(newline="") as handle:
        labels = list(csv.DictReader(handle))
    assert sorted((r["campaign_id"], r["role"]) for r in labels) == [("", ""), ("push-1", "amplifier"), ("push-1", "driver")]
    post_labels = (tmp_path / "export" / "post_labels.csv").read_text().splitlines()
    assert post_labels[0].endswith("campaign_id,role")
    # a post carries the campaign only where its provenance says it served it: the driver's opening, made without
    # one, is the account's own
    assert [line.split(",")[0] for line in post_labels if line.endswith("push-1,amplifier")] == [str(reply["id"])]
    assert not any(line.endswith("push-1,driver") for line in post_labels)
    from click.testing import CliRunner

    from murmur.cli import cli

    made = CliRunner().invoke(cli, ["export", "--db", str(forum.db), "--out", str(tmp_path / "with-toolkit"), "--toolkit"])
    assert made.exit_code == 0, made.output
    with (tmp_path / "with-toolkit" / "toolkit.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls"]
    opening = next(r for r in rows if r["message"] == "Pods are fine.")
    beans = next(r for r in rows if r["message"] == "Beans taste better.")
    assert beans["reply_id"] == opening["message_id"], "a reply with no parent answers the thread's opening post"
    assert opening["reply_id"] == "" and "push-1" not in json.dumps(rows), "the toolkit's file carries no ground truth"

    public = [await forum.anonymous.get_thread(thread["thread"]["id"]), await forum.anonymous.list_threads(),
              await forum.anonymous.request("GET", f"/api/posts/{reply['id']}")]
    async with forum.anonymous._session.get(forum.url + f"/threads/{thread['thread']['id']}") as page:
        public.append(await page.text())
    text = json.dumps(public).lower()
    for secret in ("push-1", "campaign", "driver", "amplifier"):
        assert secret not in text

    with pytest.raises(ForumClientError) as info:
        await forum.admin.request("POST", "/api/admin/accounts", json={
            "handle": "brew_third", "persona": "p", "run_id": "c1", "generator": "g",
            "campaign": {"id": "push-1", "role": "booster"}})
    assert info.value.status == 400 and "role" in info.value.message


async def test_bot_accounts_are_reused_with_a_new_token_and_never_take_a_persons_handle(forum):
    first = await forum.admin.create_bot_account("bot_two", persona="p", run_id="r1", generator="g")
    again = await forum.admin.create_bot_account("bot_two", persona="p", run_id="r2", generator="g")
    assert again["reused"] and again["account"]["id"] == first["account"]["id"] and again["token"] != first["token"]
    old = forum.anonymous.with_token(first["token"])
    with pytest.raises(ForumClientError) as info:
        await old.request("GET", "/api/me")
    assert info.value.status == 401
    await forum.account("a_person")
    with pytest.raises(ForumClientError) as info:
        await forum.admin.create_bot_account("a_person", persona="p", run_id="r", generator="g")
    assert info.value.status == 409 and "person" in info.value.message


async def test_provenance_errors(forum):
    person = await forum.account("person")
    thread = await person.create_thread("t", "b")
    base = {"persona": "p", "run_id": "r", "generator": "g"}
    cases = [
        ({**base}, 400, "post_id"),
        ({**base, "post_id": 999}, 404, "post 999"),
        ({**base, "post_id": thread["post"]["id"]}, 409, "not a synthetic account"),  # right by its schema, not by the forum
        ({**base, "account_id": 999, "idempotency_key": "k"}, 404, "account 999"),
        ({"persona": "p", "post_id": 1}, 400, "run_id"),
    ]
    for body, status, words in cases:
        with pytest.raises(ForumClientError) as info:
            await forum.admin.record_provenance(**body)
        assert info.value.status == status and words in info.value.message, (body, info.value)
    bot = await forum.admin.create_bot_account("bot_three", persona="p", run_id="r", generator="g")
    post = await forum.anonymous.with_token(bot["token"]).reply(thread["thread"]["id"], "hi")
    await forum.admin.record_provenance(**base, post_id=post["id"], action="greet")
    await forum.admin.record_provenance(**base, post_id=post["id"], action="greet")  # the same again is fine
    with pytest.raises(ForumClientError) as info:
        await forum.admin.record_provenance(**base, post_id=post["id"], action="disagree")
    assert info.value.status == 409
    assert sum(r["kind"] == "provenance" for r in await _export(forum)) == 1
