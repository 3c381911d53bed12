"""Server-rendered web pages of the forum: a thread list and thread pages that update live.

The pages show exactly what the public API shows; nothing marks a post as synthetic.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from conversations.appkeys import SETTINGS, STORE
from conversations.requests import path_id, query_int

HERE = Path(__file__).parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
PAGE_SIZE = 30

routes = web.RouteTableDef()


def _render(name: str, **context: object) -> web.Response:
    return web.Response(text=TEMPLATES.get_template(name).render(**context), content_type="text/html")


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    store = request.app[STORE]
    page = query_int(request, "page", 1, 1)
    threads, total = await store.list_threads(PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return _render(
        "index.html",
        threads=threads,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        latest_seq=await store.latest_seq(),
        limits=request.app[SETTINGS].limits,
    )


@routes.get("/threads/{thread_id}")
async def thread_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    seq = await store.latest_seq()  # read first: the page then replays anything committed after it
    thread, posts = await store.get_thread(path_id(request, "thread_id"))
    return _render("thread.html", thread=thread, posts=posts, latest_seq=seq, limits=request.app[SETTINGS].limits)


routes.static("/static", HERE / "static")
