"""Make the zoo's packaged demo model, ``robnet-digits``, from a fixed seed and recipe.

The model is the registry's ``robnet-digits`` entry (RobNet-large's cell at C=8, 5 cells),
trained by the one training engine with the ``demo`` recipe (FGSM from a random start at Linf
8/255, the best epoch chosen on held-out training images) on the built-in digits, seed 0, one
torch thread. It is then evaluated on the whole test split (clean and PGD-20), and the Hub
folder's ``config.json`` and ``model.safetensors`` are copied into
``robnetzoo/_data/models/robnet-digits/`` beside ``measured.json``: each metric's accuracy, its
95% Wilson interval and n, the weights' fingerprint, and the machine and torch that made them.

    python tools/make_demo_model.py            # train, evaluate, write the packaged folder
    python tools/make_demo_model.py --check    # train again; compare with the packaged weights

``--check`` trains into a scratch folder and says whether the weights' fingerprint equals the
packaged one. On another CPU or torch version it need not: a convolution's sums may be added
in another order (a different kernel), and the difference grows over training. It then says
which of the two differs.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAME = "robnet-digits"
SEED = 0
RECIPE = "demo"
ATTACKS = ["pgd20"]


def make(output: Path) -> dict:
    """Train and evaluate the model into the run folder ``output``; its measured figures."""
    import torch

    from robnetzoo.export.host import cpu
    from robnetzoo.search.recipes import resolve_recipe
    from robnetzoo.search.runs import train_run
    from robnetzoo.weights import weights_fingerprint

    torch.set_num_threads(1)  # one thread: the order of a sum, so the weights, repeat on this CPU
    recipe = resolve_recipe(RECIPE, dataset="digits")
    result = train_run(NAME, dataset="digits", recipe=recipe, output=output, seed=SEED, eval_attacks=ATTACKS)
    report = result.report
    assert report is not None
    from robnetzoo.hub import load_folder

    model = load_folder(output)
    metrics = {}
    for metric, value in [("clean", report.clean_accuracy), *report.robust_accuracy.items()]:
        low, high = report.interval(metric)
        metrics[metric] = {"accuracy": value, "interval_95": [low, high], "n": report.n_examples}
    host = cpu()
    return {
        "model": NAME,
        "dataset": "digits",
        "split": "test",
        "threat_model": report.threat_model,
        "metrics": metrics,
        "fingerprint": weights_fingerprint(model),
        "made_by": {
            "command": "python tools/make_demo_model.py",
            "recipe": recipe.to_dict(),
            "seed": SEED,
            "best_epoch": (result.best or {}).get("epoch"),
            "cpu": host["name"],
            "isa": host["flags"],
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": 1,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="train again and compare with the packaged weights")
    parser.add_argument("--packaged", type=Path, help="the packaged folder (default: the registry's)")
    args = parser.parse_args()
    from robnetzoo.registry import MEASURED_NAME, get_entry

    folder = args.packaged or get_entry(NAME).packaged_dir
    assert folder is not None
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run"
        measured = make(run)
        if args.check:
            shipped = json.loads((folder / MEASURED_NAME).read_text())
            same = measured["fingerprint"] == shipped["fingerprint"]
            print(
                f"{NAME}: fingerprint {measured['fingerprint']} {'equals' if same else 'differs from'} "
                f"the packaged {shipped['fingerprint']}"
            )
            if not same:
                made, here = shipped["made_by"], measured["made_by"]
                apart = [k for k in ("cpu", "isa", "torch") if made[k] != here[k]]
                print("  made on another " + ", ".join(apart) if apart else "  made on this CPU and torch: a bug")
            raise SystemExit(0 if same else 1)
        folder.mkdir(parents=True, exist_ok=True)
        from robnetzoo.hub import CONFIG_NAME, WEIGHTS_NAME

        for name in (CONFIG_NAME, WEIGHTS_NAME):
            shutil.copyfile(run / name, folder / name)
        (folder / MEASURED_NAME).write_text(json.dumps(measured, indent=1) + "\n")
    figures = ", ".join(f"{k} {v['accuracy']:.1f}% (n={v['n']})" for k, v in measured["metrics"].items())
    print(f"wrote {folder}: {figures}; fingerprint {measured['fingerprint']}")


if __name__ == "__main__":
    main()
