"""The forum API's contract, checked by a fuzzer: Schemathesis against a real forum on a loopback port.

All of Schemathesis's checks, in all of its phases (examples, coverage, fuzzing, stateful), with a person's token and
then with the admin token, from a fixed seed: any finding fails the test. What the fuzzer needs to know is in the
document itself (/api/openapi.json), which declares every constraint the server enforces.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, make_settings, start_forum, stop_forum

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
SEED = 20261130
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 20  # per operation and phase: both tokens, the stateful phase included, in well under 2 minutes


async def _fuzz(url: str, token: str, folder: Path) -> tuple[int, str]:
    command = [str(Path(sys.executable).with_name("st")), "--config-file", str(CONFIG), "run", f"{url}/api/openapi.json",
               "--exclude-path", "/api/events",  # a web socket: no HTTP fuzzer speaks it (tests/conversations/test_events.py)
               "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--seed", str(SEED),
               "--max-examples", str(MAX_EXAMPLES), "--header", f"Authorization: Bearer {token}",
               "--generation-database", "none",
               "--no-color", "--request-timeout", "20", "--suppress-health-check", "all"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=folder,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "", "HYPOTHESIS_STORAGE_DIRECTORY": str(folder / "hypothesis")})
    output, _ = await process.communicate()
    return process.returncode, output.decode("utf-8", "replace")


async def test_schemathesis_finds_nothing_with_either_token(tmp_path):
    running = await start_forum(tmp_path, make_settings())  # posting limits out of the fuzzer's way
    try:
        person = await running.account("fuzzing_person")
        thread = (await person.create_thread("A thread to read", "its opening post"))["thread"]["id"]
        await person.reply(thread, "a reply to find")
        for name, token in (("person", person.token), ("admin", ADMIN_TOKEN)):
            code, output = await _fuzz(running.url, token, tmp_path)
            assert code == 0, f"Schemathesis found problems with the {name}'s token:\n{output[-6000:]}"
            assert "No issues found" in output or "passed" in output, output[-2000:]
    finally:
        await stop_forum(running)
