"""The forum's web pages in a real headless Chromium: navigation, posting, live updates, escaping, no bot marks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from tests.conftest import chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 5000  # longest any single wait in these tests may take
INJECTION = "<img src=x onerror=alert(1)>"
SECRET_WORDS = ("espresso-nerd", "run-1", "retrieval", "synthetic", "bot")

# Tag and class names of an element and all its descendants, in document order: a post's "shape".
STRUCTURE_JS = """(el) => {
  const shape = (node) => ({
    tag: node.tagName.toLowerCase(),
    classes: [...node.classList].filter((c) => c !== "fresh").sort(),
    children: [...node.children].map(shape),
  });
  return shape(el);
}"""


@pytest.fixture
async def page(forum) -> AsyncIterator[Page]:
    """A fresh browser tab; depends on ``forum`` so the browser (and its web socket) closes before the forum stops."""
    async with chromium() as browser:
        context = await browser.new_context()
        tab = await context.new_page()
        tab.set_default_timeout(WAIT_MS)
        tab.set_default_navigation_timeout(WAIT_MS)
        yield tab
        await context.close()


async def open_live(page: Page, url: str) -> None:
    """Load a page and wait until its event web socket is connected; leave a marker that a reload would erase."""
    await page.goto(url)
    await expect(page.locator("body")).to_have_attribute("data-live", "1", timeout=WAIT_MS)
    await page.evaluate("window.__notReloaded = true")


async def assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"


async def test_thread_list_links_to_the_thread_page(forum, page):
    alice = await forum.account("alice")
    created = await alice.create_thread("Best grinder under 200?", "Looking for burr grinders.", tags=["espresso"])
    thread_id = created["thread"]["id"]

    await page.goto(forum.url + "/")
    item = page.locator(f'#thread-list li[data-thread-id="{thread_id}"]')
    await expect(item).to_contain_text("Best grinder under 200?")
    await expect(item).to_contain_text("alice")
    await item.get_by_role("link", name="Best grinder under 200?").click()

    await expect(page).to_have_url(f"{forum.url}/threads/{thread_id}")
    await expect(page.locator("#thread h1")).to_have_text("Best grinder under 200?")
    await expect(page.locator("#posts li.post")).to_have_count(1)
    await expect(page.locator("#posts li.post .body")).to_have_text("Looking for burr grinders.")


async def test_sign_up_and_reply_from_the_thread_page(forum, page):
    alice = await forum.account("alice")
    thread_id = (await alice.create_thread("Descaling a Gaggia", "How often?"))["thread"]["id"]

    await page.goto(f"{forum.url}/threads/{thread_id}")
    await expect(page.locator("#reply")).to_be_hidden()  # no account yet, nothing to post with
    await page.locator("#new-handle").fill("carol")
    await page.locator("#sign-up button[type=submit]").click()
    await expect(page.locator("#handle")).to_have_text("carol")
    await expect(page.locator("#sign-up")).to_be_hidden()
    await expect(page.locator("#status")).to_have_text("")

    await page.locator("#reply textarea[name=body]").fill("Every two months with citric acid.")
    await page.locator("#reply button[type=submit]").click()
    mine = page.locator("#posts li.post", has_text="Every two months with citric acid.")
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".author")).to_have_text("carol")
    await expect(page.locator("#reply textarea[name=body]")).to_have_value("")  # the form was reset

    data = await forum.anonymous.get_thread(thread_id)
    assert [(p["author"]["handle"], p["body"]) for p in data["posts"]] == [
        ("alice", "How often?"), ("carol", "Every two months with citric acid.")]
    # the page shows the post the API stored, by id, exactly once (the live echo is not appended twice)
    await expect(page.locator(f'#post-{data["posts"][1]["id"]}')).to_have_count(1)
    await expect(page.locator("#posts li.post")).to_have_count(2)

    # the account survives a reload (kept in localStorage)
    await page.reload()
    await expect(page.locator("#handle")).to_have_text("carol")
    await expect(page.locator("#reply")).to_be_visible()


async def test_replies_and_threads_appear_live_without_reload(forum, page):
    alice = await forum.account("alice")
    bob = await forum.account("bob")
    thread_id = (await alice.create_thread("Milk steaming tips", "Microfoam is hard."))["thread"]["id"]

    await open_live(page, f"{forum.url}/threads/{thread_id}")
    reply = await bob.reply(thread_id, "Purge the wand first, then stretch early.")
    live = page.locator(f'#post-{reply["id"]}')
    await expect(live.locator(".body")).to_have_text("Purge the wand first, then stretch early.", timeout=WAIT_MS)
    await expect(live.locator(".author")).to_have_text("bob")
    await expect(page.locator("#posts li.post")).to_have_count(2)
    await assert_not_reloaded(page)

    # a post to another thread does not land on this page
    other = (await alice.create_thread("Unrelated", "Nothing to see."))["thread"]["id"]
    await bob.reply(other, "Elsewhere entirely.")
    marker = await bob.reply(thread_id, "Marker after the unrelated posts.")
    await expect(page.locator(f'#post-{marker["id"]}')).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator("#posts")).not_to_contain_text("Elsewhere entirely.")
    await expect(page.locator("#posts li.post")).to_have_count(3)

    await open_live(page, forum.url + "/")
    created = await bob.create_thread("Brand new thread", "Fresh off the API.")
    new_id = created["thread"]["id"]
    first = page.locator("#thread-list > li").first
    await expect(first).to_have_attribute("data-thread-id", str(new_id), timeout=WAIT_MS)
    await expect(first.get_by_role("link", name="Brand new thread")).to_have_attribute("href", f"/threads/{new_id}")
    await expect(page.locator(f'#thread-list li[data-thread-id="{new_id}"]')).to_have_count(1)
    await assert_not_reloaded(page)

    # activity in an older thread moves it to the top without duplicating it
    await bob.reply(thread_id, "Bump.")
    await expect(page.locator("#thread-list > li").first).to_have_attribute("data-thread-id", str(thread_id), timeout=WAIT_MS)
    await expect(page.locator(f'#thread-list li[data-thread-id="{thread_id}"]')).to_have_count(1)
    await assert_not_reloaded(page)


async def test_html_in_posts_is_shown_as_text(forum, page):
    dialogs: list[str] = []

    async def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    alice = await forum.account("alice")
    thread_id = (await alice.create_thread(f"title {INJECTION}", INJECTION))["thread"]["id"]

    # server-rendered: the opening post and the title
    await open_live(page, f"{forum.url}/threads/{thread_id}")
    await expect(page.locator("#posts .body").first).to_have_text(INJECTION)
    await expect(page.locator("#thread h1")).to_have_text(f"title {INJECTION}")
    await expect(page.locator("#posts img")).to_have_count(0)
    await expect(page.locator("main img")).to_have_count(0)

    # appended live from the web socket
    reply = await alice.reply(thread_id, f"live {INJECTION}")
    live_body = page.locator(f'#post-{reply["id"]} .body')
    await expect(live_body).to_have_text(f"live {INJECTION}", timeout=WAIT_MS)
    await expect(live_body).to_be_visible()
    await expect(page.locator("#posts img")).to_have_count(0)

    # the thread list, server-rendered and live-prepended
    await open_live(page, forum.url + "/")
    await expect(page.locator(f'#thread-list li[data-thread-id="{thread_id}"] a')).to_have_text(f"title {INJECTION}")
    fresh = (await alice.create_thread(f"fresh {INJECTION}", "body"))["thread"]["id"]
    await expect(page.locator(f'#thread-list li[data-thread-id="{fresh}"] a')).to_have_text(
        f"fresh {INJECTION}", timeout=WAIT_MS)
    await expect(page.locator("main img")).to_have_count(0)

    assert dialogs == []


def assert_no_secret_words(text: str, where: str) -> None:
    found = [word for word in SECRET_WORDS if word in text.lower()]
    assert not found, f"{where} reveals {found}"


async def test_pages_never_reveal_synthetic_accounts(forum, page):
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))

    person = await forum.account("dana")
    made = await forum.admin.create_bot_account("marta", persona="espresso-nerd", run_id="run-1", generator="retrieval")
    synthetic = forum.anonymous.with_token(made["token"])
    thread_id = (await person.create_thread("Pressure profiling", "Is it worth it?"))["thread"]["id"]
    person_post = await person.reply(thread_id, "I think flat nine bar is fine.")
    synthetic_post = await synthetic.reply(thread_id, "Declining pressure tames the tail of the shot.")

    response = await page.goto(f"{forum.url}/threads/{thread_id}")
    assert response is not None and response.ok
    assert_no_secret_words(await response.text(), "the thread page's HTML source")
    await expect(page.locator(f'#post-{synthetic_post["id"]} .author')).to_have_text("marta")
    await expect(page.locator("body")).to_have_attribute("data-live", "1", timeout=WAIT_MS)
    assert_no_secret_words(await page.content(), "the rendered thread page")
    assert_no_secret_words(await page.evaluate("document.documentElement.textContent"), "the thread page's text")

    server_person = await page.locator(f'#post-{person_post["id"]}').evaluate(STRUCTURE_JS)
    server_synthetic = await page.locator(f'#post-{synthetic_post["id"]}').evaluate(STRUCTURE_JS)
    assert server_synthetic == server_person
    assert await page.locator(f'#post-{synthetic_post["id"]}').get_attribute("class") == \
        await page.locator(f'#post-{person_post["id"]}').get_attribute("class")

    # the same for posts appended live, and the web-socket frames that carried them
    live_person = await person.reply(thread_id, "Fair point, I'll try it.")
    live_synthetic = await synthetic.reply(thread_id, "Start at nine and fall to six.")
    await expect(page.locator(f'#post-{live_person["id"]}')).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator(f'#post-{live_synthetic["id"]}')).to_have_count(1, timeout=WAIT_MS)
    live_person_shape = await page.locator(f'#post-{live_person["id"]}').evaluate(STRUCTURE_JS)
    live_synthetic_shape = await page.locator(f'#post-{live_synthetic["id"]}').evaluate(STRUCTURE_JS)
    assert live_synthetic_shape == live_person_shape
    assert await page.locator(f'#post-{live_synthetic["id"]}').get_attribute("class") == \
        await page.locator(f'#post-{live_person["id"]}').get_attribute("class")
    assert_no_secret_words(await page.content(), "the thread page after live posts")
    assert_no_secret_words(await page.evaluate("document.documentElement.textContent"), "the live thread page's text")
    assert any("Start at nine and fall to six." in frame for frame in frames)
    for frame in frames:
        assert_no_secret_words(frame, "an event web-socket frame")

    # the thread list too
    response = await page.goto(forum.url + "/")
    assert response is not None and response.ok
    assert_no_secret_words(await response.text(), "the thread list's HTML source")
    assert_no_secret_words(await page.content(), "the rendered thread list")


MARKDOWN = ("_e.g._ **strong** and `code`\n\n> a quoted line\n\nsee http://example.com/hops and [the guide](https://example.org/guide)\n\n"
            "```\nx < y\n```")
ATTACKS = ('<script>window.pwned = 1; document.title = "pwned"</script> <img src=x onerror="window.pwned = 2">\n\n'
           '[click me](javascript:window.pwned=3) <a href="javascript:window.pwned=4">raw link</a> '
           '<javascript:window.pwned=5>')
BODY_HTML_JS = "(el) => el.querySelector(':scope > .body').innerHTML"


async def assert_markdown_rendered(page: Page, post_id: int) -> None:
    body = page.locator(f"#post-{post_id} > .body")
    await expect(body.locator("em")).to_have_text("e.g.")
    await expect(body.locator("strong")).to_have_text("strong")
    await expect(body.locator("p > code")).to_have_text("code")
    await expect(body.locator("blockquote")).to_have_text("a quoted line")
    await expect(body.locator("pre > code")).to_have_text("x < y")
    bare, named = body.locator('a[href="http://example.com/hops"]'), body.get_by_role("link", name="the guide")
    await expect(bare).to_have_text("http://example.com/hops")
    await expect(named).to_have_attribute("href", "https://example.org/guide")
    for link in (bare, named):
        await expect(link).to_have_attribute("rel", "nofollow noopener")
    await expect(body).not_to_contain_text("_e.g._")


async def test_markdown_renders_as_html_on_the_page_and_live_alike(forum, page):
    alice = await forum.account("alice")
    created = await alice.create_thread("Formatting", MARKDOWN)
    thread_id, opening = created["thread"]["id"], created["post"]["id"]

    await open_live(page, f"{forum.url}/threads/{thread_id}")
    await assert_markdown_rendered(page, opening)
    live = await alice.reply(thread_id, MARKDOWN)
    await expect(page.locator(f'#post-{live["id"]}')).to_have_count(1, timeout=WAIT_MS)
    await assert_markdown_rendered(page, live["id"])
    # one renderer: the live post's body is the very HTML the server put on the page
    server_html = await page.locator(f"#post-{opening}").evaluate(BODY_HTML_JS)
    assert await page.locator(f'#post-{live["id"]}').evaluate(BODY_HTML_JS) == server_html
    await assert_not_reloaded(page)


async def test_scripts_handlers_and_script_links_in_posts_never_run(forum, page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    alice = await forum.account("alice")
    thread_id = (await alice.create_thread("Attacks", ATTACKS))["thread"]["id"]

    await open_live(page, f"{forum.url}/threads/{thread_id}")
    title = await page.title()
    live = await alice.reply(thread_id, ATTACKS)
    await expect(page.locator(f'#post-{live["id"]}')).to_have_count(1, timeout=WAIT_MS)
    posts = page.locator("#posts")
    for selector in ("script", "img", "[onerror]", 'a[href^="javascript" i]', "a:not([href])"):
        await expect(posts.locator(selector)).to_have_count(0)
    await expect(posts.locator("li.post > .body").first).to_contain_text("<script>")  # shown, as text
    await posts.get_by_text("[click me](javascript:window.pwned=3)").first.click()  # text, not a link
    await page.wait_for_timeout(200)
    assert await page.evaluate("window.pwned") is None
    assert await page.title() == title != "pwned"
    assert dialogs == []


async def _layout(page: Page) -> list[tuple[int, int | None]]:
    """Each post on the page, in document order, with the post it is shown under (None: the top level)."""
    return [tuple(row) for row in await page.locator("#posts li.post").evaluate_all(
        "(items) => items.map((li) => [Number(li.dataset.postId),"
        " li.parentElement.closest('li.post') ? Number(li.parentElement.closest('li.post').dataset.postId) : null])")]


async def test_replies_show_under_their_parent_on_the_page_and_live(forum, page):
    alice, bob = await forum.account("alice"), await forum.account("bob")
    created = await alice.create_thread("Nested replies", "Which grinder?")
    thread_id, opening = created["thread"]["id"], created["post"]["id"]
    answer = await bob.reply(thread_id, "A hand grinder.")
    question = await alice.reply(thread_id, "Which one?", parent_id=answer["id"])
    to_opening = await bob.reply(thread_id, "Or a flat burr.", parent_id=opening)  # an answer: top level

    await open_live(page, f"{forum.url}/threads/{thread_id}")
    assert await _layout(page) == [(opening, None), (answer["id"], None), (question["id"], answer["id"]),
                                   (to_opening["id"], None)]
    await expect(page.locator(f'#post-{answer["id"]} > ol.replies > li.post')).to_have_count(1)

    # live replies go under their parent too, after the replies already there, and deep chains stop nesting
    live = [await bob.reply(thread_id, "The Comandante.", parent_id=question["id"]),
            await alice.reply(thread_id, "Also: any burr set.", parent_id=answer["id"])]
    parent = live[0]["id"]
    for i in range(8):
        live.append(await (alice, bob)[i % 2].reply(thread_id, f"deeper {i}", parent_id=parent))
        parent = live[-1]["id"]
    await expect(page.locator(f'#post-{live[-1]["id"]}')).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator("#posts li.post")).to_have_count(4 + len(live))
    arrived = await _layout(page)
    assert (live[0]["id"], question["id"]) in arrived and (live[1]["id"], answer["id"]) in arrived
    await assert_not_reloaded(page)

    await page.reload()  # the server lays the same thread out the same way
    await expect(page.locator("#posts li.post")).to_have_count(4 + len(live))
    assert await _layout(page) == arrived
    depths = await page.locator("#posts li.post").evaluate_all(
        "(items) => items.map((li) => { let d = 0; for (let up = li.parentElement.closest('li.post'); up;"
        " up = up.parentElement.closest('li.post')) d += 1; return d; })")
    assert max(depths) == int(await page.locator("#posts").get_attribute("data-max-depth"))


async def test_counts_say_1_post_and_2_posts_on_the_page_and_live(forum, page):
    alice = await forum.account("alice")
    one = (await alice.create_thread("Just one post", "alone", tags=["solo"]))["thread"]["id"]
    two = (await alice.create_thread("Two posts", "first"))["thread"]["id"]
    await alice.reply(two, "second")

    await open_live(page, forum.url + "/")
    await expect(page.locator(f'#thread-list li[data-thread-id="{one}"] .meta')).to_contain_text("1 post ·")
    await expect(page.locator(f'#thread-list li[data-thread-id="{two}"] .meta')).to_contain_text("2 posts ·")
    fresh = (await alice.create_thread("A fresh thread", "new", tags=["solo"]))["thread"]["id"]
    item = page.locator(f'#thread-list li[data-thread-id="{fresh}"]')
    await expect(item.locator(".meta")).to_contain_text("1 post ·", timeout=WAIT_MS)
    await expect(page.locator("#thread-list")).not_to_contain_text("1 posts")
    # the live entry is built like the server's: same elements, the tags too
    server = await page.locator(f'#thread-list li[data-thread-id="{one}"]').evaluate(STRUCTURE_JS)
    assert await item.evaluate(STRUCTURE_JS) == server
