"""Names that travel: a model's, a data set's, a recipe's or a search preset's name reaches a
file or folder name, a Hub repo, a model card (Markdown that renders HTML) and a terminal
(Rich markup). One rule for all of them, as the Hub's own: letters, digits, ``.``, ``_`` and
``-``, starting with a letter or digit, at most 96 characters. Names read from a file are
checked against it; names derived from a file name are made to fit it (``slug``).
"""

from __future__ import annotations

import re

from .errors import InvalidInput

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


def is_name(value: object) -> bool:
    """Whether ``value`` is a name that may reach a path, the Hub or a page as it is."""
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None and ".." not in value


def check_name(value: object, what: str) -> str:
    """``value`` if it is a name (``is_name``); else one ``InvalidInput`` saying what it must be."""
    if not is_name(value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise InvalidInput(
            f"{what} {shown} is not a name robnetzoo can use in files and on the Hub",
            fix="use letters, digits, '.', '_' and '-' only (starting with a letter or digit, no '..', "
            "at most 96 characters)",
        )
    return value  # type: ignore[return-value]


def slug(text: str, fallback: str = "unnamed") -> str:
    """``text`` made into a name: every run of other characters becomes ``-``, and the ends are
    trimmed, so ``x<img src=x>`` becomes ``x-img-src-x``."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", text).replace("..", "-"))
    cleaned = cleaned.strip("-._")[:96].strip("-._")
    return cleaned or fallback
