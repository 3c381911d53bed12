"""/fragments/posts/{id}: the HTML a live page inserts, the same for a bot's post as for a person's."""

from __future__ import annotations

import re

SECRET_WORDS = ("espresso-nerd", "run-1", "retrieval", "synthetic", "bot")


async def _fragment(forum, post_id: int) -> tuple[int, str, str]:
    async with forum.anonymous._session.get(f"{forum.url}/fragments/posts/{post_id}") as response:
        return response.status, response.content_type, await response.text()


async def test_a_fragment_is_the_rendered_post_and_says_nothing_of_who_wrote_it(forum):
    person = await forum.account("dana")
    made = await forum.admin.create_bot_account("marta", persona="espresso-nerd", run_id="run-1", generator="retrieval")
    synthetic = forum.anonymous.with_token(made["token"])
    thread = (await person.create_thread("Pressure", "Is it *worth* it?"))["thread"]["id"]
    posts = [await person.reply(thread, "Flat **nine** bar."), await synthetic.reply(thread, "Declining **six** bar.")]

    shapes = []
    for post in posts:
        status, kind, html = await _fragment(forum, post["id"])
        assert status == 200 and kind == "text/html"
        assert html.startswith(f'<li class="post" id="post-{post["id"]}"') and "<strong>" in html
        assert not [word for word in SECRET_WORDS if word in html.lower()]
        # the same markup once what differs by right (id, author, time, words) is taken out
        shapes.append(re.sub(r"post-\d+|\"\d+\"|<b class=\"author\">\w+</b>|<time[^<]*</time>|<strong>\w+</strong>|"
                             r"<p>\w+ | bar\.</p>", "", html))
    assert shapes[0] == shapes[1]


async def test_an_unknown_post_has_no_fragment(forum):
    status, kind, html = await _fragment(forum, 999999)
    assert status == 404 and "post 999999" in html
