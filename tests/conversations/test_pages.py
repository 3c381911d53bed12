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
