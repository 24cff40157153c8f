"""Where output goes: data to stdout (``--json``), people to stderr (tables, progress)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# Off a terminal rich assumes 80 columns and truncates names; tables read better wider.
stderr = Console(stderr=True)
if not stderr.is_terminal:
    stderr.width = max(stderr.width, 120)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def millions(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e6:.2f}M"
