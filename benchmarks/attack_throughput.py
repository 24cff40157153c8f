"""PGD-20 throughput: robnetzoo versus torchattacks and a plain reference loop, in one run.

Part A, robnet-large (untrained here): per-step attack throughput on one fixed batch, every
method running every step on every image (no early stopping), so the ratio isolates the
per-step cost: BN folding and channels_last versus the same model as torchattacks sees it.

Part B, a small RobNet trained on the built-in digits: the whole PGD-20 robust-accuracy
evaluation of the test set, where robnetzoo.evaluate also skips clean-misclassified examples
and stops attacking an example once it is broken. Robust accuracies are printed beside the
speeds: ours must be equal or lower (stronger), never bought with a weaker attack.

On CUDA, Part A adds our attack under bf16 autocast (``precision="bf16"``) beside fp32.
``--smoke`` shrinks everything (a 3-cell, width-4 model; 32 training and 4 test images) to
check the script runs end to end (``tools/gpu_check.py --tiny``); its figures mean nothing.

    python benchmarks/attack_throughput.py [--device cuda] [--batch 32] [--smoke]
        [--json FILE (default: benchmarks/results/)]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

import robnetzoo  # noqa: E402
from robnetzoo import attacks  # noqa: E402
from robnetzoo.data import load_dataset  # noqa: E402
from robnetzoo.fast import prepare_for_attack  # noqa: E402

EPS, ALPHA, STEPS = 8 / 255, 2 / 255, 20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference_pgd(model, images, labels, eps, alpha, steps, generator):
    """The authors' style: random start, CE loss, loss.backward(), signed step, project."""
    noise = torch.rand(images.shape, generator=generator, device=images.device) * 2 - 1
    adversarial = torch.clamp(images + noise * eps, 0, 1)
    for _ in range(steps):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(model(adversarial), labels)
        model.zero_grad()
        loss.backward()
        step = adversarial.detach() + alpha * adversarial.grad.sign()
        adversarial = torch.clamp(images + torch.clamp(step - images, -eps, eps), 0, 1).detach()
    return adversarial


def timed(fn, device, repeats=1):
    fn()  # warm-up (and first-call allocations)
    sync(device)
    begin = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - begin) / repeats


def part_a(device, batch, steps, repeats, sizes):
    import torchattacks

    torch.manual_seed(0)
    model = robnetzoo.create_model("robnet-large", **sizes).to(device).eval()
    images = torch.rand(batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    fast = prepare_for_attack(model, device).module
    ours = attacks.build("pgd", fast, eps=EPS, alpha=ALPHA, steps=steps)
    ours_plain = attacks.build("pgd", model, eps=EPS, alpha=ALPHA, steps=steps)
    theirs = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=steps, random_start=True)
    generator = torch.Generator(device=device).manual_seed(0)
    channels_last = images.contiguous(memory_format=torch.channels_last)
    results = {
        "robnetzoo": timed(lambda: ours.run(channels_last, labels, early_stop=False), device, repeats),
    }
    if device.type == "cuda":
        ours_bf16 = attacks.build("pgd", fast, eps=EPS, alpha=ALPHA, steps=steps, precision="bf16")
        results["robnetzoo, bf16 autocast"] = timed(
            lambda: ours_bf16.run(channels_last, labels, early_stop=False), device, repeats
        )
    results |= {
        "robnetzoo, no folding/channels_last": timed(
            lambda: ours_plain.run(images, labels, early_stop=False), device, repeats
        ),
        "torchattacks": timed(lambda: theirs(images, labels), device, repeats),
        "reference loop": timed(
            lambda: reference_pgd(model, images, labels, EPS, ALPHA, steps, generator), device, repeats
        ),
    }
    return {name: batch * steps / seconds for name, seconds in results.items()}  # image-steps/s


