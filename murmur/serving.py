"""Serving an aiohttp app from a command until Ctrl-C (or a set time), shared by demo, chat and the like."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web

from murmur.errors import MurmurError


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0: a free port); a busy port is a one-line error. Returns the runner and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise MurmurError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
    return runner, runner.addresses[0][1]


async def wait_for_stop(duration: float | None) -> None:
    """Until SIGINT/SIGTERM, or ``duration`` seconds when given."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)
