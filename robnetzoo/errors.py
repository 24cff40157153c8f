"""The exceptions robnetzoo raises for problems the *user* can fix.

Library code raises these and never exits; the CLI maps every ``RobnetzooError`` to one line
on stderr and exit code 2. Anything else escaping is a bug (exit 1, traceback with ``--debug``).

A message names the problem and the fix. Where the fix is "pass another argument", the
message names the argument with :func:`option`, so each caller reads it in their own terms:
``str(error)`` says ``overwrite=True`` to a Python caller, and the CLI renders the same error
as ``--overwrite`` (``error.render(flag_names)``), as huggingface_hub's CLI maps its errors
once, at its boundary. The structured parts (``problem``, ``fix``, ``path``) are attributes,
so a program can act on an error without parsing its text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping

QUOTES = "'\""
_OPTION = re.compile(r"\{\{opt:([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}\}")


def option(name: str, value: Any = None) -> str:
    """A marker for the argument ``name`` (optionally with the ``value`` to pass) inside an
    error message: ``option("resume", True)`` reads ``resume=True`` in Python and ``--resume``
    on the command line; ``option("output")`` reads ``output`` and ``--output``."""
    return f"{{{{opt:{name}}}}}" if value is None else f"{{{{opt:{name}={value!r}}}}}"


def python_spelling(name: str, value: str | None) -> str:
    return name if value is None else f"{name}={value}"


def cli_spelling(flags: Mapping[str, str] | None = None) -> Callable[[str, str | None], str]:
    """How the CLI spells an argument: its flag (``data_root`` -> ``--data-root``) unless
    ``flags`` names another; ``False`` reads as the flag too ("drop --resume")."""
    flags = flags or {}

    def spell(name: str, value: str | None) -> str:
        flag = flags.get(name, "--" + name.replace("_", "-"))
        if value in (None, "True", "False"):
            return flag
        return f"{flag} {value.strip(QUOTES)}"  # the value as typed: 'cpu' -> cpu

    return spell


def render_options(text: str, spell: Callable[[str, str | None], str]) -> str:
    return _OPTION.sub(lambda m: spell(m.group(1), m.group(2)), text)


class RobnetzooError(Exception):
    """Base class: a problem with the user's input or environment, not a bug in robnetzoo.

    ``RobnetzooError(problem, fix=..., path=...)``: ``problem`` says what is wrong, ``fix``
    what to do (joined to it with "; "), ``path`` the file or folder concerned, if any. The
    attributes ``problem`` and ``fix`` read in Python's terms; ``problem_template`` and
    ``fix_template`` keep the argument markers, to build another error from this one.
    """

    def __init__(self, problem: str, *, fix: str | None = None, path: str | Path | None = None) -> None:
        self.problem_template, self.fix_template = problem, fix
        self.path = None if path is None else Path(path)
        super().__init__(self.render())

    @property
    def problem(self) -> str:
        return render_options(self.problem_template, python_spelling)

    @property
    def fix(self) -> str | None:
        return None if self.fix_template is None else render_options(self.fix_template, python_spelling)

    @property
    def template(self) -> str:
        return self.problem_template if not self.fix_template else f"{self.problem_template}; {self.fix_template}"

    def render(self, spell: Callable[[str, str | None], str] = python_spelling) -> str:
        """The one-line message, with arguments spelled by ``spell`` (Python's by default)."""
        return render_options(self.template, spell)

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self) -> tuple[Any, ...]:  # keyword fields survive pickling (torch.distributed objects)
        return _rebuild, (type(self), self.__dict__)


def _rebuild(cls: type[RobnetzooError], fields: dict[str, Any]) -> RobnetzooError:
    error = cls.__new__(cls)
    error.__dict__.update(fields)
    Exception.__init__(error, error.render())
    return error


class InvalidInput(RobnetzooError, ValueError):
    """An argument, genotype, tensor or file that is well-formed but wrong for the request."""


class NotFound(RobnetzooError, LookupError):
    """A model, repository, file or data set that does not exist where we looked."""


class IntegrityError(RobnetzooError):
    """A file that exists but is corrupt, truncated, or does not match its config."""


class CorruptFile(IntegrityError):
    """A file robnetzoo reads (results, run, settings, checkpoint...) that is damaged,
    truncated, or not what it should be; ``kind`` says what it should have been."""

    def __init__(self, path: str | Path, kind: str, detail: str, *, fix: str) -> None:
        self.kind, self.detail = kind, detail
        super().__init__(f"{path} is not a readable {kind} ({detail})", fix=fix, path=path)


class MissingDependency(RobnetzooError, ImportError):
    """An optional extra is needed for this feature (the message names the pip command)."""
