// The forum's little bit of JavaScript: an account kept in localStorage, posting through the
// REST API, and live updates from the event web socket (resuming with ?since= after a drop).
// It never renders a post itself: new posts come from the server as HTML (/fragments/posts/{id}).
(() => {
  "use strict";
  const $ = (sel) => document.querySelector(sel);
  const statusLine = $("#status");
  const say = (text) => { statusLine.textContent = text || ""; };
  const account = () => JSON.parse(localStorage.getItem("murmur.account") || "null");

  function showSession() {
    const me = account();
    $("#signed-in").hidden = !me;
    $("#sign-up").hidden = !!me;
    if (me) $("#handle").textContent = me.handle;
    document.querySelectorAll("[data-needs-account]").forEach((el) => { el.hidden = !me; });
  }

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    const me = account();
    if (me) headers.Authorization = "Bearer " + me.token;
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  $("#sign-up").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("POST", "/api/accounts", { handle: $("#new-handle").value });
      localStorage.setItem("murmur.account", JSON.stringify({ handle: data.account.handle, token: data.token }));
      say("");
      showSession();
    } catch (error) { say(error.message); }
  });
  $("#sign-out").addEventListener("click", () => { localStorage.removeItem("murmur.account"); showSession(); });

  // A post is rendered by the server only (its Markdown, sanitised): the page fetches the same HTML the thread
  // page is made of, and inserts posts one at a time, in the order they came, each under the post it answers.
  async function postElement(id) {
    const response = await fetch(`/fragments/posts/${id}`);
    if (!response.ok) throw new Error(`post ${id}: ${response.statusText}`);
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    const li = template.content.firstElementChild;
    li.classList.add("fresh");
    return li;
  }

  function depthOf(li) {
    let depth = 0;
    for (let up = li.parentElement.closest("li.post"); up; up = up.parentElement.closest("li.post")) depth += 1;
    return depth;
  }

  function place(li) {
    const parentId = li.dataset.parentId;
    const parent = parentId && parentId !== threadView.dataset.openingPostId && document.getElementById("post-" + parentId);
    if (!parent) return $("#posts").append(li);
    if (depthOf(parent) >= Number($("#posts").dataset.maxDepth)) return parent.parentElement.append(li);
    parent.querySelector(":scope > ol.replies").append(li);
  }

  let inserting = Promise.resolve();
  function showPost(id) {
    inserting = inserting.then(async () => {
      if (document.getElementById("post-" + id)) return;
      const li = await postElement(id);
      if (!document.getElementById("post-" + id)) place(li);
    }).catch((error) => say(error.message));
    return inserting;
  }

  function threadElement(thread) {
    const li = document.createElement("li");
    li.className = "fresh";
    li.dataset.threadId = thread.id;
    const link = document.createElement("a");
    link.href = "/threads/" + thread.id;
    link.textContent = thread.title;
    const meta = document.createElement("span");
    meta.className = "meta";
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = thread.post_count;
    const noun = thread.post_count === 1 ? "post" : "posts";
    meta.append(` by ${thread.author.display_name} · `, count,
      ` ${noun} · last activity ${thread.last_activity_at.slice(0, 16).replace("T", " ")}`);
    const tags = thread.tags.map((name) => {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = name;
      return tag;
    });
    li.append(link, " ", meta, " ", ...tags);
    return li;
  }

  const threadView = $("#thread");
  const listView = $("#threads");

  function apply(event) {
    if (threadView && String(event.thread.id) === threadView.dataset.threadId) {
      showPost(event.post.id);
    } else if (listView) {
      const list = $("#thread-list");
      const old = list.querySelector(`[data-thread-id="${event.thread.id}"]`);
      if (old) old.remove();
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
      list.prepend(threadElement(event.thread));
    }
  }

  let lastSeq = Number((threadView || listView).dataset.latestSeq);
  let retryMs = 500;
  function follow() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/events?since=${lastSeq}`);
    socket.onopen = () => { retryMs = 500; document.body.dataset.live = "1"; };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.seq === undefined || event.seq <= lastSeq) return;
      lastSeq = event.seq;
      apply(event);
    };
    socket.onclose = () => {
      document.body.dataset.live = "0";
      setTimeout(follow, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.reply-to");
    if (!button) return;
    const form = $("#reply");
    form.parent_id.value = button.dataset.postId;
    $("#replying-to").textContent = "to #" + button.dataset.postId;
    form.body.focus();
  });

  const replyForm = $("#reply");
  if (replyForm) replyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parent = replyForm.parent_id.value;
    try {
      const data = await api("POST", `/api/threads/${threadView.dataset.threadId}/posts`,
        parent ? { body: replyForm.body.value, parent_id: Number(parent) } : { body: replyForm.body.value });
      replyForm.reset();
      $("#replying-to").textContent = "";
      say("");
      await showPost(data.post.id);
    } catch (error) { say(error.message); }
  });

  const threadForm = $("#new-thread");
  if (threadForm) threadForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("POST", "/api/threads", { title: threadForm.title.value, body: threadForm.body.value });
      location.href = "/threads/" + data.thread.id;
    } catch (error) { say(error.message); }
  });

  showSession();
  follow();
})();
