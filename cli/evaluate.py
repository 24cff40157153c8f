"""``robnetzoo eval`` (see issue 3)."""

import typer


def register(app: typer.Typer) -> None:
    pass
