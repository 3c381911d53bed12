"""What every chat channel (the web socket, Rasa's REST and socket.io channels) says when it refuses or fails, so the
three speak with one voice."""

from __future__ import annotations

from bots.settings import ChatSettings
from conversations.errors import RateLimited

STILL_ANSWERING = "still answering your previous message; wait for the reply"
STARTING = "the dialogue engine is still starting; try again in a moment"


def message_problem(field: str, text: object, max_chars: int) -> str | None:
    """Why a message cannot be answered (not text, blank, too long), or None."""
    if not isinstance(text, str) or not text.strip():
        return f"{field}: must be a non-empty string"
    if len(text) > max_chars:
        return f"{field}: {len(text)} characters is over the limit of {max_chars}; send less"
    return None


def too_many(settings: ChatSettings, exc: RateLimited) -> str:
    return (f"too many messages: more than {settings.messages_per_minute:g} a minute after a burst of "
            f"{settings.message_burst}; {exc}")


def could_not_answer(exc: Exception) -> str:
    return f"the bot could not answer: {exc}"
