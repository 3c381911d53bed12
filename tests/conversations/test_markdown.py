"""Post bodies as safe HTML (conversations/markdown.py): the forum's Markdown renders, and nothing runs."""

from __future__ import annotations

import re

import pytest
from markupsafe import Markup

from conversations.markdown import LINK_REL, render, sanitise
from conversations.pages import TEMPLATES

REL = f'rel="{LINK_REL}"'


def test_markdown_becomes_the_elements_a_reader_expects():
    html = render("_e.g._ and **this**, `code`\nnext line\n\n> quoted\n\n```\nx < y\n```\n\n- one\n- two\n\n~~old~~")
    assert "<em>e.g.</em>" in html and "<strong>this</strong>" in html and "<code>code</code>" in html
    assert "code</code><br>\nnext line" in html  # a line break in a post is kept, as people type them
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html
    assert "<pre><code>x &lt; y\n</code></pre>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html and "<s>old</s>" in html


def test_links_are_linked_and_marked_nofollow_noopener():
    html = render("see http://en.wikipedia.org/wiki/Hops_(plant)#Citra, [the docs](https://example.org/a \"t\") "
                  "and mail a@example.org; setup.py and www.example.com stay text")
    assert f'<a href="http://en.wikipedia.org/wiki/Hops_(plant)#Citra" {REL}>' in html
    assert f'<a href="https://example.org/a" title="t" {REL}>the docs</a>' in html
    assert f'<a href="mailto:a@example.org" {REL}>' in html
    assert "setup.py and www.example.com stay text" in html
    assert all(REL in tag for tag in re.findall(r"<a [^>]*>", html))


def test_raw_html_in_a_post_is_text_and_never_markup():
    html = render('<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> #include <stdio.h>')
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html and "&lt;stdio.h&gt;" in html


@pytest.mark.parametrize("body", [
    "[click](javascript:alert(1))", "[click](JavaScript:alert(1))", "[click](jav&#x61;script:alert(1))",
    "<javascript:alert(1)>", "[click](vbscript:msgbox(1))", "[click](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](javascript:alert(1))",
])
def test_no_script_url_becomes_a_link(body):
    html = render(body)
    assert "href" not in html and "<img" not in html


def test_images_are_links_to_the_image_never_loaded():
    html = render("![a hop cone](https://i.example.org/hop.png) and [![inner](https://i.example.org/x.png)](https://example.org/)")
    assert "<img" not in html
    assert f'<a href="https://i.example.org/hop.png" {REL}>image: a hop cone</a>' in html
    assert f'<a href="https://example.org/" {REL}>image: inner</a>' in html  # links do not nest


def test_headings_sit_below_the_page_title():
    assert render("# Big\n\n#### Small") == "<h3>Big</h3>\n<h6>Small</h6>"


def test_the_sanitiser_strips_scripts_handlers_and_script_urls():
    dirty = ('<p onclick="x()">a<script>window.pwned = 1</script></p><img src=x onerror="window.pwned = 2">'
             '<a href="javascript:alert(1)">j</a><a href="https://example.org" target="_blank" rel="opener">ok</a>'
             '<iframe src="https://example.org"></iframe><p style="color:red">s</p><!-- note -->')
    clean = sanitise(dirty)
    assert clean == f'<p>a</p><a {REL}>j</a><a href="https://example.org" {REL}>ok</a><p>s</p>'


def test_rendered_html_goes_into_a_template_unescaped_once():
    template = TEMPLATES.from_string("<div>{{ body | markdown }}</div>")  # the pages' own environment
    assert isinstance(render("x"), Markup)
    assert template.render(body="*a* & <b>") == "<div><p><em>a</em> &amp; &lt;b&gt;</p></div>"
