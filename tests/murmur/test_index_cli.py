"""murmur index build / search and murmur match, end to end on the seed forum."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from murmur.cli import cli
from tests.conftest import ROOT


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(f"forum:\n  db: {tmp_path / 'forum.db'}\n"
                    f"index:\n  path: {tmp_path / 'threads.index'}\n  cache_path: {ROOT / 'var' / 'test-embeddings.sqlite'}\n")
    return path


def _run(config, *args):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_build_search_and_match(config):
    assert _run(config, "import", "--seed").exit_code == 0
    built = _run(config, "index", "build")
    assert built.exit_code == 0, built.output
    assert "indexed 50 threads (flat)" in built.output and "caught up to event 304" in built.output

    found = _run(config, "index", "search", "my espresso shots taste sour", "-k", "3")
    assert found.exit_code == 0 and "sour" in found.output.splitlines()[2].lower()

    who = _run(config, "match", "--thread", "2", "-k", "3")
    assert who.exit_code == 0, who.output
    rows = who.output.splitlines()
    assert rows[0].startswith("who ought to be in thread 2") and rows[3].startswith("espresso-nerd")

    which = _run(config, "match", "--interests", "dobsonian telescope; light pollution", "-k", "4")
    assert which.exit_code == 0 and "telescope" in which.output.lower()
    assert "because of" in which.output


def test_errors_say_which_command_fixes_them(config, tmp_path):
    missing = _run(config, "index", "search", "anything")
    assert missing.exit_code == 1 and "murmur index build" in missing.output and "Traceback" not in missing.output
    no_db = _run(config, "index", "build")
    assert no_db.exit_code == 1 and "no forum database" in no_db.output
    both = _run(config, "match", "--thread", "1", "--interests", "x")
    assert both.exit_code == 2 and "one of them" in both.output
    assert _run(config, "import", "--seed").exit_code == 0 and _run(config, "index", "build").exit_code == 0
    unknown = _run(config, "match", "--thread", "999")
    assert unknown.exit_code == 1 and "thread 999" in unknown.output
    bad_personas = _run(config, "match", "--thread", "1", "--personas", str(tmp_path / "none"))
    assert bad_personas.exit_code == 1 and "no such persona" in bad_personas.output
