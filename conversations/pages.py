"""Server-rendered web pages of the forum: a thread list and thread pages that update live.

The pages show exactly what the public API shows; nothing marks a post as synthetic. Post bodies are Markdown,
rendered and sanitised here only (conversations.markdown): a live page fetches each new post as an HTML fragment
(/fragments/posts/{id}) made from the same template as the thread page, so the two cannot differ.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import jinja2
from aiohttp import web

from conversations import markdown
from conversations.appkeys import SETTINGS, STORE
from conversations.models import Post
from conversations.requests import path_id, query_int

HERE = Path(__file__).parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
TEMPLATES.filters["markdown"] = markdown.render
TEMPLATES.filters["noun"] = lambda count, singular: singular if count == 1 else f"{singular}s"
PAGE_SIZE = 30
MAX_DEPTH = 6  # replies nest this deep; a swarm can chain replies without end, and a page cannot indent without end

routes = web.RouteTableDef()


def _render(name: str, **context: object) -> web.Response:
    return web.Response(text=TEMPLATES.get_template(name).render(**context), content_type="text/html")


def reply_tree(posts: list[Post]) -> tuple[list[Post], dict[int, list[Post]]]:
    """The posts as a page shows them: the top level, and the replies shown under each post, both in ``posts``' order.

    The top level holds the opening post, replies to it or to the thread, and replies whose parent is not in the
    thread. A reply to a post already MAX_DEPTH deep lines up beside that post instead of under it.
    """
    if not posts:
        return [], {}
    opening = posts[0].id
    under: dict[int, int | None] = {}  # post id -> the post it is shown under (None: the top level)
    depth: dict[int, int] = {}
    for post in sorted(posts, key=lambda p: p.id):  # a parent is always made before its replies
        parent = post.parent_id
        if parent is None or parent == opening or parent not in under:
            under[post.id], depth[post.id] = None, 0
            continue
        if depth[parent] >= MAX_DEPTH:
            parent = under[parent]
        under[post.id], depth[post.id] = parent, depth[parent] + 1
    top: list[Post] = []
    replies: dict[int, list[Post]] = defaultdict(list)
    for post in posts:
        shown_under = under[post.id]
        (top if shown_under is None else replies[shown_under]).append(post)
    return top, dict(replies)


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
    top, replies = reply_tree(posts)
    return _render("thread.html", thread=thread, top=top, replies=replies, max_depth=MAX_DEPTH, latest_seq=seq,
                   limits=request.app[SETTINGS].limits)


@routes.get("/fragments/posts/{post_id}")
async def post_fragment(request: web.Request) -> web.Response:
    """One post as the thread page shows it (without its replies), for a live page to insert."""
    post = await request.app[STORE].get_post(path_id(request, "post_id"))
    item = TEMPLATES.get_template("_items.html").module.post_item(post, {})  # type: ignore[attr-defined]
    return web.Response(text=str(item), content_type="text/html")


routes.static("/static", HERE / "static")
