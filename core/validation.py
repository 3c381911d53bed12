"""The one way a pydantic validation error becomes a message: the field's dotted path, what is wrong, the fix.

config.yml, persona files and the forum's request bodies all speak through it, so an unknown key gets the
same "did you mean" everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel


@dataclass(frozen=True)
class Problem:
    path: str  # dotted, "" for the whole document
    unknown_key: bool
    text: str  # what is wrong and the fix, without the path

    def line(self, where: str) -> str:
        """One line for a file or document called ``where``."""
        if self.unknown_key:
            return f"{where}: unknown key '{self.path}'; {self.text}"
        return f"{where}: {self.path}: {self.text}" if self.path else f"{where}: {self.text}"

    def field_problem(self) -> tuple[str, str]:
        """(field, problem) for an error that names its field separately, as the forum's 400 answers do."""
        return self.path, (f"unknown key; {self.text}" if self.unknown_key else self.text)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):  # Optional[M], list[M], tuple[M, ...]
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def known_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys accepted where ``loc`` points, found by walking the model along the path (list indices skipped)."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def explain(error: Mapping[str, Any], model: type[BaseModel], *, fix: str = "",
            unknown_fix: str = "") -> Problem:
    """One pydantic error as a Problem; ``fix`` follows a bad value, ``unknown_fix`` an unknown key nothing is near."""
    loc = tuple(error.get("loc") or ())
    path = ".".join(str(p) for p in loc)
    if error["type"] == "extra_forbidden":
        known = known_keys(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1) if loc else []
        if close:
            hint = f"did you mean '{close[0]}'?"
        else:
            hint = unknown_fix or (f"known keys here: {', '.join(known)}" if known else "remove it")
        return Problem(path, True, hint)
    if error["type"] == "missing":
        return Problem(path, False, "required; add it")
    got = f" (got {error['input']!r})" if "input" in error and not isinstance(error["input"], (dict, list)) else ""
    message = str(error["msg"]).removeprefix("Value error, ")  # a check of our own says what it means
    return Problem(path, False, f"{message}{got}" + (f"; {fix}" if fix else ""))
