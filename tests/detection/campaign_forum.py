"""A scripted forum with a campaign, for the coordination detector and the campaign report: people posting on
their own, one hot post that draws a burst of them at once, and a campaign whose amplifiers answer its drivers
within two minutes (and share its link); and a writer of it as a dataset folder, as `murmur export` lays one out."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np

from detection.dataset import Dataset, Forum, Truth

HOUR = 3600.0
WORDS = ("grind", "roast", "water", "kettle", "filter", "crema", "bean", "ratio", "brew", "milk", "steam", "scale",
         "timer", "burr", "tamp", "dose", "press", "pour", "bloom", "drip", "cup", "mug", "aroma", "acid", "body")
DRIVERS, AMPLIFIERS = ("d1", "d2"), ("a1", "a2", "a3", "a4")
BURST = tuple(f"p{n}" for n in range(8))


def _text(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" {rng.randrange(10**6)}"


def scripted_forum(seed: int = 3, campaign: bool = True, waves: int = 6, link: bool = True) -> Dataset:
    rng = random.Random(seed)
    people = [f"p{n}" for n in range(30)]
    posts: list[dict] = []

    def post(account: str, thread: int, at: float, body: str, parent: int = -1, campaign_id: str = "") -> int:
        posts.append({"account": account, "thread": thread, "at": at, "body": body, "parent": parent,
                      "campaign": campaign_id})
        return len(posts) - 1

    openings = []
    for thread in range(20):  # people on their own: a thread a few hours apart, replies hours after
        opened = thread * 6 * HOUR
        openings.append(post(rng.choice(people), thread, opened, _text(rng)))
        at = opened
        for _ in range(rng.randint(2, 6)):
            at += rng.expovariate(1 / (3 * HOUR))
            post(rng.choice(people), thread, at, _text(rng), rng.choice([-1, openings[-1]]))
    hot = openings[7]  # one hot post: eight people answer it within ten minutes, once
    for n, person in enumerate(BURST):
        post(person, 7, posts[hot]["at"] + 60 + n * 70, _text(rng), hot)
    if campaign:
        for wave in range(waves):  # six driver posts, each answered by every amplifier 120 s +- 30 s later
            thread = 2 + 3 * wave
            at = posts[openings[thread]]["at"] + 2 * HOUR
            url = " https://www.example.org/pods/?utm_source=c1" if link else ""
            driver = post(DRIVERS[wave % 2], thread, at, f"{_text(rng)} see{url}", -1, "c1")
            for amplifier in AMPLIFIERS:
                post(amplifier, thread, at + 120 + rng.uniform(-30, 30), f"{_text(rng)}{url}", driver, "c1")
    accounts = sorted({p["account"] for p in posts})
    members = set(DRIVERS + AMPLIFIERS)
    forum = Forum(account_ids=tuple(accounts), thread_ids=tuple(str(t) for t in range(20)),
                  thread_titles=tuple(f"thread {t}" for t in range(20)), post_ids=tuple(str(i) for i in range(len(posts))),
                  post_account=np.array([accounts.index(p["account"]) for p in posts]),
                  post_thread=np.array([p["thread"] for p in posts]), post_parent=np.array([p["parent"] for p in posts]),
                  post_time=np.array([p["at"] for p in posts]), post_body=tuple(p["body"] for p in posts))
    info = tuple({"campaign_id": "c1", "role": "driver" if a in DRIVERS else "amplifier"} if a in members else {}
                 for a in accounts)
    truth = Truth(np.array([a in members for a in accounts]), np.array([p["account"] in members for p in posts]),
                  info, tuple(p["campaign"] for p in posts))
    return Dataset(Path("scripted"), forum, truth, None, tuple("" for _ in accounts), tuple("" for _ in posts))


def scripted_sides(dataset: Dataset) -> list[str]:
    """The campaign on one side; in the people's burst one person for it and one against, the rest off the topic."""
    names = dataset.forum.account_ids
    burst = {"p0": "pro", "p1": "con"}
    hot_thread = 7
    return ["pro" if campaign else burst.get(names[account], "none") if thread == hot_thread else "none"
            for campaign, account, thread in zip(dataset.truth.post_campaign, dataset.forum.post_account,
                                                 dataset.forum.post_thread)]




def write_dataset(dataset: Dataset, folder: Path) -> Path:
    """posts.csv, labels.csv and post_labels.csv of a scripted dataset (times as Unix seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    forum, truth = dataset.forum, dataset.truth

    def write(name: str, header: list[str], rows) -> None:
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(header)
            out.writerows(rows)
    write("posts.csv", ["post_id", "thread_id", "account_id", "parent_id", "created_at", "body"],
          ([forum.post_ids[p], forum.thread_ids[forum.post_thread[p]], forum.account_ids[forum.post_account[p]],
            forum.post_ids[forum.post_parent[p]] if forum.post_parent[p] >= 0 else "", f"{forum.post_time[p]:.3f}",
            forum.post_body[p]] for p in range(forum.n_posts)))
    write("labels.csv", ["account_id", "synthetic", "campaign_id", "role"],
          ([forum.account_ids[a], int(truth.account_synthetic[a]), info.get("campaign_id", ""), info.get("role", "")]
           for a, info in enumerate(truth.account_info)))
    write("post_labels.csv", ["post_id", "synthetic", "campaign_id"],
          ([forum.post_ids[p], int(truth.post_synthetic[p]), truth.post_campaign[p]] for p in range(forum.n_posts)))
    return folder
