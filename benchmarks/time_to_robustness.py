"""Time to robustness: training wall time until the held-out PGD-20 accuracy first reaches a
target, for our PGD-7 recipe, a textbook PGD-7 loop and our ``fast`` recipe, in one run.

All three train the same architecture (robnet-large at width 8, 5 cells, on the built-in
digits) from the same initial weights, on the same split: the training part of the digits
training set, with the recipes' held-out part (10%: 144 images) kept for the measurement.

* ``ours PGD-7``: PGD-7 (8/255, step 2/255, random start, crafted in train mode), SGD cosine
  from lr 0.05 at batch 64 (``benchmarks/_recipes.py``), on ``robnetzoo.search.training.Trainer``;
* ``textbook PGD-7``: what most papers' code does: a shuffling ``DataLoader``, ``torchattacks.PGD``
  with its defaults (the same eps, step and steps; crafted in eval mode), and SGD with the same
  learning rate schedule, momentum and weight decay;
* ``ours fast``: the ``fast`` recipe (FGSM from a random start, step 1.25 eps, cyclic lr 0.2 at
  batch 128 scaled to 0.1 at batch 64, the catastrophic-overfitting guard) on the same engine.

Each runs a schedule of ``--epochs`` epochs and stops after the first epoch whose held-out PGD-20
accuracy (``robnetzoo.evaluate``, seed 0, the same for all) reaches ``--target``, or when the
schedule or ``--max-seconds`` of training ends. The clock counts training only: the held-out
evaluations after each epoch are the measurement and are left out, equally for all three (the
overfitting guard's checks are part of the fast recipe and are counted). Then each final model
is evaluated on the test split: clean and PGD-20 on all 360 images, PGD-100 and Square (1,000
queries) on the first 100, where Square doing better than PGD-100 beyond PGD-100's 95% interval
would be a gradient-masking signal.

A held-out accuracy of n=144 has a 95% interval of about +-5 points near 90%, so the epoch at
which the target is "reached" is itself uncertain: the script also reports the first epoch whose
interval's upper bound reaches the target (the earliest the target may have been reached). The
goal ratio (``fast`` at least 3x sooner than the textbook loop) is called met only when it holds
against that earliest time of the textbook loop; one seed per method, so the ratio carries no
interval of its own.

    python benchmarks/time_to_robustness.py [--target 90] [--epochs 10] [--max-seconds 1200]
        [--only ours-fast,textbook-pgd7] [--json FILE (default: benchmarks/results/)]

Run it alone (about 40 minutes on 2 cores): another torch process on the same cores slows both
many times over.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _recipes import PGD7_DIGITS, textbook_step  # benchmarks/_recipes.py: the PGD-7 recipe compared
from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

import robnetzoo  # noqa: E402
from robnetzoo.config import build_model  # noqa: E402
from robnetzoo.data import (  # noqa: E402
    VALIDATION_SEED,  # noqa: E402
    load_dataset,
    train_validation_split,
)
from robnetzoo.registry import buildable_config, derive_config  # noqa: E402
from robnetzoo.search.recipes import PRESETS  # noqa: E402
from robnetzoo.search.training import Trainer  # noqa: E402
from robnetzoo.stats import wilson_interval  # noqa: E402

METHODS = ("ours-pgd7", "textbook-pgd7", "ours-fast")
BATCH = 64


def held_out_pgd20(model: torch.nn.Module, validation) -> dict[str, Any]:
    report = robnetzoo.evaluate(model.eval(), validation, attacks=["pgd20"], seed=0)
    correct = report.counts["robust"]["pgd20"]
    return {
        "clean": report.clean_accuracy,
        "pgd20": report.robust_accuracy["pgd20"],
        "interval": wilson_interval(correct, report.n_examples),
        "n": report.n_examples,
    }


class Clock:
    """Training wall time: the time since start, less the measurement's evaluations."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.excluded = 0.0

    def training_seconds(self) -> float:
        return time.perf_counter() - self.began - self.excluded

    def measure(self, work: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            return work()
        finally:
            self.excluded += time.perf_counter() - began


def record_epoch(curve: list[dict[str, Any]], epoch: int, seconds: float, figures: dict[str, Any], name: str) -> None:
    curve.append({"epoch": epoch, "training_seconds": seconds, **figures})
    low, high = figures["interval"]
    print(
        f"  {name:14s} epoch {epoch:2d}  {seconds:7.1f} s  held-out clean {figures['clean']:5.1f}%  "
        f"pgd20 {figures['pgd20']:5.1f}% ({low:.1f}-{high:.1f})",
        flush=True,
    )


def train_ours(name: str, model, recipe, train, validation, target: float, max_seconds: float) -> list[dict[str, Any]]:
    curve: list[dict[str, Any]] = []
    clock = Clock()
    trainer: Trainer

    def on_epoch(entry: dict[str, Any]) -> None:
        seconds = clock.training_seconds()
        figures = clock.measure(lambda: held_out_pgd20(trainer.module, validation))
        record_epoch(curve, entry["epoch"], seconds, figures, name)
        if figures["pgd20"] >= target:
            trainer.request_stop("target reached")
        elif seconds > max_seconds:
            trainer.request_stop("out of time")

    trainer = Trainer(model, recipe, train, None, seed=0, guard=validation, on_epoch=on_epoch)
    trainer.fit()
    return curve


def train_textbook(model, recipe, train, validation, target: float, max_seconds: float) -> list[dict[str, Any]]:
    import torchattacks

    curve: list[dict[str, Any]] = []
    clock = Clock()
    attack = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=7, random_start=True)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr_at(0), momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(train.images, train.labels),
        batch_size=BATCH,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )
    steps = len(loader)
    for epoch in range(recipe.epochs):
        model.train()
        for step, (images, labels) in enumerate(loader):
            textbook_step(model, attack, optimizer, recipe.lr_at(epoch + step / steps), images.float(), labels)
        seconds = clock.training_seconds()
        figures = clock.measure(lambda: held_out_pgd20(model, validation))
        record_epoch(curve, epoch + 1, seconds, figures, "textbook-pgd7")
        if figures["pgd20"] >= target or seconds > max_seconds:
            break
    return curve


