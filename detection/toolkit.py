"""The field's own coordination detector on murmur's data: the coordination-network-toolkit (QUT DMRC), run beside
murmur's on the same export.

``write_toolkit_csv`` writes a dataset in the CSV the toolkit's ``preprocess`` reads (message_id, user_id,
username, repost_id, reply_id, message, timestamp, urls: space-separated); ``toolkit_network`` runs its own
co-reply, co-link and co-similar-message computations in the same window and returns the account network, summed
over the three, which murmur clusters and scores as it does its own (``detection.coordination``). The toolkit
is an optional install (``pip install -e '.[reference]'``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
from collections import Counter
from pathlib import Path

from detection.coordination import URL, Pair, normal_url, thread_openings
from detection.dataset import Dataset
from detection.errors import DatasetError

COMMANDS = ("co_reply", "co_link", "co_similar_tweet")
SIMILARITY = 0.8  # the toolkit's Jaccard over word sets (its default is 0.9); the same bar as murmur's near-duplicates


class ToolkitMissing(DatasetError):
    """The coordination-network-toolkit is not installed."""


def write_toolkit_csv(dataset: Dataset, path: Path | str) -> int:
    """The dataset's posts as the toolkit's CSV (one header row); returns the rows written. A reply with no parent
    answers its thread's opening post, as murmur's co-reply reads it, so both detectors see the same co-replies."""
    forum = dataset.forum
    path = Path(path)
    openings = thread_openings(forum)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls"])
        for post in range(forum.n_posts):
            parent = int(forum.post_parent[post])
            opening = openings[int(forum.post_thread[post])]
            parent = parent if parent >= 0 or opening == post else opening
            body = forum.post_body[post]
            account = forum.account_ids[int(forum.post_account[post])]
            writer.writerow([forum.post_ids[post], account, account, "",
                             forum.post_ids[parent] if parent >= 0 else "", body.replace("\n", " "),
                             f"{float(forum.post_time[post]):.3f}",
                             " ".join(sorted({normal_url(u) for u in URL.findall(body)}))])
    return forum.n_posts


def toolkit_network(dataset: Dataset, folder: Path | str, *, window_s: float) -> Counter[Pair]:
    """The toolkit's co-events per account pair (Forum account indexes), summed over its three networks."""
    try:
        from coordination_network_toolkit import compute_networks, graph, preprocess
    except ImportError:
        raise ToolkitMissing("the reference detector needs the coordination-network-toolkit; "
                             "pip install -e '.[reference]'") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, db = folder / "toolkit.csv", str(folder / "toolkit.db")
    write_toolkit_csv(dataset, csv_path)
    index = {account: n for n, account in enumerate(dataset.forum.account_ids)}
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
        preprocess.preprocess_csv_files(db, [str(csv_path)])
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        # its loader splits an empty urls cell into [""]: every post without a link would share the link "" and
        # tie everyone who posted without one into its co-link network
        conn.execute("DELETE FROM message_url WHERE url = ''")
    with contextlib.redirect_stdout(io.StringIO()):
        compute_networks.compute_co_reply_network(db, window_s, n_threads=1)
        compute_networks.compute_co_link_network(db, window_s, n_threads=1)
        compute_networks.compute_co_similar_tweet(db, window_s, n_threads=1, similarity_threshold=SIMILARITY)
    counts: Counter[Pair] = Counter()
    for command in COMMANDS:
        for user_1, user_2, weight, _ in graph.get_edge_rows(db, command):
            a, b = index[str(user_1)], index[str(user_2)]
            if a != b:
                counts[(min(a, b), max(a, b))] += weight  # it lists each tie both ways: halved below
    return Counter({pair: max(1, round(weight / 2)) for pair, weight in counts.items()})
