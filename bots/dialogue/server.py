"""The Rasa server murmur talks to: one it starts and stops itself, or one the user runs elsewhere.

``RasaServer(model, action_url=..., rasa_bin=...)`` starts ``rasa run --enable-api`` in Rasa's
own environment on a free loopback port, with a generated ``endpoints.yml`` that points Rasa's
custom actions at murmur's action server, waits until ``GET /status`` answers with the model
loaded, and stops the process on exit (SIGTERM, then SIGKILL). Its output goes to a log file,
whose last lines are in every error. ``RasaServer.external(url)`` is a server someone else runs:
nothing is started or stopped, but it is still waited for.

    async with RasaServer(model, action_url="http://127.0.0.1:8766/webhook", rasa_bin=bin) as rasa:
        ... rasa.url ...
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml

from bots.errors import RasaError
from bots.dialogue.training import log_tail, rasa_environment, require_rasa

log = logging.getLogger("murmur.rasa")

DEFAULT_READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0
PORT_ATTEMPTS = 3               # a free port can be taken between choosing it and Rasa binding it
_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _die_with_parent() -> Any:
    """A preexec function asking Linux to SIGTERM the child when murmur dies, so no Rasa server outlives it.

    Linux ties this to the thread that started the child: start servers from a thread that lives as
    long as they should (the event loop's).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)     # loaded before the fork: nothing to import in the child

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


class RasaServer:
    """An async context manager around a Rasa server; ``.url`` is where it answers."""

    def __init__(self, model: Path, *, action_url: str, rasa_bin: Path, log_path: Path | None = None,
                 ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S, host: str = "127.0.0.1",
                 port: int | None = None, tracker_store: Path | None = None) -> None:
        self._reset(ready_timeout_s)
        self.model = Path(model).absolute()
        self.action_url = action_url
        self.rasa_bin = Path(rasa_bin).absolute()
        self.log_path = Path(log_path or self.model.parent / "rasa-server.log").absolute()
        self.host, self.port = host, port
        # a SQLite file several servers share (a pool): any of them can go on with any conversation
        self.tracker_store = Path(tracker_store).absolute() if tracker_store else None

    @classmethod
    def external(cls, url: str, *, ready_timeout_s: float = 30.0) -> RasaServer:
        """A Rasa server run elsewhere (e.g. config.yml's ``rasa.url``): waited for, never started or stopped."""
        server = cls.__new__(cls)
        server._reset(ready_timeout_s)
        server._url = url.rstrip("/")
        server._external = True
        return server

    def _reset(self, ready_timeout_s: float) -> None:
        self.model: Path | None = None
        self.action_url: str | None = None
        self.rasa_bin: Path | None = None
        self.log_path: Path | None = None
        self.host, self.port = "127.0.0.1", None
        self.tracker_store: Path | None = None
        self.ready_timeout_s = ready_timeout_s
        self.started_in_s: float | None = None    # seconds from start to a loaded model
        self.model_file: str | None = None         # the model file /status says is loaded
        self._url: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._external = False

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the Rasa server has not been started: use `async with RasaServer(...)`")
        return self._url

    @property
    def managed(self) -> bool:
        """Whether this object started the server (and so stops it)."""
        return not self._external

    @property
    def pid(self) -> int | None:
        """The server's process id while a server this object started runs (its process group's, too)."""
        return self._process.pid if self._process is not None else None

    @property
    def exit_code(self) -> int | None:
        """How a server this object started ended (negative: the signal), or None while it runs."""
        return self._process.returncode if self._process is not None else None

    async def __aenter__(self) -> RasaServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        started = time.perf_counter()
        if self._external:
            await self._wait_ready(None)
        else:
            assert self.model is not None and self.rasa_bin is not None
            require_rasa(self.rasa_bin)
            if not self.model.is_file():
                raise RasaError(f"{self.model}: no such model file; train one with `murmur train`")
            self._workdir = tempfile.TemporaryDirectory(prefix="murmur-rasa-")
            try:
                await self._start_process()
            except BaseException:
                await self.stop()
                raise
        self.started_in_s = time.perf_counter() - started
        log.info("Rasa server ready at %s in %.0f s (model %s)", self.url, self.started_in_s, self.model_file)

    def _write_settings(self) -> tuple[Path, Path]:
        assert self._workdir is not None and self.action_url is not None
        folder = Path(self._workdir.name)
        endpoints, credentials = folder / "endpoints.yml", folder / "credentials.yml"
        settings: dict[str, Any] = {"action_endpoint": {"url": self.action_url}}
        if self.tracker_store is not None:
            settings["tracker_store"] = {"type": "SQL", "dialect": "sqlite", "db": str(self.tracker_store)}
        endpoints.write_text(yaml.safe_dump(settings), encoding="utf-8")
        credentials.write_text(yaml.safe_dump({"rest": None}), encoding="utf-8")  # the REST channel murmur posts to
        return endpoints, credentials

    async def _start_process(self) -> None:
        endpoints, credentials = self._write_settings()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(PORT_ATTEMPTS):
            port = self.port or free_port(self.host)
            command = [str(self.rasa_bin), "run", "--enable-api", "-i", self.host, "-p", str(port),
                       "--model", str(self.model), "--endpoints", str(endpoints), "--credentials", str(credentials)]
            log.info("starting the Rasa server on %s:%d (loading takes up to a minute); log: %s",
                     self.host, port, self.log_path)
            with self.log_path.open("wb") as output:
                try:
                    self._process = await asyncio.create_subprocess_exec(
                        *command, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT,
                        cwd=self._workdir.name if self._workdir else None, env=rasa_environment(),
                        start_new_session=True, preexec_fn=_die_with_parent())
                except OSError as exc:
                    raise RasaError(f"cannot run {self.rasa_bin} ({exc.strerror}); run `make setup`") from None
            self._url = f"http://{self.host}:{port}"
            try:
                await self._wait_ready(self._process)
                return
            except RasaError:
                taken = "address already in use" in log_tail(self.log_path, 200).lower()
                if not taken or self.port is not None or attempt == PORT_ATTEMPTS - 1:
                    raise
                log.info("port %d was taken before Rasa bound it; trying another", port)
                await self._terminate()

    async def _wait_ready(self, process: asyncio.subprocess.Process | None) -> None:
        """Until GET /status answers with a loaded model; fails fast if the process dies or no model loads."""
        deadline = time.monotonic() + self.ready_timeout_s
        exited = asyncio.ensure_future(process.wait()) if process is not None else None
        last_problem = "no answer yet"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                while True:
                    if exited is not None and exited.done():
                        raise RasaError(f"the Rasa server exited with {exited.result()} before it was ready; "
                                        f"see {self.log_path}, which ends:\n{log_tail(self.log_path)}")
                    try:
                        async with http.get(f"{self._url}/status") as response:
                            body = await response.json(content_type=None)
                        if response.status == 200 and isinstance(body, dict) and body.get("model_file"):
                            self.model_file = str(body["model_file"])
                            return
                        if response.status == 409:   # up, but it could not load the model
                            hint = f"; is {self.model} a model that `murmur train` made?" if self.model else ""
                            raise RasaError(self._problem(f"is up but has no model loaded ({_message(body)}){hint}"))
                        last_problem = f"/status answered {response.status}: {str(body)[:200]}"
                    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                        last_problem = f"{type(exc).__name__}: {exc}"
                    if time.monotonic() >= deadline:
                        raise RasaError(self._problem(f"was not ready after {self.ready_timeout_s:.0f} s "
                                                      f"({last_problem})"))
                    if exited is not None:
                        await asyncio.wait({exited}, timeout=_POLL_S)
                    else:
                        await asyncio.sleep(_POLL_S)
        finally:
            if exited is not None and not exited.done():
                exited.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await exited

    def _problem(self, what: str) -> str:
        if self._external:
            return f"the Rasa server at {self._url} {what}; check it, or empty rasa.url to let murmur start one"
        return f"the Rasa server at {self._url} {what}; see {self.log_path}, which ends:\n{log_tail(self.log_path)}"

    async def stop(self) -> None:
        """Stops a server this object started (SIGTERM, then SIGKILL) and removes its generated settings."""
        await self._terminate()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_S)
        except asyncio.TimeoutError:
            log.warning("the Rasa server (pid %d) ignored SIGTERM for %.0f s; killing it", process.pid, STOP_GRACE_S)
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()


def _signal_group(pid: int, signum: int) -> None:
    """Signal the server and anything it started (its own session, made when we started it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or body)[:200]
    return str(body)[:200]