def time_to_target(curve: list[dict[str, Any]], target: float) -> dict[str, Any]:
    reached = next((e for e in curve if e["pgd20"] >= target), None)
    earliest = next((e for e in curve if e["interval"][1] >= target), None)
    return {
        "reached": reached is not None,
        "epoch": None if reached is None else reached["epoch"],
        "seconds": None if reached is None else reached["training_seconds"],
        "earliest_epoch": None if earliest is None else earliest["epoch"],
        "earliest_seconds": None if earliest is None else earliest["training_seconds"],
        "trained_seconds": curve[-1]["training_seconds"] if curve else 0.0,
    }


def final_figures(model, test) -> dict[str, Any]:
    whole = robnetzoo.evaluate(model.eval(), test, attacks=["pgd20"], seed=0)
    first = robnetzoo.evaluate(model.eval(), test, attacks=["pgd100", "square"], n_examples=100, seed=0)
    figures = {
        "n": whole.n_examples,
        "clean": whole.clean_accuracy,
        "clean_interval": whole.interval("clean"),
        "pgd20": whole.robust_accuracy["pgd20"],
        "pgd20_interval": whole.interval("pgd20"),
        "n_strong": first.n_examples,
        "pgd100": first.robust_accuracy["pgd100"],
        "pgd100_interval": first.interval("pgd100"),
        "square": first.robust_accuracy["square"],
        "square_interval": first.interval("square"),
    }
    figures["masking_signal"] = figures["square"] < figures["pgd100_interval"][0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=90.0, help="held-out PGD-20 accuracy to reach, %%")
    parser.add_argument("--epochs", type=int, default=10, help="each method's schedule, in epochs")
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="training seconds per method, at most")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--only", help="comma-separated methods (default: all three)")
    parser.add_argument(
        "--json",
        type=Path,
        default=default_path("time_to_robustness"),
        help="raw figures (default: benchmarks/results/)",
    )
    args = parser.parse_args()
    methods = [m.strip() for m in args.only.split(",")] if args.only else list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; the methods are {', '.join(METHODS)}")

    full = load_dataset("digits", "train")
    test = load_dataset("digits", "test")
    recipes = {
        "ours-pgd7": PGD7_DIGITS.with_overrides(epochs=args.epochs, batch_size=BATCH),
        "textbook-pgd7": PGD7_DIGITS.with_overrides(epochs=args.epochs, batch_size=BATCH),
        "ours-fast": PRESETS["fast"].with_overrides(dataset="digits", epochs=args.epochs, batch_size=BATCH),
    }
    held = recipes["ours-fast"].held_out(len(full))
    assert all(r.held_out(len(full)) == held for r in recipes.values()), "one held-out part for all"
    train, validation = train_validation_split(full, held, seed=VALIDATION_SEED)
    config = derive_config(
        buildable_config("robnet-large"), dataset="digits", C=args.width, layers=args.layers, num_classes=10
    )
    torch.manual_seed(0)
    initial = build_model(config).state_dict()
    print(
        f"{config.name} on digits: {len(train)} train / {len(validation)} held out / {len(test)} test; "
        f"target held-out PGD-20 {args.target:.0f}%, {torch.get_num_threads()} threads",
        flush=True,
    )

    results: dict[str, Any] = {
        "model": config.name,
        "target": args.target,
        "epochs": args.epochs,
        "max_seconds": args.max_seconds,
        "split": [len(train), len(validation), len(test)],
        "recipes": {m: recipes[m].describe() for m in methods},
        "methods": {},
    }
    for method in methods:
        model = build_model(config)
        model.load_state_dict(initial)
        if method == "textbook-pgd7":
            curve = train_textbook(model, recipes[method], train, validation, args.target, args.max_seconds)
        else:
            curve = train_ours(method, model, recipes[method], train, validation, args.target, args.max_seconds)
        results["methods"][method] = {
            "curve": curve,
            "time_to_target": time_to_target(curve, args.target),
            "final": final_figures(model, test),
        }
        if args.json:
            write(args.json, results)  # after each method: a run cut short keeps what it had

    print(f"\ntime to held-out PGD-20 >= {args.target:.0f}% (training seconds; held-out n={len(validation)})")
    print(
        f"{'method':16}{'reached':>9}{'epoch':>7}{'seconds':>9}{'earliest':>10}  test (n=360 / 100): clean, PGD-20, "
        "PGD-100, Square"
    )
    for method, r in results["methods"].items():
        t, f = r["time_to_target"], r["final"]
        seconds = f"{t['seconds']:.0f}" if t["reached"] else f">{t['trained_seconds']:.0f}"
        earliest = f"{t['earliest_seconds']:.0f}" if t["earliest_seconds"] is not None else "—"
        print(
            f"{method:16}{'yes' if t['reached'] else 'no':>9}{t['epoch'] or '—':>7}{seconds:>9}{earliest:>10}  "
            f"{f['clean']:.1f}, {f['pgd20']:.1f} ({f['pgd20_interval'][0]:.1f}-{f['pgd20_interval'][1]:.1f}), "
            f"{f['pgd100']:.0f}, {f['square']:.0f}{'  MASKING SIGNAL' if f['masking_signal'] else ''}"
        )
    ratios = ratios_of(results["methods"])
    results["ratios"] = ratios
    for line in ratios.get("lines", []):
        print(line)
    if args.json:
        write(args.json, results)


