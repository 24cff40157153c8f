"""Which recipe the ``demo`` preset should be: the one whose whole ``robnetzoo train`` run (training,
per-epoch held-out validation, the final test evaluation) reaches the highest held-out PGD-20
accuracy within about 5 minutes on the machine it runs on.

Each candidate trains robnet-large at width 8, 5 cells on the built-in digits with batch 64,
seed 0, through ``robnetzoo.search.runs.train_run`` (what ``robnetzoo train`` runs), into a
temporary folder, timed as a whole. A candidate is eligible when its run took at most
``--budget`` seconds (330: "about 5 minutes"); the chosen one has the highest held-out PGD-20
accuracy of its best epoch among the eligible. Held-out n=144, so two candidates whose
intervals overlap are not told apart: the script says so beside its choice.
Test figures (n=360) are printed beside, never used to choose.

    python benchmarks/demo_choice.py [--budget 330] [--json FILE (default: benchmarks/results/)]

Run it alone (about 20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _recipes import PGD7_DIGITS  # benchmarks/_recipes.py: the PGD-7 recipe compared
from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo.search.recipes import PRESETS  # noqa: E402
from robnetzoo.search.runs import train_run  # noqa: E402
from robnetzoo.stats import wilson_interval  # noqa: E402

CANDIDATES = {
    "pgd7, 2 epochs": PGD7_DIGITS.with_overrides(epochs=2),
    "pgd7, 3 epochs": PGD7_DIGITS.with_overrides(epochs=3),
    "fast, 6 epochs": PRESETS["fast"].with_overrides(dataset="digits", epochs=6, batch_size=64),
    "fast, 8 epochs": PRESETS["fast"].with_overrides(dataset="digits", epochs=8, batch_size=64),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=330.0, help="seconds a demo run may take")
    parser.add_argument("--only", help="comma-separated candidate names")
    parser.add_argument(
        "--json", type=Path, default=default_path("demo_choice"), help="raw figures (default: benchmarks/results/)"
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(";")] if args.only else list(CANDIDATES)
    rows: dict[str, Any] = {}
    for name in names:
        recipe = CANDIDATES[name]
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            result = train_run(
                "robnet-large",
                dataset="digits",
                recipe=recipe,
                output=Path(tmp) / "run",
                width=8,
                layers=5,
                seed=0,
                device="cpu",
            )
            seconds = time.perf_counter() - began
            n_val = json.loads((result.path / "run.json").read_text())["data"]["validation"]  # the run's own split
        best, report = result.best or {}, result.report
        robust = best.get("robust")
        rows[name] = {
            "recipe": recipe.describe(),
            "seconds": seconds,
            "epochs_run": len(result.history),
            "held_out_pgd20": robust,
            "held_out_n": n_val,
            "held_out_interval": wilson_interval(round(robust * n_val / 100), n_val) if robust is not None else None,
            "test": {
                "n": report.n_examples,
                "clean": report.clean_accuracy,
                "pgd20": report.robust_accuracy.get("pgd20"),
                "pgd20_interval": report.interval("pgd20"),
            },
            "eligible": seconds <= args.budget,
        }
        r = rows[name]
        print(
            f"{name:16s} {seconds:6.0f} s  held-out pgd20 {robust:.1f}%  test clean {r['test']['clean']:.1f}% "
            f"pgd20 {r['test']['pgd20']:.1f}%  {'eligible' if r['eligible'] else 'over budget'}",
            flush=True,
        )
        if args.json:
            write(args.json, {"budget": args.budget, "candidates": rows})
    eligible = {n: r for n, r in rows.items() if r["eligible"] and r["held_out_pgd20"] is not None}
    choice: dict[str, Any] = {"chosen": None}
    if eligible:
        best_name = max(eligible, key=lambda n: (eligible[n]["held_out_pgd20"], -eligible[n]["seconds"]))
        low = eligible[best_name]["held_out_interval"][0]
        tied = [n for n, r in eligible.items() if n != best_name and r["held_out_interval"][1] >= low]
        choice = {"chosen": best_name, "not_told_apart": tied}
        print(
            f"highest held-out PGD-20 within {args.budget:.0f} s: {best_name}"
            + (f"; not told apart from {', '.join(tied)} (overlapping 95% intervals, n={n_val})" if tied else "")
        )
    else:
        print(f"no candidate ran within {args.budget:.0f} s")
    if args.json:
        write(args.json, {"budget": args.budget, "candidates": rows, "choice": choice})


if __name__ == "__main__":
    main()
