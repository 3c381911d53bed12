"""``murmur train`` and ``murmur chat``: the Rasa model, and chatting with a persona."""

from __future__ import annotations

import asyncio

import click

from murmur.assembly import serve_chat, train_shared_model
from murmur.config import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


@click.command(short_help="Train the bots' Rasa model (skipped when unchanged).")
@click.option("--force", is_flag=True, help="train even if an identical model exists")
@click.pass_context
def train(ctx: click.Context, force: bool) -> None:
    """Train the shared Rasa model from bots/dialogue/rasa/ and the rasa section of config.yml."""
    result = train_shared_model(_settings(ctx), force, echo=click.echo)
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
    asyncio.run(serve_chat(_settings(ctx), persona=persona, port=port, duration=duration, echo=click.echo))
