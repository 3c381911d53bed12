"""How the report and the summary write numbers: missing or undefined values as "n/a", never "nan"."""

from __future__ import annotations

import math
from typing import Any


def num(value: Any, digits: int = 3) -> str:
    """A number to ``digits`` places (no "-0.000"); text as it is."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{round(float(value), digits) + 0.0:.{digits}f}"
    return str(value)


def pct(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}%"


def with_interval(metric: dict[str, Any], percent: bool = False) -> str:
    """A report metric ({"mean", "ci"}) as "mean [low, high]"."""
    show = pct if percent else num
    low, high = metric["ci"]
    return f"{show(metric['mean'])} [{show(low)}, {show(high)}]"
