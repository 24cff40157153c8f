"""Write (or check) docs/cli.md, the one-page command reference, read from the Typer app itself.

Each command's usage line, its help and every argument and option (type, default, help) as the
app defines them, so the page cannot drift from ``robnetzoo COMMAND --help``.

    python tools/cli_reference.py           # rewrite docs/cli.md
    python tools/cli_reference.py --check   # exit 1 if docs/cli.md is out of date (the tests run this)
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"

INTRO = """# Command reference

<!-- written by tools/cli_reference.py from the Typer app; edit the commands' help, not this page -->

Every command of `robnetzoo`, as `robnetzoo COMMAND --help` shows it. Results go to stdout (a
table, or JSON with `--json`); progress, notes and errors to stderr. Exit codes: 0 done, 2 a
problem you can fix (one line naming it and the fix: see [the errors](errors.md)), 1 a bug
(`robnetzoo --debug COMMAND ...` shows the traceback), 130 interrupted. The guides say what each
command is for: [evaluation](evaluation.md), [training](training.md), [the search](search.md),
[export](export.md), [models](models.md).

Global options, before the command: `--debug` (tracebacks for unexpected errors), `--version`.
"""


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (no pipes, no tags, one line)."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _type(param: Any, ctx: Any) -> str:
    if getattr(param, "is_flag", False) or param.metavar == "":
        return "flag"
    shown = param.display_type_rich(ctx) if hasattr(param, "display_type_rich") else param.type.name
    return str(shown).strip("<>")


def _default(param: Any) -> str:
    value = param.default
    if value is None or value is False or value == () or value == [] or param.required:
        return ""
    return f"`{value}`"


def _command(name: str, command: Any, parent: Any) -> list[str]:
    from robnetzoo.cli._common import usage_name

    ctx = command.context_class(command, info_name=name, parent=parent)
    usage = " ".join(["robnetzoo", name, *command.collect_usage_pieces(ctx)])
    lines = [f"## {name}", "", f"`{usage}`", "", command.help.strip(), ""]
    rows = ["| argument or option | type | default | what it does |", "|---|---|---|---|"]
    for param in command.get_params(ctx):
        if param.name == "help":
            continue
        if param.param_type_name == "argument":
            names = usage_name(param)
            required = ""
        else:
            names = ", ".join(param.opts + param.secondary_opts)
            required = " (required)" if param.required else ""
        rows.append(
            f"| `{names}`{required} | {_cell(_type(param, ctx))} | {_default(param)} | {_cell(param.help or '')} |"
        )
    return lines + rows + [""]


def render() -> str:
    import typer

    from robnetzoo.cli.app import app

    group = typer.main.get_command(app)
    root = group.context_class(group, info_name="robnetzoo")
    parts = [INTRO]
    for name in group.list_commands(root):
        parts.append("\n".join(_command(name, group.get_command(root, name), root)))
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python tools/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
