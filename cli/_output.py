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


# Library arguments whose flag is not the argument's name with dashes (``data_root`` -> ``--data-root``).
FLAG_NAMES = {
    "root": "--data-root",
    "output_dir": "--output",
    "save_directory": "--output",
    "attacks": "--attack",
    "calibration": "--calibration-data",
    "checkpoint_interval": "--checkpoint-minutes",
    "train_examples": "--train-n",
    "quantization_debug": "--debug-int8",
    # the command line has no flag for it: the cached copy is removed instead
    "force_download": "remove the cached copy with `hf cache delete`, then rerun",
}


def note(text: str, style: str = "yellow", label: str = "note") -> None:
    """One line for people on stderr; ``text`` is printed literally, a library argument in it
    (``errors.option``) spelled as its flag."""
    from robnetzoo.errors import cli_spelling, render_options

    stderr.print(f"[{style}]{label}:[/{style}] ", end="")
    stderr.print(render_options(text, cli_spelling(FLAG_NAMES)), markup=False, soft_wrap=True)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def count_text(count: int) -> str:
    """A count, short: 812, 12.3k, 4.56M (image-passes in eval's table)."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if count >= limit:
            return f"{count / limit:.3g}{suffix}"
    return str(count)


def millions(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e6:.2f}M"


def print_table(title: str, columns: list[str], rows: list[list[str]], *, right: tuple[str, ...] = ()) -> None:
    """A result table: drawn by Rich on a terminal, its first column (a name people copy) never
    cut; tab-separated with a header line when stdout is a pipe or a file, so ``| grep``,
    ``| cut`` and spreadsheets read every name whole."""
    if not stdout.is_terminal:
        sys.stdout.write("\t".join(columns) + "\n")
        sys.stdout.write("".join("\t".join(row) + "\n" for row in rows))
        sys.stdout.flush()
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for index, column in enumerate(columns):
        table.add_column(
            column,
            justify="right" if column in right else "left",
            no_wrap=index == 0,
            min_width=max([len(column), *(len(r[0]) for r in rows)]) if index == 0 else None,
        )
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    stdout.print(table)
