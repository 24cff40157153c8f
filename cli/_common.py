"""Pieces every command shares: how help reads, plain flags, loading a model with a status line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from ._output import stderr

# The attack names and eps syntax, for --help (tests/cli check this against the library).
ATTACK_HELP = (
    "Attack: fgsm, pgd, pgd<k> (pgd7, pgd20, pgd100), pgdl2, mifgsm, cw, trades (PGD on TRADES' KL), "
    "deepfool, autoattack (the reference), apgd-ce, apgd-dlr, apgd-t, apgd-cascade (APGD-CE, APGD-T on what stands, "
    "Square where no gradient was usable: AutoAttack's verdict for a fraction of its passes), "
    "square, square<k> (score-based, k queries: also runs against a deployment runtime), "
    "paper (fgsm, pgd20, pgd100, deepfool, mifgsm), or worst-case (apgd-cascade: the cheap worst-case "
    "verdict); repeat for several. "
    "Default: pgd20 (Linf), pgdl2 (L2)."
)
EPS_HELP = (
    "Radius of the threat model, in its norm. Linf: pixels are in [0, 1], so write 8/255 "
    "(or 0.0314). L2: the Euclidean length of the whole perturbation, e.g. 0.5 on 32x32 "
    "images. Default: the model's own (config.json), usually Linf 8/255."
)


class ZooCommand(TyperCommand):
    """A command whose help reads as prose and whose usage line reads as click's does.

    Typer keeps a docstring's line breaks in the commands list (sentences end mid-line), writes
    required arguments as ``{model}`` and gives ``--help`` a ``<bool>`` type; here paragraphs are
    joined, arguments are ``MODEL`` / ``[PATTERN]`` / ``RESULTS...`` and flags show no type.
    """

    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, help=prose(help) if help else help, **kwargs)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(usage_name(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def get_help_option(self, ctx: Any) -> Any:
        return untyped(super().get_help_option(ctx))


class ZooGroup(TyperGroup):
    """The app itself: its ``--help`` shows no type either."""

    def get_help_option(self, ctx: Any) -> Any:
        return untyped(super().get_help_option(ctx))


def untyped(option: Any) -> Any:
    """A flag shown without a type (``--help``, not ``--help <bool>``)."""
    if option is not None:
        option.metavar = ""
    return option


def prose(text: str) -> str:
    """``text`` with each paragraph on one line (blank lines still part paragraphs)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def usage_name(argument: Any) -> str:
    """An argument as a usage line names it: upper case, optional in brackets, ``...`` if repeated."""
    name = (argument.metavar or argument.name or "").upper()
    name = name if argument.required else f"[{name}]"
    return f"{name}..." if argument.nargs != 1 else name


def flag(help: str, *names: str) -> Any:
    """A plain on/off flag (typer >= 0.29 would otherwise show it as ``<bool>``)."""
    return typer.Option(False, *names, help=help, metavar="")


def load_model(
    source: str, *, revision: str | None = None, weights: Path | None = None, trust_pickle: bool = False
) -> Any:
    """A model from a registry name, Hub repo id or folder (or an authors' checkpoint file
    with ``weights``), saying on stderr when the Hub is being contacted."""
    import robnetzoo
    from robnetzoo.registry import get_entry, resolve_source

    resolved = resolve_source(source)
    if weights is not None:
        if resolved.kind == "registry":
            stderr.print(f"loading the authors' checkpoint {weights} as {resolved.value}", markup=False)
        return robnetzoo.from_pretrained(source, weights=weights, trust_pickle=trust_pickle)
    kwargs = {"revision": revision} if revision else {}
    if resolved.kind == "folder" or (resolved.kind == "registry" and get_entry(resolved.value).packaged):
        return robnetzoo.from_pretrained(source, **kwargs)
    with stderr.status(f"fetching {resolved.value} (Hub cache or HF_ENDPOINT)…"):
        return robnetzoo.from_pretrained(source, **kwargs)
