"""Where output goes: a command's result to stdout (a table, or ``--json``), people to stderr
(progress bars, notes, errors), so results pipe and redirect (``robnetzoo models | grep free``).

Every string that comes from the user, a file or a server is printed without markup parsing,
so a folder called ``run[/red]`` or a message saying ``pip install 'robnetzoo[autoattack]'``
prints as it is, and with its control characters made visible (``\x1b``, ``\n``), so a file
cannot clear the screen, retitle the window or forge a second line. stdout parses no markup at
all; stderr's own styles go through ``escape``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console

# Off a terminal rich assumes 80 columns and truncates names; tables read better wider.
stdout = Console(highlight=False, markup=False)
stderr = Console(stderr=True, highlight=False)
for _console in (stdout, stderr):
    if not _console.is_terminal:
        _console.width = max(_console.width, 120)


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def visible(text: Any) -> str:
    """``text`` with every control character written out (``\\x1b``, ``\\n``): one line, inert."""
    return str(text).translate(_CONTROL)


def escape(text: Any) -> str:
    """``text`` for a line that has markup of its own (stderr's styles): visible and markup-inert."""
    from rich.markup import escape as markup_escape

    return markup_escape(visible(text))


def show(table: Any) -> None:
    """A result table on stdout, each of its strings made visible (a name read from a file
    reaches a cell as it was written)."""
    for attribute in ("title", "caption"):
        if isinstance(getattr(table, attribute), str):
            setattr(table, attribute, visible(getattr(table, attribute)))
    for column in table.columns:
        if isinstance(column.header, str):
            column.header = visible(column.header)
        column._cells = [visible(cell) if isinstance(cell, str) else cell for cell in column._cells]
    stdout.print(table)


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
    stderr.print(visible(render_options(text, cli_spelling(FLAG_NAMES))), markup=False, soft_wrap=True)


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


def significant(value: float, figures: int = 2) -> str:
    """``value`` to ``figures`` significant figures, with thousands separators (360,528 -> 360,000)."""
    if value == 0:
        return "0"
    digits = figures - 1 - math.floor(math.log10(abs(value)))
    return f"{round(value, digits):,.{max(digits, 0)}f}"


def millions(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e6:.2f}M"


def fit_columns(columns: list[str], rows: list[list[str]], width: int, keep: tuple[str, ...] = ()) -> list[int]:
    """The indices of the columns a table of ``width`` characters shows whole: the first column
    and ``keep`` always; the others while they fit, dropped from the right (a cell is never cut)."""
    natural = [max([len(c), *(len(r[i]) for r in rows)]) + 3 for i, c in enumerate(columns)]  # padding, border
    shown = list(range(len(columns)))
    droppable = [i for i in shown[1:] if columns[i] not in keep]
    while sum(natural[i] for i in shown) + 1 > width and droppable:
        shown.remove(droppable.pop())
    return shown


def print_table(
    title: str,
    columns: list[str],
    rows: list[list[str]],
    *,
    right: tuple[str, ...] = (),
    keep: tuple[str, ...] = (),
    only: list[str] | None = None,
) -> None:
    """A result table: drawn by Rich on a terminal with the columns that fit its width whole
    (the first and ``keep`` always; the others dropped from the right, and said so; ``only``
    chooses them by name); tab-separated with a header line when stdout is a pipe or a file,
    every column, so ``| grep``, ``| cut`` and spreadsheets read every name whole."""
    if only is not None:
        unknown = [c for c in only if c not in columns]
        if unknown:
            from robnetzoo.errors import InvalidInput

            raise InvalidInput(f"no column {', '.join(map(repr, unknown))}; the columns are: {', '.join(columns)}")
        picked = [columns.index(c) for c in only]
        columns, rows = [columns[i] for i in picked], [[r[i] for i in picked] for r in rows]
    if not stdout.is_terminal:
        sys.stdout.write("\t".join(map(visible, columns)) + "\n")
        sys.stdout.write("".join("\t".join(map(visible, row)) + "\n" for row in rows))
        sys.stdout.flush()
        return
    from rich.table import Table

    shown = list(range(len(columns))) if only is not None else fit_columns(columns, rows, stdout.width, keep)
    dropped = [columns[i] for i in range(len(columns)) if i not in shown]
    caption = f"not shown at this width: {', '.join(dropped)} (--columns chooses; a pipe gets all)" if dropped else None
    table = Table(title=title, caption=caption)
    for i in shown:
        wraps = columns[i] in keep and i > 0  # only where nothing else is left to drop, at its spaces
        table.add_column(columns[i], justify="right" if columns[i] in right else "left", no_wrap=not wraps)
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    show(table)
