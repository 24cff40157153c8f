"""Where output goes: a command's result to stdout (a table, or ``--json``), people to stderr
(progress bars, notes, errors), so results pipe and redirect (``robnetzoo models | grep free``).

Every string that comes from the user or the library is printed without markup parsing, so a
folder called ``run[/red]`` or a message saying ``pip install 'robnetzoo[autoattack]'`` prints
as it is.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# Off a terminal rich assumes 80 columns and truncates names; tables read better wider.
stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)
for _console in (stdout, stderr):
    if not _console.is_terminal:
        _console.width = max(_console.width, 120)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def emit_json_line(event: Any) -> None:
    """One event as one JSON line on stdout (a stream a program reads as it comes)."""
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def note(text: str, style: str = "yellow", label: str = "note") -> None:
    """One line for people on stderr; ``text`` is printed literally."""
    stderr.print(f"[{style}]{label}:[/{style}] ", end="")
    stderr.print(text, markup=False, soft_wrap=True)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def millions(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e6:.2f}M"
