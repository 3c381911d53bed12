"""/api/openapi.json stays true: every route is documented, and real responses match their schemas."""

from __future__ import annotations

import re

import jsonschema
from openapi_spec_validator import validate

from conversations.openapi import DOCUMENT


def _documented_schema(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}


def _check(instance: dict, schema_name: str) -> None:
    schema = {**_documented_schema(schema_name)}
    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)


async def test_document_is_valid_openapi_and_lists_every_api_route(forum):
    document = await forum.anonymous.request("GET", "/api/openapi.json")
    validate(document)
    served = set()
    for route in forum.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/") and route.method != "HEAD":
            served.add((re.sub(r"\{(\w+)\}", r"{\1}", path), route.method.lower()))
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == documented


async def test_real_responses_match_the_documented_schemas(forum):
    created = await forum.anonymous.create_account("alice")
    _check(created, "AccountWithToken")
    alice = forum.anonymous.with_token(created["token"])
    thread = await alice.create_thread("Schema", "checked", tags=["meta"])
    _check(thread, "ThreadCreated")
    thread_id = thread["thread"]["id"]
    _check({"post": await alice.reply(thread_id, "reply")}, "PostEnvelope")
    _check(await forum.anonymous.list_threads(), "ThreadPage")
    _check(await forum.anonymous.get_thread(thread_id), "ThreadWithPosts")
    _check(await forum.anonymous.request("GET", "/api/threads/search", params={"q": "schema"}), "SearchResults")
    _check(await alice.request("GET", "/api/me"), "AccountEnvelope")
    _check(await forum.anonymous.request("GET", "/api/health"), "Health")
    bot = await forum.admin.create_bot_account("bot_schema", persona="p", run_id="r", generator="g")
    _check(bot, "BotAccountWithToken")
    _check(await forum.admin.record_provenance(account_id=bot["account"]["id"], idempotency_key="k", persona="p",
                                               run_id="r", generator="g"), "ProvenanceRecorded")
    async with forum.anonymous._session.ws_connect(forum.url + "/api/events", params={"since": 0}) as ws:
        await ws.receive_json()
        _check(await ws.receive_json(), "Event")
    async with forum.anonymous._session.get(forum.url + "/api/threads/999") as response:
        _check(await response.json(), "Error")
    # and the schema is strict enough to catch a leak: an extra key fails validation
    leaked = {**thread["post"], "synthetic": True}
    try:
        _check({"post": leaked}, "PostEnvelope")
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the Post schema must reject unknown keys")
