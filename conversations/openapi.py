"""The OpenAPI 3 document of the forum API, served at /api/openapi.json.

Request schemas come from the pydantic models that validate requests, so the
two cannot drift; response schemas are written here and a test checks real
responses against them and that every route is documented.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from conversations import requests as bodies
from conversations.appkeys import SETTINGS
from conversations.requests import HANDLE_MIN_CHARS, HANDLE_PATTERN, META_KEY_PATTERN, TEXT_PATTERN, WHOLE_MAX
from conversations.settings import ForumLimits

routes = web.RouteTableDef()

_TIME = {"type": "string", "format": "date-time"}
_ID = {"type": "integer", "minimum": 1}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties), "additionalProperties": False}


_THREAD = {
    "id": _ID, "title": {"type": "string"}, "author": _ref("Account"), "created_at": _TIME, "last_activity_at": _TIME,
    "post_count": {"type": "integer", "minimum": 0}, "tags": {"type": "array", "items": {"type": "string"}},
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string"}}, "required": ["error"]},
    "Account": _object({"id": _ID, "handle": {"type": "string"}, "display_name": {"type": "string"}, "created_at": _TIME}),
    "Thread": _object(_THREAD),
    "ThreadHit": _object({**_THREAD, "score": {"type": "number", "description": "BM25 relevance, higher is better"}}),
    "Post": _object({
        "id": _ID, "thread_id": _ID, "parent_id": {"type": ["integer", "null"]}, "author": _ref("Account"),
        "body": {"type": "string"}, "created_at": _TIME,
    }),
    "Event": _object({
        "seq": _ID, "type": {"type": "string", "enum": ["thread.created", "post.created"]}, "created_at": _TIME,
        "thread": _ref("Thread"), "post": _ref("Post"),
    }),
    "AccountWithToken": _object({"account": _ref("Account"), "token": {"type": "string"}}),
    "BotAccountWithToken": _object({"account": _ref("Account"), "token": {"type": "string"}, "reused": {"type": "boolean"}}),
    "ThreadPage": _object({
        "threads": {"type": "array", "items": _ref("Thread")}, "total": {"type": "integer"}, "limit": {"type": "integer"},
        "offset": {"type": "integer"}, "next_offset": {"type": ["integer", "null"]},
    }),
    "ThreadWithPosts": _object({"thread": _ref("Thread"), "posts": {"type": "array", "items": _ref("Post")}}),
    "ThreadCreated": _object({"thread": _ref("Thread"), "post": _ref("Post")}),
    "PostEnvelope": _object({"post": _ref("Post")}),
    "AccountEnvelope": _object({"account": _ref("Account")}),
    "SearchResults": _object({
        "query": {"type": "string"},
        "threads": {"type": "array", "items": _ref("ThreadHit")},
    }),
    "Health": _object({"ok": {"type": "boolean"}, "latest_seq": {"type": "integer"}, "subscribers": {"type": "integer"}}),
    "ProvenanceRecorded": _object({"recorded": {"type": "boolean"}, "post_id": {"type": ["integer", "null"]}}),
    "Replayed": _object({"posts_added": {"type": "integer"}, "posts_skipped": {"type": "integer"},
                         "events": {"type": "array", "items": _ref("Event")}}),
    "MetaStored": _object({"key": {"type": "string"}, "stored": {"type": "boolean"}}),
}

for _model in (bodies.NewAccount, bodies.NewThread, bodies.NewPost, bodies.NewSyntheticAccount, bodies.NewProvenance,
               bodies.Replay):
    _schema = _model.model_json_schema(ref_template="#/components/schemas/{model}")
    SCHEMAS.update(_schema.pop("$defs", {}))  # nested bodies (CampaignPart) are components of their own
    SCHEMAS[_model.__name__] = _schema


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_ERR = {
    "400": _json("Error", "malformed input; `error` names the field and the fix"),
}
_TOO_LARGE = {"413": _json("Error", "the request body over its size limit (forum.limits.body_max_bytes)")}
_AUTH_ERR = {"401": _json("Error", "missing or unknown bearer token")}
_ADMIN_ERR = {"401": _json("Error", "missing bearer token"), "403": _json("Error", "not the admin token")}
_POST_ERR = {**_ERR, **_AUTH_ERR, "403": _json("Error", "Murmur-Simulated-Time from an account that is not a bot"),
             "404": _json("Error", "unknown thread or parent post"),
             "409": _json("Error", "idempotency key reused for something else"),
             **_TOO_LARGE, "429": _json("Error", "posting too fast; see Retry-After")}
_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": "repeat a request safely: the same key from the same account returns the original (200)"}
_SIMULATED_TIME = {"name": "Murmur-Simulated-Time", "in": "header", "required": False,
                   "schema": {"type": "string", "format": "date-time"},
                   "description": "bot accounts on a simulated clock only (403 otherwise): the post's time, "
                                  "also used for its rate limit"}
_BEARER = [{"bearer": []}]


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _query(name: str, description: str, required: bool = False, minimum: int = 0,
           maximum: int = WHOLE_MAX) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "maximum": WHOLE_MAX}}


def _text(max_chars: int, description: str | None = None) -> dict[str, Any]:
    """A text field as the server checks it (conversations.requests.check_text)."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": TEXT_PATTERN}
    if description:
        schema["description"] = description
    return schema


