"""The forum's own section of config.yml (``forum:``): where it listens, where it stores, what it accepts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.settings import Section

ADMIN_TOKEN_ENV = "MURMUR_ADMIN_TOKEN"


class ForumLimits(Section):
    """Input limits the forum enforces with 4xx errors."""

    body_max_bytes: int = Field(64 * 1024, ge=1024, description="largest request body accepted")
    title_max_chars: int = Field(200, ge=10, description="longest thread title")
    post_max_chars: int = Field(10_000, ge=10, description="longest post body")
    handle_max_chars: int = Field(40, ge=3, description="longest account handle")
    posts_per_minute: float = Field(20.0, gt=0, description="sustained posting rate per account")
    post_burst: int = Field(5, ge=1, description="posts an account may make back to back")
    page_size_max: int = Field(100, ge=1, description="largest page a list request may ask for")


class ForumEvents(Section):
    """The event web socket."""

    queue_size: int = Field(1000, ge=10, description="events buffered per subscriber before it is dropped")
    heartbeat_s: float = Field(20.0, gt=0, description="web-socket ping interval")


class ForumSettings(Section):
    """The test forum: where it listens, where it stores, what it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    db: Path = Path("var/forum.db")
    database: str | None = Field(None, pattern=r"^postgres(ql)?://",
                                 description="a PostgreSQL URL (postgresql://user@host/db) to keep the forum in instead "
                                             "of the SQLite file forum.db; the server needs an empty database or one "
                                             "murmur made")
    admin_token: str | None = Field(None, min_length=16, description=f"or set {ADMIN_TOKEN_ENV}")
    sqlite_synchronous: str = Field("NORMAL", pattern="^(NORMAL|FULL)$")
    limits: ForumLimits = ForumLimits()
    events: ForumEvents = ForumEvents()

    def location(self) -> Path | str:
        """Where the forum lives: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database or self.db
