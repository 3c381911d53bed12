"""One formatter for every validation error: config.yml, persona files and request bodies say it the same way."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from core.validation import explain, known_keys


class Leaf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    colour: str = "red"
    size: int = 1


class Root(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    leaf: Leaf | None = None
    leaves: list[Leaf] = []


def problems(data: dict) -> list:
    with pytest.raises(ValidationError) as caught:
        Root.model_validate(data)
    return [explain(e, Root, fix="see the docs") for e in caught.value.errors()]


def test_unknown_keys_are_found_through_optionals_and_lists():
    assert known_keys(Root, ("leaf", "colr")) == ["colour", "size"]
    assert known_keys(Root, ("leaves", 3, "colr")) == ["colour", "size"]
    assert known_keys(Root, ("name", "x")) == []
    [problem] = problems({"name": "a", "leaves": [{}, {"colr": "blue"}]})
    assert problem.line("f.yml") == "f.yml: unknown key 'leaves.1.colr'; did you mean 'colour'?"
    [far] = problems({"name": "a", "leaf": {"zzz": 1}})
    assert far.text == "known keys here: colour, size"


def test_missing_and_bad_values_name_the_path_the_value_and_the_fix():
    [missing] = problems({})
    assert missing.line("f.yml") == "f.yml: name: required; add it"
    [bad] = problems({"name": "a", "leaf": {"size": "big"}})
    assert bad.path == "leaf.size" and "(got 'big')" in bad.text and bad.text.endswith("; see the docs")
    assert bad.field_problem()[0] == "leaf.size"
