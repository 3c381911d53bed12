"""Command-line option types shared by the commands."""

from __future__ import annotations

from pathlib import Path

import click

from conversations.engines import is_postgres


class DatabaseOption(click.ParamType):
    """A forum database: a SQLite file, or a ``postgresql://`` URL kept as written."""

    name = "PATH|URL"

    def convert(self, value, param, ctx) -> Path | str:
        if isinstance(value, Path) or is_postgres(value):
            return value
        return Path(value)


DATABASE = DatabaseOption()
