"""Does ``apgd-cascade`` reach standard AutoAttack's verdict for a fifth of its passes? Both run
on the same examples of the same models, through the same evaluator, which counts every
image-pass each spends (forward and backward, one per image per pass through the model).

Models, on each data set (the digits, and Fashion-MNIST where its files are installed):

* ``standard``: trained on clean images only (robust accuracy near zero: both attacks should
  break nearly everything, and early exit should make the cascade very cheap);
* ``adversarial``: trained adversarially (the demo recipe: FGSM with a random start);
* ``masked``: the adversarial model behind an input layer that rounds pixels to 4 grey levels,
  so every input gradient is zero: gradient attacks stand still and only a score-based attack
  (AutoAttack's Square, the cascade's Square fallback) finds what a small perturbation flips.

Per model: clean and robust accuracy under each attack, the examples each breaks that the other
does not (with McNemar's exact test on those discordant examples), the passes and seconds of
each, and the verdict against the goal: no more than 0.5 point weaker than AutoAttack (on a
test set too small for half a point, no more than one example weaker) for at most a fifth of
its passes (forward plus backward).

    python benchmarks/autoattack_budget.py [--work budget/] [--datasets digits,fashion-mnist]
        [--n 200] [--kinds standard,adversarial,masked] [--epochs 5] [--width 4] [--layers 5] [--train-n 3000]
        [--square-queries 1000,5000]

``--square-queries`` judges the cascade at several Square budgets against one AutoAttack run
(a row per model and budget); only points whose gradient was never usable reach Square, so the
budget moves nothing but the masked model's row.

Trained models are kept in ``--work`` and reused. Needs ``pyautoattack`` (the ``autoattack``
extra). Run it alone; it prints what it found and writes its raw figures to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from _arms import scratch_recipe  # benchmarks/_arms.py: the recipe the benchmarks train from scratch with
from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine
from torch import nn  # noqa: E402

import robnetzoo  # noqa: E402
from robnetzoo.data import DATASET_INFO  # noqa: E402
from robnetzoo.evaluation.store import read_results_file  # noqa: E402

MODEL = "robnet-large"  # the default --model
LEVELS = 4  # the masked model's grey levels
ACCURACY_GOAL = 0.5  # points
COST_GOAL = 5.0  # AutoAttack's passes over the cascade's


class RoundedInput(nn.Module):
    """``inner`` behind an input layer that rounds to ``levels`` grey levels: zero gradient
    everywhere (gradient masking by quantisation, Athalye et al. 2018)."""

    def __init__(self, inner: nn.Module, levels: int = LEVELS) -> None:
        super().__init__()
        self.inner, self.levels = inner, levels
        self.config = getattr(inner, "config", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * (self.levels - 1)) / (self.levels - 1))


def trained(work: Path, dataset: str, kind: str, args: argparse.Namespace) -> nn.Module:
    """The ``kind`` (``standard`` or ``adversarial``) model of ``dataset``, trained unless ``work`` has it."""
    from robnetzoo.search.runs import train_run

    folder = work / f"{args.model}-{dataset}-{kind}"
    if not (folder / "model.safetensors").is_file():
        recipe = scratch_recipe(
            dataset, DATASET_INFO[dataset].threat_model, args.epochs, args.train_n if dataset != "digits" else None
        )
        if kind == "standard":
            recipe = recipe.with_overrides(name=f"clean-{dataset}", attack="none", attack_params={})
        began = time.perf_counter()
        train_run(
            args.model,
            dataset=dataset,
            recipe=recipe,
            output=folder,
            width=args.width,
            layers=args.layers,
            seed=0,
            device="cpu",
            eval_attacks=["pgd20"],
            eval_n=args.n,
            resume=(folder / "run.json").exists(),
        )
        print(f"  trained {folder.name} in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    return robnetzoo.from_pretrained(str(folder))


def _marks(
    model: nn.Module, dataset: Any, n: int, attack: str, params: dict[str, Any]
) -> tuple[Any, list[bool], list[bool]]:
    """One attack through the evaluator: its report, which examples were right, and which
    survived the attack."""
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.jsonl"
        report = robnetzoo.evaluate(
            model,
            dataset,
            attacks=[attack],
            attack_params={attack: params},
            n_examples=n,
            batch_size=n,
            output=results,
        )
        marks = read_results_file(results)["results"]
    return report, [m == "1" for m in marks["clean"]], [m == "1" for m in marks[attack]]


def compare(
    model: nn.Module, dataset: Any, n: int, square_queries: list[int | None] | None = None
) -> list[dict[str, Any]]:
    """Standard AutoAttack once and the cascade at each Square budget (None: its default), on
    the same examples, independently (each example's noise is seeded by the attack and its
    index, so separate evaluations are those of one run): a row per budget."""
    budgets = square_queries or [None]
    reference, clean, reference_survived = _marks(model, dataset, n, "autoattack", {})
    rows = []
    for queries in budgets:
        params = {} if queries is None else {"square_queries": queries}
        report, _, survived = _marks(model, dataset, n, "apgd-cascade", params)
        rows.append(_row(clean, reference, reference_survived, report, survived, queries))
    return rows


def _row(
    clean: list[bool],
    reference: Any,
    reference_survived: list[bool],
    report: Any,
    survived: list[bool],
    queries: int | None,
) -> dict[str, Any]:
    from robnetzoo.attacks.cascade import APGDCascade

    names = ("autoattack", "apgd-cascade")
    only_autoattack = sum(c and not a and b for c, a, b in zip(clean, reference_survived, survived))
    only_cascade = sum(c and a and not b for c, a, b in zip(clean, reference_survived, survived))
    phases = {
        "autoattack": reference.cost["phases"]["autoattack"],
        "apgd-cascade": report.cost["phases"]["apgd-cascade"],
    }
    robust = {
        "autoattack": reference.robust_accuracy["autoattack"],
        "apgd-cascade": report.robust_accuracy["apgd-cascade"],
    }
    n = reference.n_examples
    weaker_points = robust["apgd-cascade"] - robust["autoattack"]
    weaker_examples = only_autoattack - only_cascade
    allowed_examples = max(1, int(ACCURACY_GOAL / 100 * n))  # half a point, or one example on a small set
    passes = {name: phases[name]["forward"] + phases[name]["backward"] for name in names}
    ratio = passes["autoattack"] / max(passes["apgd-cascade"], 1)
    from scipy.stats import binomtest

    discordant = only_autoattack + only_cascade
    default_queries = inspect.signature(APGDCascade).parameters["square_queries"].default
    return {
        "n": n,
        "square_queries": default_queries if queries is None else queries,
        "clean": reference.clean_accuracy,
        "robust": robust,
        "only_autoattack_breaks": only_autoattack,
        "only_cascade_breaks": only_cascade,
        "mcnemar_p": binomtest(only_autoattack, discordant).pvalue if discordant else None,
        "passes": {name: {k: phases[name][k] for k in ("forward", "backward")} for name in names},
        "seconds": {name: phases[name]["seconds"] for name in names},
        "pass_ratio": ratio,
        "seconds_ratio": phases["autoattack"]["seconds"] / max(phases["apgd-cascade"]["seconds"], 1e-9),
        "cascade_weaker_by_points": weaker_points,
        "cascade_weaker_by_examples": weaker_examples,
        "meets_accuracy": weaker_points <= ACCURACY_GOAL or weaker_examples <= allowed_examples,
        "meets_cost": ratio >= COST_GOAL,
        "checks": [c for c in report.checks if c.get("passed") is False],
        "device": report.cost["device"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("budget"))
    parser.add_argument("--model", default=MODEL, help="a registry name the zoo can build (default robnet-large)")
    parser.add_argument("--datasets", default="digits,fashion-mnist")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--kinds", default="standard,adversarial,masked", help="which models, in this order")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--train-n", type=int, default=3000)
    parser.add_argument(
        "--square-queries",
        default=None,
        help="the cascade's Square budgets to judge against one AutoAttack run, comma-separated "
        "(default: the cascade's own); only masked points ever reach Square",
    )
    parser.add_argument("--json", type=Path, default=default_path("autoattack_budget"))
    args = parser.parse_args()
    budgets: list[int | None] = [None]
    if args.square_queries is not None:
        try:
            budgets = [int(q) for q in args.square_queries.split(",")]
        except ValueError:
            budgets = []
        if not budgets or min(budgets) < 1:
            parser.error(f"--square-queries: give whole numbers of at least 1, got {args.square_queries!r}")
    from robnetzoo.errors import RobnetzooError
    from robnetzoo.registry import buildable_config

    try:
        buildable_config(args.model)
    except RobnetzooError as error:  # one line and exit 2, before anything is trained
        parser.error(f"--model {args.model}: {error}")
    if not args.kinds or set(args.kinds.split(",")) - {"standard", "adversarial", "masked"}:
        parser.error(f"--kinds: choose among standard, adversarial, masked, got {args.kinds!r}")
    unknown = [d for d in args.datasets.split(",") if d not in DATASET_INFO]
    if unknown:
        parser.error(f"--datasets: unknown {', '.join(unknown)}; known: {', '.join(DATASET_INFO)}")
    args.work.mkdir(parents=True, exist_ok=True)
    kinds = args.kinds.split(",")
    rows: dict[str, Any] = {}
    figures = {
        "model": args.model,
        "width": args.width,
        "layers": args.layers,
        "epochs": args.epochs,
        "train_n": args.train_n,
        "n": args.n,
        "masked_levels": LEVELS,
        "goal": {"accuracy_points": ACCURACY_GOAL, "pass_ratio": COST_GOAL},
        "models": rows,
    }
    for dataset in args.datasets.split(","):
        data = robnetzoo.load_dataset(dataset, "test")
        for kind in kinds:
            model = trained(args.work, dataset, "standard" if kind == "standard" else "adversarial", args)
            model = RoundedInput(model) if kind == "masked" else model
            began = time.perf_counter()
            for row in compare(model.eval(), data, args.n, budgets):
                name = f"{dataset}/{kind}" if len(budgets) == 1 else f"{dataset}/{kind}/square{row['square_queries']}"
                rows[name] = row
                print(
                    f"  {name}: autoattack {row['robust']['autoattack']:.1f}% cascade "
                    f"{row['robust']['apgd-cascade']:.1f}%, passes x{row['pass_ratio']:.1f} fewer "
                    f"({time.perf_counter() - began:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            write(args.json, figures)  # after every model: a run cut short keeps what it measured
    print(
        f"{'model':32s} {'n':>4s} {'clean':>6s} {'AA':>6s} {'cascade':>8s} {'only AA':>8s} {'only casc.':>10s} "
        f"{'AA passes':>10s} {'casc. passes':>12s} {'ratio':>6s}  verdict"
    )
    for name, row in rows.items():
        verdict = (
            "meets both goals"
            if row["meets_accuracy"] and row["meets_cost"]
            else "misses the accuracy goal"
            if not row["meets_accuracy"]
            else "misses the cost goal"
        )
        total = {k: v["forward"] + v["backward"] for k, v in row["passes"].items()}
        print(
            f"{name:32s} {row['n']:4d} {row['clean']:6.1f} {row['robust']['autoattack']:6.1f} "
            f"{row['robust']['apgd-cascade']:8.1f} {row['only_autoattack_breaks']:8d} {row['only_cascade_breaks']:10d} "
            f"{total['autoattack']:10,d} {total['apgd-cascade']:12,d} {row['pass_ratio']:6.1f}  {verdict}"
        )
    write(args.json, figures)


if __name__ == "__main__":
    main()
