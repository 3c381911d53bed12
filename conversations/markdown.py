"""Post bodies as safe HTML: Markdown rendered by markdown-it-py, then sanitised by nh3 (ammonia).

Posts are Markdown (Stack Exchange's and people's alike) and anyone may write one, so the page needs both steps:
the renderer gives the forum's look (emphasis, links, quotes, code, lists, tables), the sanitiser is the one place
that decides what HTML a page may hold. Raw HTML typed into a post is shown as text, never parsed: the corpus uses
``<`` as text (``#include <stdio.h>``, ``<sigh>``). Only links with a scheme (http, https, mailto) are linked; bare
names like ``setup.py`` stay text. Links get ``rel="nofollow noopener"``. Images are shown as links to the image,
never loaded: a page of a local research forum fetches nothing from elsewhere (no tracking pixel learns who reads).
Headings move down two levels so a post's ``#`` never competes with the page's own ``<h1>``.

The server renders every post, on the thread page and in the fragment a live page fetches, so there is one renderer.
"""

from __future__ import annotations

from collections.abc import Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup

LINK_REL = "nofollow noopener"
URL_SCHEMES = {"http", "https", "mailto"}
TAGS = {"p", "br", "em", "strong", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
        "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td"}
_CLEANER = nh3.Cleaner(
    tags=TAGS, clean_content_tags={"script", "style"}, attributes={"a": {"href", "title"}, "ol": {"start"},
                                                                   "th": {"style"}, "td": {"style"}},
    filter_style_properties={"text-align"}, url_schemes=URL_SCHEMES, link_rel=LINK_REL, strip_comments=True)


def _headings_down(state: StateCore) -> None:
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 2, 6)}"


def _image_as_link(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    """``![alt](src)`` as a link to the image (inside a link: its alt text only, for links do not nest)."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    inside_link = sum(t.type == "link_open" for t in tokens[:idx]) > sum(t.type == "link_close" for t in tokens[:idx])
    text = escapeHtml(f"image: {alt}" if alt else "image")
    return text if inside_link else f'<a href="{escapeHtml(token.attrGet("src") or "")}">{text}</a>'


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    md.enable(["linkify", "strikethrough", "table"])
    md.linkify.set({"fuzzy_link": False})  # "setup.py" is a file name, not a site
    md.linkify.add("ftp:", None).add("//", None)  # link only what the sanitiser keeps
    md.core.ruler.push("headings_down", _headings_down)
    md.add_render_rule("image", _image_as_link)
    return md


_MD = _renderer()


def sanitise(html: str) -> str:
    """HTML reduced to the tags, attributes and URL schemes a post may hold, links marked ``rel``."""
    return _CLEANER.clean(html)


def render(text: str) -> Markup:
    """A post body (Markdown) as sanitised HTML, ready for a template."""
    return Markup(sanitise(_MD.render(text)).strip())
