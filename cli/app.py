"""The ``robnetzoo`` Typer app and its error boundary.

Library code raises ``RobnetzooError`` subclasses; here, once, they become one line on
stderr and exit code 2. Usage errors are 2 as well; anything else is a bug: exit 1, with the
traceback shown under ``--debug``.
"""

from __future__ import annotations

import errno
import sys
import warnings

import click
import typer

from robnetzoo import __version__
from robnetzoo.errors import RobnetzooError, cli_spelling

from . import evaluate as evaluate_cmd
from . import export as export_cmd
from . import search as search_cmd
from . import train as train_cmd
from . import zoo
from ._common import ZooCommand, ZooGroup
from ._output import FLAG_NAMES, escape, stderr

app = typer.Typer(
    name="robnetzoo",
    cls=ZooGroup,
    help="A model zoo for adversarially robust networks (RobNets and baselines).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


def _click_exceptions(name: str) -> tuple[type[BaseException], ...]:
    """Typer >= 0.20 vendors click as ``typer._click``; catch both spellings of a class."""
    classes = [getattr(click.exceptions, name), getattr(typer, name, None)]
    try:
        from typer._click import exceptions as vendored  # type: ignore[import-not-found]

        classes.append(getattr(vendored, name, None))
    except ImportError:
        pass
    return tuple(c for c in classes if isinstance(c, type))


_USAGE_ERRORS = _click_exceptions("UsageError")
_ABORTS = _click_exceptions("Abort")
_EXITS = _click_exceptions("Exit")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"robnetzoo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors.", metavar=""),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, metavar="", help="Print the version."
    ),
) -> None:
    _state["debug"] = debug


zoo.register(app)
evaluate_cmd.register(app)
train_cmd.register(app)
search_cmd.register(app)
export_cmd.register(app)
for _info in app.registered_commands:  # every command's help reads the same way
    _info.cls = ZooCommand


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) 0, 1 or 2."""
    args = sys.argv[1:] if argv is None else argv
    _state["debug"] = "--debug" in args
    # Warnings (torch's, a library's) are held until the command ends: a refused command prints
    # its one line alone, and any other shows them after its output, each once.
    with warnings.catch_warnings(record=True) as caught:
        code = _run(args)
    if code != 2:
        seen = set()
        for w in caught:
            key = (str(w.message), w.category, w.filename, w.lineno)
            if key not in seen:
                seen.add(key)
                sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
    if argv is None:
        sys.exit(code)
    return code


def _run(args: list[str]) -> int:
    """The app on ``args``, every outcome an exit code (the error boundary)."""
    try:
        result = app(args=args, prog_name="robnetzoo", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except _USAGE_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        code = 2
    except _ABORTS:  # click turns Ctrl-C outside a command's own handler into Abort
        stderr.print("interrupted", markup=False)
        code = 130
    except _EXITS as exc:
        code = exc.exit_code  # type: ignore[attr-defined]
    except RobnetzooError as exc:
        message = exc.render(cli_spelling(FLAG_NAMES))
        stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
        code = 2
    except KeyboardInterrupt:
        stderr.print("interrupted")
        code = 130
    except OSError as exc:  # a file or folder the system refuses: the user's to fix, unless it is a bug
        if exc.errno not in ENVIRONMENT_ERRNOS:
            code = _internal_error(exc)
        else:
            where = f" {exc.filename}" if exc.filename else ""
            stderr.print(
                f"[red]error:[/red] {escape(f'cannot use{where}: {exc.strerror}; {ENVIRONMENT_ERRNOS[exc.errno]}')}",
                highlight=False,
                soft_wrap=True,
            )
            code = 2
    except Exception as exc:  # a bug: say so, and show where under --debug
        code = _internal_error(exc)
    return code


# Refusals of the system the user can fix, with the fix: permissions, a read-only or full disk.
ENVIRONMENT_ERRNOS = {
    errno.EACCES: "check its permissions, or choose another location",
    errno.EPERM: "check its permissions, or choose another location",
    errno.EROFS: "it is on a read-only file system; choose another location",
    errno.ENOSPC: "the disk is full; free space or choose another location",
    errno.EDQUOT: "the disk quota is exhausted; free space or choose another location",
}


def _internal_error(exc: BaseException) -> int:
    if _state["debug"]:
        stderr.print_exception()
    else:
        stderr.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {escape(str(exc))} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
    return 1


if __name__ == "__main__":
    main()
