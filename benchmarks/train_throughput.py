"""PGD-7 adversarial-training throughput: robnetzoo's engine versus a textbook loop, same run.

The textbook loop is what most papers' code does: a ``DataLoader`` over the training tensors,
``torchattacks.PGD`` (eps 8/255, alpha 2/255, 7 steps, random start; set to craft in training
mode, as the RobNets authors did and as our PGD-7 recipe does) and an SGD step. Ours is
``robnetzoo.search.training.Trainer`` running that PGD-7 recipe (``benchmarks/_recipes.py``). Both start from the same
weights, see the same batches in the same order and follow the same per-step lr, so the robust
accuracies printed beside the speeds say the speed was not bought with a weaker attack.

Part A: a digits RobNet (C=8, 5 cells), one epoch each, then PGD-20 robust accuracy of both on
the digits test split (``robnetzoo.evaluate``). Part B: full-size robnet-large at batch 32
(``--large-batch``), seconds per training step (no accuracy: an untrained model). On CUDA ours
runs channels_last under bf16 autocast (the engine's default there), the textbook loop fp32.
``--smoke`` shrinks everything (width 4, 3 cells, 16 training and 4 test images) to check the
script runs end to end (``tools/gpu_check.py --tiny``); its figures mean nothing.

    python benchmarks/train_throughput.py [--device cuda] [--large-steps 2] [--large-batch 32] [--smoke]
        [--json FILE (default: benchmarks/results/)]

Run it alone: another torch process on the same cores slows both many times over.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _recipes import PGD7_DIGITS, textbook_step  # benchmarks/_recipes.py: the PGD-7 recipe compared
from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

import robnetzoo  # noqa: E402
from robnetzoo import distributed  # noqa: E402
from robnetzoo.config import build_model  # noqa: E402
from robnetzoo.data import load_dataset  # noqa: E402
from robnetzoo.registry import buildable_config, derive_config  # noqa: E402
from robnetzoo.search.training import Trainer  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def textbook_epoch(model, data, order, recipe, device, steps=None):
    """The textbook loop: DataLoader batches, torchattacks PGD in train mode, SGD."""
    import torchattacks

    model.to(device).train()
    attack = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=7, random_start=True)
    # batchnorm_training=True matters: with model_training=True alone torchattacks still puts
    # BatchNorm in eval mode for the attack (a cheaper, different attack than the authors' one).
    attack.set_model_training_mode(model_training=True, batchnorm_training=True)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr_at(0), momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    dataset = torch.utils.data.TensorDataset(data.images, data.labels)
    batches = [
        order[i : i + recipe.batch_size] for i in range(0, len(order) - recipe.batch_size + 1, recipe.batch_size)
    ]
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches)
    steps = len(batches) if steps is None else steps
    images_seen, begin = 0, None
    for step, (images, labels) in enumerate(loader):
        if step == steps:
            break
        if step == 1:  # the first step is warm-up (allocations), as for ours
            sync(device)
            begin, images_seen = time.perf_counter(), 0
        images, labels = images.float().to(device), labels.to(device)
        textbook_step(model, attack, optimizer, recipe.lr_at(step / len(batches)), images, labels)
        images_seen += len(labels)
    sync(device)
    return images_seen / (time.perf_counter() - begin)


def ours_epoch(model, data, recipe, device, steps=None):
    trainer = Trainer(model, recipe, data, None, device=device, seed=0)
    order = distributed.epoch_order(len(data), 0, 0, distributed.Context(), drop_last=True)
    steps = trainer.steps_per_epoch if steps is None else steps
    images_seen, begin = 0, None
    for step in range(steps):
        if step == 1:
            sync(device)
            begin, images_seen = time.perf_counter(), 0
        for group in trainer.optimizer.param_groups:
            group["lr"] = trainer.lr_at(0, step)
        trainer.step = step
        images, labels = trainer._batch(order, step)
        trainer.train_step(images, labels)
        images_seen += len(labels)
    sync(device)
    return images_seen / (time.perf_counter() - begin), order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--large-steps", type=int, default=2, help="timed robnet-large steps (after 1 warm-up)")
    parser.add_argument("--large-batch", type=int, default=32)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help="smallest sizes: checks the script runs; figures mean nothing"
    )
    parser.add_argument(
        "--json", type=Path, default=default_path("train_throughput"), help="raw figures (default: benchmarks/results/)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    results: dict = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "smoke": args.smoke,
    }
    small = {"C": 4, "layers": 3} if args.smoke else {}
    if args.smoke:
        args.large_steps, args.large_batch = 1, 4

    # Part A: a digits RobNet, one epoch each, then robust accuracy.
    recipe = PGD7_DIGITS.with_overrides(epochs=1, batch_size=8 if args.smoke else None)
    data = load_dataset("digits", "train")
    test = load_dataset("digits", "test")
    if args.smoke:
        data, test = data.head(16), test.head(4)
    config = derive_config(
        buildable_config("robnet-large"), dataset="digits", num_classes=10, **({"C": 8, "layers": 5} | small)
    )
    torch.manual_seed(0)
    ours_model = build_model(config)
    textbook_model = build_model(config)
    textbook_model.load_state_dict(ours_model.state_dict())
    ours_rate, order = ours_epoch(ours_model, data, recipe, device)
    textbook_rate = textbook_epoch(textbook_model, data, order, recipe, device)
    accuracy = {}
    for name, model in (("ours", ours_model), ("textbook", textbook_model)):
        report = robnetzoo.evaluate(model.eval(), test, attacks=["pgd20"], device=device, seed=0)
        accuracy[name] = {"clean": report.clean_accuracy, "pgd20": report.robust_accuracy["pgd20"]}
    results["digits"] = {
        "model": config.name,
        "batch": recipe.batch_size,
        "images_per_second": {"ours": ours_rate, "textbook": textbook_rate},
        "ratio": ours_rate / textbook_rate,
        "test_accuracy_after_one_epoch": accuracy,
    }
    print(f"digits {config.name}, batch {recipe.batch_size}, PGD-7 training, one epoch on {device}:")
    print(
        f"  ours     {ours_rate:7.1f} img/s   clean {accuracy['ours']['clean']:.1f}%  pgd20 "
        f"{accuracy['ours']['pgd20']:.1f}%"
    )
    print(
        f"  textbook {textbook_rate:7.1f} img/s   clean {accuracy['textbook']['clean']:.1f}%  pgd20 "
        f"{accuracy['textbook']['pgd20']:.1f}%"
    )
    print(f"  ratio    {ours_rate / textbook_rate:.2f}x")

    # Part B: full-size robnet-large, batch 32: per-step speed only.
    if not args.skip_large:
        large = PGD7_DIGITS.with_overrides(batch_size=args.large_batch, epochs=1)
        config = buildable_config("robnet-large")
        if small:
            config = derive_config(config, **small)
        torch.manual_seed(0)
        a = build_model(config)
        b = build_model(config)
        b.load_state_dict(a.state_dict())
        steps = args.large_steps + 1
        ours_rate, order = ours_epoch(a, data, large, device, steps=steps)
        textbook_rate = textbook_epoch(b, data, order, large, device, steps=steps)
        results["robnet-large"] = {
            "batch": args.large_batch,
            "overrides": small,
            "timed_steps": args.large_steps,
            "images_per_second": {"ours": ours_rate, "textbook": textbook_rate},
            "ratio": ours_rate / textbook_rate,
        }
        print(
            f"robnet-large ({small or 'full size'}), batch {args.large_batch}, {args.large_steps} timed PGD-7 "
            f"training steps on {device}:"
        )
        print(
            f"  ours {ours_rate:.2f} img/s, textbook {textbook_rate:.2f} img/s, ratio {ours_rate / textbook_rate:.2f}x"
        )
    if args.json:
        write(args.json, results)


if __name__ == "__main__":
    main()
