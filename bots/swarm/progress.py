"""What a swarm run shows while it runs (a bar over forum time) and the table it ends with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tqdm import tqdm


@dataclass
class Tally:
    """Counts for the progress bar and the summary; also what tests and benchmarks read."""

    decisions: int = 0
    joins: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    turns: int = 0
    silent: int = 0
    posts: int = 0
    threads_started: int = 0
    failures: int = 0
    replayed: int = 0  # people's posts that entered the forum during the run (replay)
    join_scores: list[float] = field(default_factory=list)
    threads_joined: set[int] = field(default_factory=set)
    active_bots: set[str] = field(default_factory=set)


class Progress:
    """A bar over simulated minutes, with bots active, posts, skips by reason and the post rate."""

    def __init__(self, start: datetime, end: datetime, enabled: bool = True) -> None:
        self.start = start
        self.total = max(1, int((end - start).total_seconds() // 60))
        self.bar = tqdm(total=self.total, unit="sim-min", disable=not enabled, dynamic_ncols=True, leave=True,
                        desc="swarm")
        self._done = 0

    def update(self, now: datetime, tally: Tally) -> None:
        done = min(self.total, int((now - self.start).total_seconds() // 60))
        if done > self._done:
            self.bar.update(done - self._done)
            self._done = done
        top = ",".join(f"{reason}:{count}" for reason, count in tally.skipped.most_common(3))
        self.bar.set_postfix_str(f"bots active {len(tally.active_bots)} | posts {tally.posts} | skipped {top}", refresh=False)

    def close(self) -> None:
        self.bar.close()


def summary_table(rows: Sequence[tuple[str, object]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)
