"""Dependencies point down: core <- conversations <- index <- bots; detection reads the forum; murmur/ wires them.

Every import in every module is read from its syntax tree, including imports inside functions, so a lazy
import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("core", "conversations", "index", "bots", "detection", "murmur")
# what each package may import of the project (besides itself)
ALLOWED = {
    "core": set(),
    "conversations": {"core"},
    "index": {"core", "conversations"},
    "bots": {"core", "conversations", "index"},
    "detection": {"core", "conversations", "index"},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) for every absolute import of the project in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in PROJECT]
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_module_imports_a_package_above_its_own(package):
    upward = [f"{path.relative_to(ROOT)}:{line} imports {target}"
              for path in sorted((ROOT / package).rglob("*.py"))
              for line, target in imported_packages(path) if target != package and target not in ALLOWED[package]]
    assert not upward, "\n".join(upward)


# The rooms inside bots/: what each may import of bots (besides itself). The ground (personas, errors, settings,
# induction) is under every room; chat and swarm face a person or a forum, over dialogue (Rasa) over words.
BOTS_ROOMS = {
    "ground": {"ground"},
    "words": {"ground"},
    "dialogue": {"words", "ground"},
    "chat": {"dialogue", "words", "ground"},
    "swarm": {"dialogue", "words", "ground"},
    "testing": {"dialogue", "words", "ground"},  # bots/testing.py: fakes of dialogue and words for the tests; no room imports it
}


def bots_room(module: str) -> str | None:
    """The room of a dotted module of bots (``bots.words.bank`` -> words), None outside bots."""
    parts = module.split(".")
    if parts[0] != "bots":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in BOTS_ROOMS else "ground"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every absolute import in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)]
            if node.module == "bots":  # from bots import words
                found += [(node.lineno, f"bots.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("room", sorted(BOTS_ROOMS))
def test_no_room_of_bots_imports_a_room_above_its_own(room):
    bots = ROOT / "bots"
    paths = [p for p in sorted(bots.rglob("*.py")) if bots_room("bots." + ".".join(p.relative_to(bots).with_suffix("").parts)) == room]
    assert paths, f"no module in the room {room}"
    upward = [f"{path.relative_to(ROOT)}:{line} imports {module}"
              for path in paths for line, module in imported_modules(path)
              if (target := bots_room(module)) is not None and target != room and target not in BOTS_ROOMS[room]]
    assert not upward, "\n".join(upward)


def test_the_room_check_knows_the_rooms():
    assert bots_room("bots.words.selection") == "words" and bots_room("bots.chat.app") == "chat"
    assert bots_room("bots.personas") == "ground" and bots_room("bots") == "ground" and bots_room("index.build") is None


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from murmur.config import Settings\n    import bots.chat.app\n", encoding="utf-8")
    assert imported_packages(module) == [(2, "murmur"), (3, "bots")]


FORUM_TABLES = ("threads", "posts", "accounts", "events", "gt_accounts", "gt_posts", "forum_meta")
FORUM_SQL = re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE)\s+(?:{'|'.join(FORUM_TABLES)})\b")  # SQL is written in capitals here


def sql_on_forum_tables(text: str) -> list[str]:
    return [match.group(0) for match in FORUM_SQL.finditer(text)]


@pytest.mark.parametrize("package", ["core", "index", "bots", "detection", "murmur"])
def test_only_the_forum_queries_its_tables(package):
    found = [f"{path.relative_to(ROOT)}: {hit}" for path in sorted((ROOT / package).rglob("*.py"))
             for hit in sql_on_forum_tables(path.read_text(encoding="utf-8"))]
    assert not found, "read the forum through conversations.snapshot.ForumSnapshot:\n" + "\n".join(found)


def test_the_sql_check_sees_a_query():
    assert sql_on_forum_tables('conn.execute("SELECT id FROM threads WHERE x")') == ["FROM threads"]
    assert sql_on_forum_tables("we read posts from threads in order") == []
