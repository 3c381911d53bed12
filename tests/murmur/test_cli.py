"""The murmur command: help for every command, errors as one line, import end to end, what swarm refuses."""

from __future__ import annotations

import re
import sqlite3

import pytest
from click.testing import CliRunner

from murmur.cli import cli
from conversations.importers import DUMPS_DIR
from tests.conftest import table_counts


def test_help_lists_every_command_with_one_line():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    lines = dict(re.findall(r"^  (\w+)\s+(.+)$", result.output.split("Commands:")[1], re.M))
    assert set(lines) == set(cli.commands)
    assert all(not line.endswith("...") for line in lines.values())
    for name in cli.commands:
        sub = CliRunner().invoke(cli, [name, "--help"])
        assert sub.exit_code == 0 and "Usage:" in sub.output


def test_bad_config_is_one_line_and_exit_code_2(tmp_path):
    config = tmp_path / "c.yml"
    config.write_text("forum:\n  prot: 1\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "forum"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {config}: unknown key 'forum.prot'; did you mean 'port'?"]


def test_import_twice_adds_nothing_the_second_time(database):
    runner = CliRunner()
    first = runner.invoke(cli, ["import", str(DUMPS_DIR / "beer.meta"), "--db", str(database)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli, ["import", str(DUMPS_DIR / "beer.meta"), "--db", str(database)])
    assert "0 threads, 0 posts, 0 accounts" in second.output
    assert table_counts(database, ("threads",)) == (int(re.search(r"(\d+) threads", first.output)[1]),)


def test_import_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "nothing"), "--db", str(tmp_path / "f.db")])
    assert result.exit_code == 1 and result.output.startswith("error: PATH:") and "Traceback" not in result.output
    both = CliRunner().invoke(cli, ["import", "--seed", "x"])
    assert both.exit_code == 2 and "one of PATH, --seed or --corpus" in both.output
    neither = CliRunner().invoke(cli, ["import"])
    assert neither.exit_code == 2 and "one of PATH, --seed or --corpus" in neither.output


@pytest.mark.slow
def test_import_corpus_loads_the_shipped_corpus(tmp_path):
    db = tmp_path / "f.db"
    result = CliRunner().invoke(cli, ["import", "--corpus", "--db", str(db)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        threads = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
        sites = {row[0].split(":")[0] for row in conn.execute("SELECT external_id FROM threads")}
    assert threads == 1848  # data/README.md: beer 652, coffee 212, ai 397, matheducators 384, stackoverflow 167, askubuntu 36
    assert sites == {"beer", "coffee", "ai", "matheducators", "stackoverflow", "askubuntu"}


def test_swarm_refuses_what_it_must_not_do_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MURMUR_ADMIN_TOKEN", raising=False)
    config = tmp_path / "c.yml"
    config.write_text("seed: 1\n")
    no_token = CliRunner().invoke(cli, ["--config", str(config), "swarm"])
    assert no_token.exit_code == 1 and "admin token" in no_token.output and "MURMUR_ADMIN_TOKEN" in no_token.output
    monkeypatch.setenv("MURMUR_ADMIN_TOKEN", "a-test-admin-token-0123456789")
    remote = CliRunner().invoke(cli, ["--config", str(config), "swarm", "--forum", "http://192.0.2.10:8765"])
    assert remote.exit_code == 1 and "not this machine" in remote.output and "Traceback" not in remote.output
    not_url = CliRunner().invoke(cli, ["--config", str(config), "swarm", "--forum", "ftp://127.0.0.1"])
    assert not_url.exit_code == 1 and "--forum" in not_url.output
    bad_id = CliRunner().invoke(cli, ["--config", str(config), "swarm", "--run-id", "../../etc"])
    assert bad_id.exit_code == 1 and "--run-id" in bad_id.output
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    absent = CliRunner().invoke(cli, ["--config", str(config), "swarm", "--forum", f"http://127.0.0.1:{port}"])
    assert absent.exit_code == 1 and "no murmur forum answers" in absent.output
    external = tmp_path / "external.yml"
    external.write_text("rasa:\n  url: http://127.0.0.1:5005\n")  # Ray workers start their own Rasa servers
    on_ray = CliRunner().invoke(cli, ["--config", str(external), "swarm", "--forum", f"http://127.0.0.1:{port}", "--ray"])
    assert on_ray.exit_code == 2 and "--ray" in on_ray.output and "rasa.url" in on_ray.output
    campaign = tmp_path / "campaign.yml"
    campaign.write_text("id: c1\ngoal: {topic: coffee pods, side: pro}\naudience: {personas: [espresso-nerd]}\n"
                        "roles: {driver: 0.2, booster: 0.8}\n")
    bad_campaign = CliRunner().invoke(cli, ["--config", str(config), "swarm", "--campaign", str(campaign)])
    assert bad_campaign.exit_code == 2 and "'booster' is not a role" in bad_campaign.output
    assert str(campaign) in bad_campaign.output and "Traceback" not in bad_campaign.output
    in_config = tmp_path / "with-campaign.yml"  # swarm.campaign in config.yml is read the same way, as strictly
    in_config.write_text(f"seed: 1\nswarm:\n  campaign: {campaign}\n")
    from_config = CliRunner().invoke(cli, ["--config", str(in_config), "swarm"])
    assert from_config.exit_code == 2 and "'booster' is not a role" in from_config.output


def test_a_busy_port_is_one_line(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(cli, ["forum", "--port", str(port), "--db", str(tmp_path / "f.db")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_train_and_chat_explain_what_is_missing(tmp_path):
    config = tmp_path / "c.yml"
    config.write_text(f"rasa:\n  venv: {tmp_path / 'no-venv'}\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "train"])
    assert result.exit_code == 1 and "make setup" in result.output and "Traceback" not in result.output
    chat = CliRunner().invoke(cli, ["--config", str(config), "chat", "--persona", "nobody"])
    assert chat.exit_code == 1 and "unknown persona 'nobody'" in chat.output
