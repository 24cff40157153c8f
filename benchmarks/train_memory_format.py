"""The training step in NCHW against channels_last on the CPU, same run, same weights.

Why the engine (``robnetzoo.search.training.Trainer``) trains channels_last on the CPU only in
a one-thread process (``default_channels_last``). This measures the from-scratch trainings the
search-vs-random and discrimination benchmarks run (``benchmarks/_arms.py``: the ``demo``
recipe, FGSM from a random start, 5 cells, batch 64; width 4 and one torch thread as their
workers use, unless ``--width`` and ``--threads`` say otherwise): RobNets with a random cell of
each band's size (4, 9 and 13 convolutions) and the published robnet-large cell, and WRN-10-1,
the hand-designed baseline. For each model and each of ``--rounds`` rounds, NCHW and
channels_last take turns: a trainer built from the same starting weights, one warm-up step,
then ``--steps`` timed steps on the same batches. Figures: the median seconds per step of each
format over the rounds, their ratio, and how far the two formats' logits on one batch are apart
before training (float rounding, not a different model).

    python benchmarks/train_memory_format.py [--rounds 3] [--steps 8] [--threads 1] [--width 4]
        [--json FILE (default: benchmarks/results/)]

Run it alone: another torch process on the same cores slows both many times over.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from _arms import scratch_recipe  # benchmarks/_arms.py: the one recipe the benchmarks train from scratch with
from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo import distributed  # noqa: E402
from robnetzoo.config import build_model  # noqa: E402
from robnetzoo.data import load_dataset  # noqa: E402
from robnetzoo.genotype import Genotype  # noqa: E402
from robnetzoo.registry import ROBNET_LARGE_CELL  # noqa: E402
from robnetzoo.search.runs import model_config_for  # noqa: E402
from robnetzoo.search.sampling import cell_with_convs  # noqa: E402
from robnetzoo.search.training import Trainer  # noqa: E402
from robnetzoo.threat import ThreatModel  # noqa: E402

WIDTH, LAYERS = 4, 5  # the demo search's, at which the benchmarks train from scratch


def models(folder: Path, smoke: bool) -> dict[str, str]:
    """Name -> what ``model_config_for`` builds: genotype files, and the registry's WRN-10-1."""
    cells = {f"robnet, random {k}-conv cell": cell_with_convs(torch.Generator().manual_seed(k), k) for k in (4, 9, 13)}
    cells["robnet, published robnet-large cell"] = Genotype.from_codes(ROBNET_LARGE_CELL).cells[0]
    if smoke:
        cells = dict(list(cells.items())[:1])
    named = {}
    for i, (name, cell) in enumerate(cells.items()):
        path = folder / f"cell{i}.json"
        path.write_text(Genotype((cell,)).dumps())
        named[name] = str(path)
    named["wrn-10-1"] = "wrn-10-1"
    return named


def seconds_per_step(model: torch.nn.Module, recipe, data, channels_last: bool, steps: int) -> float:
    trainer = Trainer(copy.deepcopy(model), recipe, data, None, device="cpu", seed=0, channels_last=channels_last)
    order = distributed.epoch_order(len(data), 0, 0, distributed.Context(), drop_last=True)
    timings = []
    for step in range(steps + 1):  # the first is warm-up (allocations)
        images, labels = trainer._batch(order, step % trainer.steps_per_epoch)
        begin = time.perf_counter()
        trainer.train_step(images, labels)
        timings.append(time.perf_counter() - begin)
    return sum(timings[1:]) / steps


def logit_gap(model: torch.nn.Module, images: torch.Tensor) -> float:
    """The largest absolute difference between the two formats' logits (eval mode, same weights)."""
    nchw = copy.deepcopy(model).eval()
    fast = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    with torch.no_grad():
        return float((nchw(images) - fast(images.contiguous(memory_format=torch.channels_last))).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per trainer (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the benchmarks' workers use one)")
    parser.add_argument("--width", type=int, default=WIDTH, help="RobNet width C (the demo's: 4)")
    parser.add_argument("--smoke", action="store_true", help="one RobNet, 1 round of 1 step: checks the script runs")
    parser.add_argument("--json", type=Path, default=default_path("train_memory_format"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.smoke:
        args.rounds, args.steps = 1, 1
    recipe = scratch_recipe("digits", ThreatModel("Linf", 8 / 255), epochs=5)
    data = load_dataset("digits", "train")
    rows = {}
    print(f"training step, demo recipe (FGSM-RS), batch {recipe.batch_size}, {args.threads} thread(s):")
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in models(Path(tmp), args.smoke).items():
            size = {} if spec == "wrn-10-1" else {"width": args.width, "layers": LAYERS}
            config = model_config_for(spec, "digits", recipe=recipe, **size)
            torch.manual_seed(0)
            model = build_model(config)
            times: dict[str, list[float]] = {"nchw": [], "channels_last": []}
            for _ in range(args.rounds):
                times["nchw"].append(seconds_per_step(model, recipe, data, False, args.steps))
                times["channels_last"].append(seconds_per_step(model, recipe, data, True, args.steps))
            nchw, last = statistics.median(times["nchw"]), statistics.median(times["channels_last"])
            gap = logit_gap(model, torch.stack([data[i][0] for i in range(64)]))
            rows[name] = {
                "seconds_per_step": times,
                "median": {"nchw": nchw, "channels_last": last},
                "ratio": nchw / last,
                "max_logit_gap": gap,
                "parameters": sum(p.numel() for p in model.parameters()),
            }
            print(
                f"  {name:38s} NCHW {nchw:6.3f} s/step  channels_last {last:6.3f} s/step  x{nchw / last:.2f}"
                f"  (logits apart by {gap:.1e})"
            )
    write(
        args.json,
        {
            "recipe": recipe.name,
            "batch": recipe.batch_size,
            "width": args.width,
            "layers": LAYERS,
            "rounds": args.rounds,
            "steps": args.steps,
            "smoke": args.smoke,
            "models": rows,
        },
    )


if __name__ == "__main__":
    main()
