"""Does calendar time or account age alone tell the bots apart? A check on how a dataset was made, not a detector.

No detector feature uses dates. But a platform sees account creation dates
and when accounts post; if a simulation dates its bots differently from its
people (a clock of their own, accounts made after their posts), those dates
separate the classes without any behaviour. Among the accounts that posted
inside the bots' window, each check is a single value per account; its
separation is max(AUC, 1 - AUC) between synthetic and human accounts (0.5:
no information, 1.0: the value alone tells them apart).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from conversations.models import parse_time
from detection.dataset import ACCOUNTS, Dataset
from detection.metrics import roc_auc

CHECKS = ("account_created", "first_post", "account_age_at_first_post", "mean_post_time")


def calendar_separation(dataset: Dataset) -> dict[str, float | None]:
    """Each calendar check's separation, among the accounts with a post inside the synthetic posts' time span (all
    accounts when no person posted inside it)."""
    forum, truth = dataset.forum, dataset.truth
    synthetic_times = forum.post_time[truth.post_synthetic]
    if not len(synthetic_times):
        return dict.fromkeys(CHECKS)
    low, high = synthetic_times.min(), synthetic_times.max()
    inside = (forum.post_time >= low) & (forum.post_time <= high)
    people_inside = np.unique(forum.post_account[inside & ~truth.post_synthetic])
    window = len(people_inside) > 0  # no person posted in the bots' window: every account counts (and dates separate)
    created = _account_created(dataset.path / ACCOUNTS)
    rows: dict[str, list[float]] = {name: [] for name in CHECKS}
    labels = []
    for account in range(forum.n_accounts):
        times = forum.post_time[forum.post_account == account]
        if not len(times) or (window and not ((times >= low) & (times <= high)).any()):
            continue
        first = float(times.min())
        since = created.get(forum.account_ids[account], first)
        rows["account_created"].append(since)
        rows["first_post"].append(first)
        rows["account_age_at_first_post"].append(first - since)
        rows["mean_post_time"].append(float(times.mean()))
        labels.append(int(truth.account_synthetic[account]))
    if len(set(labels)) < 2:
        return dict.fromkeys(CHECKS)
    out: dict[str, float | None] = {}
    for name in CHECKS:
        auc = roc_auc(np.asarray(labels), np.asarray(rows[name]))
        out[name] = max(auc, 1 - auc)
    return out


def _account_created(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["account_id"]: parse_time(row["created_at"]).timestamp() for row in csv.DictReader(handle)
                if row.get("created_at")}