PATHS: dict[str, Any] = {
    "/api/health": {"get": {"summary": "Ready check", "responses": {"200": _json("Health", "the forum is up")}}},
    "/api/accounts": {"post": {
        "summary": "Create an account; the token is shown once", "requestBody": _body("NewAccount"),
        "responses": {"201": _json("AccountWithToken", "created"), **_ERR, "409": _json("Error", "handle taken"),
                      **_TOO_LARGE}}},
    "/api/me": {"get": {"summary": "The account behind the bearer token", "security": _BEARER,
                        "responses": {"200": _json("AccountEnvelope", "the account"), **_AUTH_ERR}}},
    "/api/threads": {
        "get": {"summary": "Threads, newest activity first", "parameters": [
            _query("limit", "page size", minimum=1), _query("offset", "threads to skip")],
            "responses": {"200": _json("ThreadPage", "a page of threads"), **_ERR}},
        "post": {"summary": "Start a thread with its opening post", "security": _BEARER, "parameters": [_IDEMPOTENCY, _SIMULATED_TIME],
                 "requestBody": _body("NewThread"),
                 "responses": {"201": _json("ThreadCreated", "created"), "200": _json("ThreadCreated", "already created with this key"), **_POST_ERR}},
    },
    "/api/threads/search": {"get": {"summary": "Full-text search over titles and posts",
                                    "parameters": [_query("q", "words to find", required=True), _query("limit", "most results", minimum=1)],
                                    "responses": {"200": _json("SearchResults", "matching threads, best first"), **_ERR}}},
    "/api/threads/{thread_id}": {"get": {"summary": "A thread with its posts", "parameters": [_path("thread_id")],
                                         "responses": {"200": _json("ThreadWithPosts", "the thread"), **_ERR,
                                                       "404": _json("Error", "unknown thread")}}},
    "/api/threads/{thread_id}/posts": {"post": {
        "summary": "Reply to a thread, or to one of its posts with parent_id", "security": _BEARER,
        "parameters": [_path("thread_id"), _IDEMPOTENCY, _SIMULATED_TIME], "requestBody": _body("NewPost"),
        "responses": {"201": _json("PostEnvelope", "created"), "200": _json("PostEnvelope", "already created with this key"), **_POST_ERR}}},
    "/api/posts/{post_id}": {"get": {"summary": "One post", "parameters": [_path("post_id")],
                                     "responses": {"200": _json("PostEnvelope", "the post"), **_ERR, "404": _json("Error", "unknown post")}}},
    "/api/events": {"get": {
        "summary": "Web socket of committed events",
        "description": "Upgrade to a web socket. The server sends {type: hello, latest_seq}, then, with ?since=N, every "
                       "Event after N, then live Events in commit order. A subscriber that falls behind gets "
                       "{type: dropped, resume_since} and should reconnect with ?since=resume_since.",
        "parameters": [_query("since", "replay events after this sequence number")],
        "responses": {"101": {"description": "switching to the web socket; frames are Event objects"}, **_ERR}}},
    "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/api/admin/accounts": {"post": {
        "summary": "Create (or reuse) a synthetic account and record its persona as ground truth", "security": _BEARER,
        "requestBody": _body("NewSyntheticAccount"),
        "responses": {"201": _json("BotAccountWithToken", "created"), "200": _json("BotAccountWithToken", "existing bot account, new token"),
                      **_ERR, **_ADMIN_ERR, "409": _json("Error", "handle belongs to a person"), **_TOO_LARGE}}},
    "/api/admin/provenance": {"post": {
        "summary": "Record a synthetic post's provenance, by post id or ahead of the post by (account_id, idempotency_key)",
        "security": _BEARER, "requestBody": _body("NewProvenance"),
        "responses": {"201": _json("ProvenanceRecorded", "recorded"), **_ERR, **_ADMIN_ERR,
                      "404": _json("Error", "unknown post or account"), "409": _json("Error", "recorded already with other values"),
                      **_TOO_LARGE}}},
    "/api/admin/replay": {"post": {
        "summary": "People's posts from a corpus (murmur JSONL thread records) entering at their own times; "
                   "answers with the events of what was added",
        "security": _BEARER, "requestBody": _body("Replay"),
        "responses": {"201": _json("Replayed", "added (known posts are skipped)"), **_ERR, **_ADMIN_ERR, **_TOO_LARGE,
                      "409": _json("Error", "a post replies to one that is not there before it, or belongs to another thread")}}},
    "/api/admin/meta/{key}": {"put": {
        "summary": "A note about the forum itself (any JSON), carried by exports (e.g. a replay's shift of each site)",
        "security": _BEARER, "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {"200": _json("MetaStored", "stored"), **_ERR, **_ADMIN_ERR, **_TOO_LARGE}}},
    "/api/admin/export": {"get": {
        "summary": "The whole forum with ground truth, one JSON record a line (kind: meta, account, thread, post, synthetic_account, provenance)",
        "security": _BEARER,
        "responses": {"200": {"description": "NDJSON", "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}, **_ADMIN_ERR}}},
}

_WEB_SOCKET_HEADERS = [
    {"name": "Upgrade", "in": "header", "required": True, "schema": {"type": "string", "enum": ["websocket"]}},
    {"name": "Connection", "in": "header", "required": True, "schema": {"type": "string", "enum": ["Upgrade"]}},
    {"name": "Sec-WebSocket-Key", "in": "header", "required": True,
     "schema": {"type": "string", "pattern": "^[A-Za-z0-9+/]{22}==$"}, "description": "16 random bytes, base64"},
    {"name": "Sec-WebSocket-Version", "in": "header", "required": True, "schema": {"type": "string", "enum": ["13"]}},
]


_NAMED = {"type": "string", "pattern": TEXT_PATTERN}  # an importer's required text: some non-space, no NUL
THREAD_RECORD = {  # conversations/importers/jsonl.py parse_thread: what a replayed thread record must hold
    "type": "object", "required": ["thread_id", "title", "posts"],
    "description": "murmur JSONL thread format (docs/forum.md); other keys are ignored",
    "properties": {
        "thread_id": _NAMED, "title": _NAMED, "source_url": {"type": ["string", "null"]},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        "posts": {"type": "array", "minItems": 1, "description": "posts[0] opens the thread", "items": {
            "type": "object", "required": ["post_id", "author", "created_at", "body"],
            "properties": {"post_id": _NAMED, "author": _NAMED, "author_name": {"type": ["string", "null"]},
                           "created_at": _TIME, "body": _NAMED,
                           "parent_id": {"type": ["string", "null"], "description": "a post_id of the same thread"}}}},
    },
}


def _handle(limits: ForumLimits) -> dict[str, Any]:
    return {"type": "string", "minLength": HANDLE_MIN_CHARS, "maxLength": limits.handle_max_chars,
            "pattern": HANDLE_PATTERN, "description": "unique name: ASCII letters, digits, '-', '_' or '.'"}


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}], "default": None}


def _text_limits(limits: ForumLimits) -> dict[tuple[str, str], dict[str, int]]:
    """The text fields each operation holds to a length (conversations.requests.check_text): over one, 422."""
    account = {"handle": limits.handle_max_chars, "display_name": limits.handle_max_chars * 2}
    ground_truth = {"persona": 200, "run_id": 200, "generator": 200}
    return {
        ("/api/accounts", "post"): account,
        ("/api/threads", "post"): {"title": limits.title_max_chars, "body": limits.post_max_chars, "tags.N": 40},
        ("/api/threads/search", "get"): {"q": limits.title_max_chars},
        ("/api/threads/{thread_id}/posts", "post"): {"body": limits.post_max_chars},
        ("/api/admin/accounts", "post"): {**account, **ground_truth},
        ("/api/admin/provenance", "post"): ground_truth,
    }


def _limit_responses(paths: dict[str, Any], limits: ForumLimits) -> None:
    """422 for a text field over its limit, with the limits; 413 (already listed) says the body's size in bytes."""
    for (path, method), fields in _text_limits(limits).items():
        listed = ", ".join(f"{name} {chars}" for name, chars in fields.items())
        paths[path][method]["responses"]["422"] = _json(
            "Error", f"a text field over its length limit, named in `field` (most characters: {listed})")
    for operations in paths.values():
        for operation in operations.values():
            if "413" in operation["responses"]:
                operation["responses"]["413"] = _json(
                    "Error", f"the request body over {limits.body_max_bytes} bytes (forum.limits.body_max_bytes)")


def document(limits: ForumLimits) -> dict[str, Any]:
    """The document for a forum with these limits: every constraint the server checks is declared."""
    schemas, paths = copy.deepcopy(SCHEMAS), copy.deepcopy(PATHS)
    _limit_responses(paths, limits)
    name = _text(limits.handle_max_chars * 2, "shown next to posts; defaults to the handle")
    for model in ("NewAccount", "NewSyntheticAccount"):
        schemas[model]["properties"].update(handle=_handle(limits), display_name=_optional(name))
    for model in ("NewSyntheticAccount", "NewProvenance"):
        schemas[model]["properties"].update({key: _text(200) for key in ("persona", "run_id", "generator")})
    schemas["NewThread"]["properties"].update(title=_text(limits.title_max_chars),
                                              body=_text(limits.post_max_chars, "the opening post"))
    schemas["NewThread"]["properties"]["tags"]["items"] = _text(40)
    schemas["NewPost"]["properties"]["body"] = _text(limits.post_max_chars)
    schemas["NewSyntheticAccount"]["properties"]["created_at"] = _optional(_TIME)
    # a record is kept by its post id, or ahead of the post by (account_id, idempotency_key)
    schemas["NewProvenance"]["anyOf"] = [
        {"required": ["post_id"], "properties": {"post_id": _ID}},
        {"required": ["account_id", "idempotency_key"],
         "properties": {"account_id": _ID, "idempotency_key": {"type": "string", "minLength": 1}}}]
    schemas["Replay"]["properties"]["threads"]["items"] = _ref("ThreadRecord")
    schemas["ThreadRecord"] = THREAD_RECORD

    pages = _query("limit", "page size", minimum=1, maximum=limits.page_size_max)
    paths["/api/threads"]["get"]["parameters"] = [pages, _query("offset", "threads to skip")]
    paths["/api/threads/search"]["get"]["parameters"] = [
        {"name": "q", "in": "query", "required": True,
         "schema": _text(limits.title_max_chars, "words to find; punctuation is ignored (only punctuation finds nothing)")},
        _query("limit", "most results", minimum=1, maximum=limits.page_size_max)]
    events = paths["/api/events"]["get"]
    events["parameters"] = [_query("since", "replay events after this sequence number"), *_WEB_SOCKET_HEADERS]
    events["responses"]["400"] = _json("Error", "not a web-socket request, or since is ahead of the latest event")
    paths["/api/admin/meta/{key}"]["put"]["parameters"][0]["schema"] = {"type": "string", "pattern": META_KEY_PATTERN}
    return {
        "openapi": "3.1.0",
        "info": {"title": "murmur test forum", "version": "1",
                 "description": "A local forum for research on synthetic participants. Bearer tokens authenticate "
                                "accounts; the admin token guards ground truth."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


DOCUMENT = document(ForumLimits())  # with the default limits; a running forum serves its own


@routes.get("/api/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[SETTINGS].limits))