def ratios_of(methods: dict[str, Any]) -> dict[str, Any]:
    """Each method's time against the textbook loop's, and the goal's verdict."""
    if "textbook-pgd7" not in methods:
        return {}
    text = methods["textbook-pgd7"]["time_to_target"]
    out: dict[str, Any] = {"lines": []}
    for method, r in methods.items():
        if method == "textbook-pgd7":
            continue
        own = r["time_to_target"]
        if not own["reached"]:
            out[method] = {"ratio": None, "verdict": "cannot decide: it never reached the target"}
        elif not text["reached"]:
            lower = text["trained_seconds"] / own["seconds"]
            out[method] = {
                "ratio_at_least": lower,
                "verdict": f"at least {lower:.2f}x (the textbook loop never reached the target)",
            }
        else:
            ratio = text["seconds"] / own["seconds"]
            against_earliest = text["earliest_seconds"] / own["seconds"]
            out[method] = {"ratio": ratio, "ratio_against_earliest": against_earliest}
            if method == "ours-fast":
                out[method]["goal_3x"] = (
                    "met" if against_earliest >= 3 else ("not met" if ratio < 3 else "cannot decide")
                )
            out[method]["verdict"] = (
                f"{ratio:.2f}x sooner ({against_earliest:.2f}x against the textbook loop's earliest)"
            )
        out["lines"].append(
            f"{method} vs textbook-pgd7: {out[method]['verdict']}"
            + (f"; 3x goal {out[method]['goal_3x']}" if "goal_3x" in out[method] else "")
        )
    return out


if __name__ == "__main__":
    main()
