"""``murmur train`` and ``murmur chat``: the Rasa model, and chatting with a persona."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import click

from murmur.config import Settings
from murmur.errors import MurmurError
from murmur.serving import start_site, wait_for_stop

if TYPE_CHECKING:
    from bots.rasa_server import RasaServer


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


def train_shared_model(settings: Settings, force: bool = False, echo: Callable[[str], None] = click.echo):
    """Train the bots' Rasa model from bots/rasa and config.yml, unless an identical one exists."""
    from bots.training import RASA_DIR, rasa_bin_in, train_model

    return train_model(RASA_DIR, settings.rasa.model_dir, epochs=settings.rasa.epochs,
                       rasa_bin=rasa_bin_in(settings.rasa.venv_path()), force=force, note=echo)


@click.command(short_help="Train the bots' Rasa model (skipped when unchanged).")
@click.option("--force", is_flag=True, help="train even if an identical model exists")
@click.pass_context
def train(ctx: click.Context, force: bool) -> None:
    """Train the shared Rasa model from bots/rasa/ and the rasa section of config.yml."""
    result = train_shared_model(_settings(ctx), force)
    if result.trained:
        click.echo(f"trained {result.model_path} in {result.seconds:.0f} s")
    else:
        click.echo(f"up to date: {result.model_path} (inputs unchanged; --force retrains)")


@click.command(short_help="Chat with a persona over a web socket.")
@click.option("--persona", default=None, help="persona to open the page with (any can be picked there)")
@click.option("--port", type=int, default=None, help="port (default: chat.port, 8766)")
@click.option("--for", "duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
@click.pass_context
def chat(ctx: click.Context, persona: str | None, port: int | None, duration: float | None) -> None:
    """Serve the chat page and /ws/chat?persona=NAME, with Rasa choosing each reply's act."""
    asyncio.run(serve_chat(_settings(ctx), persona=persona, port=port, duration=duration))


@contextlib.asynccontextmanager
async def rasa_server_for(settings: Settings, action_url: str,
                          echo: Callable[[str], None] = click.echo) -> AsyncIterator[RasaServer]:
    """The Rasa server of rasa.url, or one murmur trains (if needed, off the event loop) and starts with its
    custom actions at ``action_url``; stopped on the way out."""
    from bots.rasa_server import RasaServer
    from bots.training import rasa_bin_in

    if settings.rasa.url:
        server = RasaServer.external(settings.rasa.url)
    else:
        model = await asyncio.to_thread(train_shared_model, settings, False, echo)
        echo(f"starting the Rasa server with {model.model_path.name} (about half a minute) ...")
        server = RasaServer(model.model_path, action_url=action_url, rasa_bin=rasa_bin_in(settings.rasa.venv_path()),
                            log_path=settings.rasa.model_dir / "rasa-server.log", ready_timeout_s=settings.rasa.start_timeout_s)
    async with server:
        yield server


async def serve_chat(settings: Settings, *, persona: str | None, port: int | None, duration: float | None) -> None:
    from bots.chat import ENGINE, create_chat_app
    from bots.dialogue import DialogueEngine, StanceReader
    from murmur.assembly import label_acts, library_for, personas_by_name, reply_generator
    from index.build import open_embedder

    personas = personas_by_name(settings)
    if persona is not None and persona not in personas:
        raise MurmurError(f"--persona: unknown persona {persona!r}; known: {', '.join(sorted(personas))}")
    embedder = open_embedder(settings.index)
    click.echo(f"loading what the replies draw on ({settings.replies.backend}) ...")
    library = (await asyncio.to_thread(library_for, settings, embedder)) if settings.replies.backend == "splice" else None
    generator = await asyncio.to_thread(reply_generator, settings, embedder, library=library, echo=click.echo)
    app = create_chat_app(settings.chat, personas, generator)
    host = settings.chat.host
    runner, port = await start_site(app, host, settings.chat.port if port is None else port)
    try:
        async with rasa_server_for(settings, f"http://{host}:{port}/webhook") as server:
            await label_acts(generator, settings, server.url)
            engine = DialogueEngine(server.url, StanceReader(embedder), concurrency=settings.rasa.concurrency)
            app[ENGINE].engine = engine
            page = f"http://{host}:{port}/" + (f"?persona={persona}" if persona else "")
            click.echo(f"chat at {page}  (web socket: /ws/chat?persona=NAME; Ctrl-C stops)")
            await wait_for_stop(duration)
            await engine.close()
    finally:
        await runner.cleanup()

