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


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from murmur.config import Settings\n    import bots.chat\n", encoding="utf-8")
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
