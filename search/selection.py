"""Budgets -> the RobNet family: the best candidate under each parameter budget.

Budgets count the parameters of the *final* network (C=36, 20 cells; a cell-free genotype at
its own number of cells), as the paper's sizes do: small <= 4.41M, medium <= 5.66M, large
<= 6.89M. The best-ranked cell-based candidate within each budget becomes
``genotypes/robnet-small.json`` / ``-medium`` / ``-large``; the best cell-free candidate the
FSP filter kept (within the largest budget) becomes ``robnet-free.json``. The files are
``Genotype.dumps`` JSON, which ``robnetzoo train FILE`` and
``create_model("robnet-small", genotype=FILE)`` take as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robnetzoo._io import atomic_write_text
from robnetzoo.errors import InvalidInput, option
from robnetzoo.genotype import Genotype

from robnetzoo.registry import FAMILY_LAYERS

FAMILY = ("small", "medium", "large")


def select(rows: list[dict[str, Any]], budgets: dict[str, float]) -> dict[str, dict[str, Any]]:
    """``{"robnet-small": row, ...}`` from leaderboard rows (best first). A budget no scored
    candidate meets is an error naming the smallest candidate's size."""
    chosen: dict[str, dict[str, Any]] = {}
    family = sorted((n for n in FAMILY if n in budgets), key=lambda n: budgets[n])
    cell = [r for r in rows if r["space"] == "cell" and r["rank"] is not None]
    if cell:
        smallest = min(r["parameters"] for r in cell)
        floor = 0.0
        for name in family:
            budget = budgets[name]
            if smallest > budget:
                raise InvalidInput(
                    f"no cell-space candidate fits the {name} budget of {budget / 1e6:.2f}M parameters (the smallest "
                    f"scored one has {smallest / 1e6:.2f}M); raise {option('budget_' + name)} to at least {smallest / 1e6:.2f}M"
                )
            # Each model gets its own band (above the next smaller budget) when the band holds a
            # candidate, so small / medium / large differ; otherwise the best under the budget.
            band = [r for r in cell if floor < r["parameters"] <= budget]
            fits = band or [r for r in cell if r["parameters"] <= budget]
            best = min(fits, key=lambda r: r["rank"])
            chosen[f"robnet-{name}"] = {**best, "budget": budget, "band": [floor, budget] if band else [0.0, budget]}
            floor = budget
    free = [r for r in rows if r["space"] == "free" and r["rank"] is not None]
    if free:
        budget = max(budgets.values())
        fits = [r for r in free if r["parameters"] <= budget]
        if not fits:
            smallest = min(r["parameters"] for r in free)
            raise InvalidInput(
                f"no cell-free candidate fits the largest budget of {budget / 1e6:.2f}M parameters (the smallest "
                f"kept one has {smallest / 1e6:.2f}M); raise {option('budget_large')} to at least {smallest / 1e6:.2f}M"
            )
        chosen["robnet-free"] = {**min(fits, key=lambda r: r["rank"]), "budget": budget, "band": [0.0, budget]}
    return chosen


def write_genotypes(selection: dict[str, dict[str, Any]], folder: Path, *, layers: int) -> dict[str, Path]:
    """One ``Genotype.dumps`` file per chosen model, named after it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, row in selection.items():
        path = folder / f"{name}.json"
        atomic_write_text(path, Genotype.parse(row["genotype"]).dumps() + "\n")
        paths[name] = path
    return paths


def train_command(name: str, row: dict[str, Any], folder: Path, preset: str = "paper") -> str:
    """The command that trains a chosen genotype at full size (a cell-free genotype keeps its
    own number of cells)."""
    path = folder / "genotypes" / f"{name}.json"
    cells = len(Genotype.parse(row["genotype"]).cells)
    layers = f" --layers {cells}" if row["space"] == "free" and cells != FAMILY_LAYERS else ""
    return f"robnetzoo train {path} --preset {preset}{layers}"
