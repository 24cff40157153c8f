"""The paper-scale costs measured: seconds per image forward+backward pass of the paper
search's supernet and of full-size robnet-large under the paper's training recipe.

Both run the real engine (``robnetzoo.search.training.Trainer``: the recipe's PGD-7 crafted in
train mode, its augmentation, its optimiser; channels_last and bf16 autocast on CUDA) on
synthetic images written in CIFAR-10's on-disk format and read back by the CIFAR-10 reader, so
the data path is the one a real run takes. Each part takes a few warm-up steps (allocations,
cuDNN's algorithm search), then times up to ``--steps`` steps or ``--seconds`` seconds,
whichever ends first, and reports seconds per step and per pass, the unit of
``robnetzoo search --plan`` (PGD-7: 8 passes per image, the 7 attack steps and the training
step):

1. the ``paper`` search preset's supernet: C=24, 20 cells, both spaces, its batch, path
   dropout before every batch, as ``robnetzoo search --preset paper`` trains it;
2. robnet-large at full size under the ``paper`` training recipe, at ``--train-batch``.

The JSON it writes is what ``robnetzoo search --preset paper --plan --timings FILE`` reads to
give measured hours in place of its own three-step estimate; the script also prints the paper
search's and the paper recipe's hours at the measured rates.

    python benchmarks/paper_scale.py [--device cuda] [--steps 200] [--seconds 60] [--train-batch 256]
        [--supernet-batch N] [--skip-training] [--smoke] [--json FILE (default: benchmarks/results/)]

A copy of a run's file in ``search/pass_rates/`` is a rate ``robnetzoo search --plan`` ships
with and prices every plan at (CPU: ``--device cpu --supernet-batch 8 --warmup 1 --skip-training``).

``--smoke`` shrinks both parts (width 4, 3 cells, batch 4, 2 timed steps) to check the script
runs end to end (``tools/gpu_check.py --tiny``); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo import distributed  # noqa: E402
from robnetzoo.config import build_model  # noqa: E402
from robnetzoo.data import load_dataset, write_synthetic_cifar10  # noqa: E402
from robnetzoo.registry import buildable_config, derive_config  # noqa: E402
from robnetzoo.search.plan import TRAIN_SIZES, attack_passes, work_of  # noqa: E402
from robnetzoo.search.recipes import PRESETS as RECIPES  # noqa: E402
from robnetzoo.search.sampling import PathDropout  # noqa: E402
from robnetzoo.search.settings import PRESETS as SEARCHES  # noqa: E402
from robnetzoo.search.supernet import Supernet  # noqa: E402
from robnetzoo.search.training import Trainer  # noqa: E402

WARMUP_STEPS = 3
FORMAT = "robnetzoo-paper-scale-timings"


def time_steps(trainer: Trainer, steps: int, seconds: float, warmup: int = WARMUP_STEPS) -> dict[str, Any]:
    """Warm-up steps, then up to ``steps`` timed training steps or ``seconds``, whichever ends first."""
    order = distributed.epoch_order(len(trainer.train_data), 0, 0, distributed.Context(), drop_last=True)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    per_epoch = trainer.steps_per_epoch
    timed = 0
    began = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            sync()
            began = time.perf_counter()
        trainer.step = step
        trainer.train_step(*trainer._batch(order, step % per_epoch))
        if step >= warmup:
            timed += 1
            if time.perf_counter() - began > seconds:
                break
    sync()
    elapsed = time.perf_counter() - began
    passes = attack_passes(trainer.recipe.attack, trainer.recipe.attack_params)
    images = timed * trainer.local_batch
    return {
        "batch": trainer.local_batch,
        "attack": trainer.recipe.attack,
        "passes_per_image": passes,
        "warmup_steps": warmup,
        "timed_steps": timed,
        "seconds": elapsed,
        "seconds_per_step": elapsed / timed,
        "images_per_second": images / elapsed,
        "seconds_per_pass": elapsed / (images * passes),
        "precision": "bf16 autocast" if trainer.autocast else "fp32",
        "channels_last": trainer.channels_last,
        "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if trainer.device.type == "cuda" else None,
    }


def supernet_part(
    train, device: torch.device, steps: int, seconds: float, smoke: bool, batch: int | None = None, warmup: int = 3
) -> dict[str, Any]:
    settings = SEARCHES["paper"]
    if smoke:
        settings = settings.with_overrides(width=4, layers=3)
    recipe = settings.supernet_recipe
    if smoke or batch is not None:
        recipe = recipe.with_overrides(batch_size=4 if smoke else batch)
    torch.manual_seed(0)
    model = Supernet(settings.width, settings.layers, 10, space=settings.space)
    trainer = Trainer(
        model,
        recipe,
        train,
        None,
        device=device,
        seed=0,
        before_batch=PathDropout(space=settings.space, layers=settings.layers, by=settings.sampler),
    )
    figures = time_steps(trainer, steps, seconds, warmup)
    plan = work_of(settings.with_overrides(supernet=recipe))
    passes = sum(phase["passes"] for phase in plan)
    return {
        "preset": "paper",
        "width": settings.width,
        "layers": settings.layers,
        "space": settings.space,
        "dataset": settings.dataset,
        "input_size": 32,
        **figures,
        "search_passes": passes,
        "search_hours": passes * figures["seconds_per_pass"] / 3600,
        "phase_hours": {p["phase"]: p["passes"] * figures["seconds_per_pass"] / 3600 for p in plan},
    }


def training_part(train, device: torch.device, steps: int, seconds: float, batch: int, smoke: bool) -> dict[str, Any]:
    recipe = RECIPES["paper"].with_overrides(batch_size=batch)
    config = buildable_config("robnet-large")
    if smoke:
        config = derive_config(config, C=4, layers=3)
    torch.manual_seed(0)
    trainer = Trainer(build_model(config), recipe, train, None, device=device, seed=0)
    figures = time_steps(trainer, steps, seconds)
    images = TRAIN_SIZES["cifar10"] - recipe.held_out(TRAIN_SIZES["cifar10"])
    passes = recipe.epochs * images * figures["passes_per_image"]
    return {
        "model": config.name,
        "recipe": recipe.name,
        **figures,
        "epochs": recipe.epochs,
        "train_images": images,
        "recipe_hours": passes * figures["seconds_per_pass"] / 3600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per part, at most")
    parser.add_argument("--seconds", type=float, default=60.0, help="timed seconds per part, at most")
    parser.add_argument("--train-batch", type=int, default=256, help="robnet-large's training batch")
    parser.add_argument("--warmup", type=int, default=WARMUP_STEPS, help="untimed steps before the timed ones")
    parser.add_argument(
        "--supernet-batch", type=int, help="the supernet's batch (default: the paper's; a CPU times a smaller one)"
    )
    parser.add_argument("--skip-training", action="store_true", help="time the supernet only")
    parser.add_argument(
        "--smoke", action="store_true", help="smallest sizes: checks the script runs; figures mean nothing"
    )
    parser.add_argument(
        "--json", type=Path, default=default_path("paper_scale"), help="raw figures (default: benchmarks/results/)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.train_batch = 2, 4
    device = torch.device(args.device)
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        from robnetzoo.export.host import cpu

        where = f"cpu: {cpu()['name']} ({torch.get_num_threads()} threads)"
    with tempfile.TemporaryDirectory() as tmp:
        per_file = 8 if args.smoke else 2000  # CIFAR-10 has five training batch files
        root = write_synthetic_cifar10(Path(tmp), per_file, 8)
        train = load_dataset("cifar10", "train", root)
        figures: dict[str, Any] = {
            "format": FORMAT,
            "device": where,
            "smoke": args.smoke,
            "data": f"synthetic CIFAR-10 files, {len(train)} training images",
        }
        figures["supernet"] = supernet_part(
            train, device, args.steps, args.seconds, args.smoke, args.supernet_batch, args.warmup
        )
        s = figures["supernet"]
        print(
            f"supernet C={s['width']}, {s['layers']} cells, batch {s['batch']}, {s['attack']}, {s['precision']} on "
            f"{where}: "
            f"{s['seconds_per_step']:.3f} s/step over {s['timed_steps']} steps, {s['seconds_per_pass'] * 1e3:.3f} "
            "ms/pass; "
            f"the paper search ({s['search_passes'] / 1e6:,.0f}M passes) would take {s['search_hours']:,.1f} h",
            flush=True,
        )
        if not args.skip_training:
            figures["training"] = training_part(train, device, args.steps, args.seconds, args.train_batch, args.smoke)
            t = figures["training"]
            print(
                f"{t['model']} under the {t['recipe']} recipe, batch {t['batch']}, {t['precision']}: "
                f"{t['seconds_per_step']:.3f} s/step over {t['timed_steps']} steps, {t['images_per_second']:.0f} "
                "img/s; "
                f"{t['epochs']} epochs of {t['train_images']:,} images would take {t['recipe_hours']:,.1f} h",
                flush=True,
            )
    if args.json:
        write(args.json, figures)


if __name__ == "__main__":
    main()
