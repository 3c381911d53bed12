"""``murmur detect`` opens no socket: run it in a fresh interpreter whose audit hook kills the process on
the first ``socket.*`` event (before any code could catch an exception), embedding model included."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

NO_NETWORK = 97
HARNESS = f"""
import os, sys

def refuse(event, args):
    if event.startswith("socket."):
        sys.stderr.write(f"NETWORK {{event}} {{args!r}}\\n")
        sys.stderr.flush()
        os._exit({NO_NETWORK})

sys.addaudithook(refuse)
code = sys.argv.pop(1)
exec(compile(code, "<harness>", "exec"))
"""
RUN_CLI = "from murmur.cli import main; sys.argv[0] = 'murmur'; main()"


def _run(code: str, *args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}  # murmur sets them
    return subprocess.run([sys.executable, "-c", HARNESS, code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240)


def test_the_harness_catches_a_socket():
    """The control: the same harness stops code that does open a socket, so a pass below means something."""
    result = _run("import socket; socket.socket().connect(('127.0.0.1', 9))")
    assert result.returncode == NO_NETWORK and "NETWORK socket." in result.stderr
    resolve = _run("import socket; socket.getaddrinfo('example.org', 443)")
    assert resolve.returncode == NO_NETWORK


@pytest.mark.slow
def test_detect_runs_with_no_network_at_all(dataset_dir, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(f"index:\n  cache_path: {ROOT / 'var' / 'test-embeddings.sqlite'}\n")
    out = tmp_path / "report"
    result = _run(RUN_CLI, "--config", str(config), "detect", str(dataset_dir), "--out", str(out),
                  "--splits", "2", "--bootstrap", "20", "--quiet", cwd=tmp_path)
    assert "NETWORK" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((out / "report.json").read_text())
    assert results["families"]["measured"] == ["timing", "text", "relevance", "coordination"]  # the model was used
    assert "combined: ROC-AUC" in result.stdout and (out / "report.html").exists()