def train_digits(device, epochs=3, adversarial=False, n_train=None):
    """A small RobNet on digits; ``adversarial`` uses fast FGSM training (random start,
    step 1.25 eps, Wong et al. 2020) at eps 8/255 so that examples survive PGD."""
    from robnetzoo.config import ModelConfig, build_model
    from robnetzoo.registry import ROBNET_LARGE_CELL

    torch.manual_seed(0)
    config = ModelConfig(
        "digits-robnet",
        "robnet",
        {"genotype": [ROBNET_LARGE_CELL], "C": 8, "layers": 3, "num_classes": 10},
        10,
        "digits",
        (3, 32, 32),
    )
    model = build_model(config).to(device)
    data = load_dataset("digits", "train")
    if n_train is not None:
        data = data.head(n_train)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    # fast FGSM = one PGD step of 1.25 eps from a random start, crafted in training mode
    fgsm = attacks.build(
        "pgd", model, eps=EPS, alpha=1.25 * EPS, steps=1, random_start=True, mode="keep", validate=False
    )
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for start in range(0, len(order), 64):
            index = order[start : start + 64]
            images, labels = data.images[index].to(device), data.labels[index].to(device)
            if adversarial:
                images = fgsm(images, labels)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def part_b(device, batch, eps, model, n_test=None):
    import torchattacks

    test = load_dataset("digits", "test")
    if n_test is not None:
        test = test.head(n_test)
    n = len(test)

    def run_ours():
        return robnetzoo.evaluate(
            model, test, attacks=["pgd20"], eps=eps, batch_size=batch, device=device, seed=0
        ).robust_accuracy["pgd20"]

    def loop(attack_fn):
        correct = 0
        for start in range(0, n, batch):
            images, labels = test.batch(start, start + batch)
            images, labels = images.to(device), labels.to(device)
            adversarial = attack_fn(images, labels)
            with torch.no_grad():
                correct += int((model(adversarial).argmax(1) == labels).sum())
        return 100 * correct / n

    theirs = torchattacks.PGD(model, eps=eps, alpha=ALPHA, steps=STEPS, random_start=True)
    generator = torch.Generator(device=device).manual_seed(0)
    methods = {
        "robnetzoo.evaluate": run_ours,
        "torchattacks loop": lambda: loop(theirs),
        "reference loop": lambda: loop(lambda x, y: reference_pgd(model, x, y, eps, ALPHA, STEPS, generator)),
    }
    rows = {}
    for name, fn in methods.items():
        sync(device)
        begin = time.perf_counter()
        accuracy = fn()
        sync(device)
        seconds = time.perf_counter() - begin
        rows[name] = {"images_per_s": n / seconds, "robust_accuracy": accuracy, "seconds": seconds}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=16, help="Part A batch (robnet-large)")
    parser.add_argument("--steps", type=int, default=5, help="Part A PGD steps timed (per-step throughput)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--smoke", action="store_true", help="smallest sizes: checks the script runs; figures mean nothing"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=default_path("attack_throughput"),
        help="raw figures (default: benchmarks/results/)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )

    sizes = {"C": 4, "layers": 3} if args.smoke else {}
    if args.smoke:
        args.batch, args.steps, args.repeats = 2, 1, 1
    a = part_a(device, args.batch, args.steps, args.repeats, sizes)
    base = a["torchattacks"]
    print(
        f"\nA. robnet-large {sizes or ''}, PGD per-step throughput, batch {args.batch} (image-steps/s; ratio vs "
        "torchattacks)"
    )
    for name, rate in a.items():
        print(f"  {name:38s} {rate:8.1f}   x{rate / base:.2f}")

    report = {
        "device": str(device),
        "torch": torch.__version__,
        "smoke": args.smoke,
        "batch": args.batch,
        "part_a": a,
        "part_b": {},
    }
    cases = [
        ("standard training", "8/255", 8 / 255, False),
        ("standard training", "2/255", 2 / 255, False),
        ("fast-FGSM adversarial training", "8/255", 8 / 255, True),
    ]
    if args.smoke:
        cases = cases[-1:]
    models = {}
    for training, eps_name, eps, adversarial in cases:
        if adversarial not in models:
            epochs = 1 if args.smoke else 5 if adversarial else 3
            models[adversarial] = train_digits(
                device, epochs=epochs, adversarial=adversarial, n_train=32 if args.smoke else None
            )
        b = part_b(device, 120, eps, models[adversarial], n_test=4 if args.smoke else None)
        report["part_b"][f"{training}, eps {eps_name}"] = b
        base = b["torchattacks loop"]["images_per_s"]
        n_test = 4 if args.smoke else 360
        print(
            f"\nB. digits RobNet (C=8, 3 layers, {training}), whole PGD-20 evaluation of {n_test} test images, eps "
            f"{eps_name}"
        )
        for name, row in b.items():
            print(
                f"  {name:38s} {row['images_per_s']:8.1f} img/s   x{row['images_per_s'] / base:.2f}   robust "
                f"{row['robust_accuracy']:.2f}%"
            )
    if args.json:
        write(args.json, report)


if __name__ == "__main__":
    main()
