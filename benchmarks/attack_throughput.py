"""PGD-20 throughput: robnetzoo versus torchattacks and a plain reference loop, in one run.

Part A, robnet-large (untrained here): per-step attack throughput on one fixed batch, every
method running every step on every image (no early stopping), so the ratio isolates the
per-step cost: BN folding, channels_last and the streamlined graph (``robnetzoo.streamline``)
versus the same model as torchattacks sees it. Every method does the same work, the steps and
nothing else (ours with ``judge=False``: no forward pass to judge the last iterate, which
torchattacks does not do either). The methods take turns for ``--rounds`` rounds and each
keeps its median.

Part B, a small RobNet trained on the built-in digits: the whole PGD-20 robust-accuracy
evaluation of the test set, where robnetzoo.evaluate also skips clean-misclassified examples
and stops attacking an example once it is broken. Robust accuracies are printed beside the
speeds: ours must be equal or lower (stronger), never bought with a weaker attack.

Part C, full-size robnet-large at ``--ceiling-batch``: how close one attack step comes to what
the CPU can do. A PGD step is a forward pass and a gradient with respect to the input (none
for the weights), about twice the forward's FLOPs (2 x MACs per image each: a convolution's
input gradient costs its forward's multiply-adds), so its achieved GFLOP/s is image-steps/s x
4 x MACs / 1e9. Beside it, on the same model and batch: torch's forward alone (no autograd)
and ONNX Runtime's fp32 forward (the shipped export), each as forward GFLOP/s = images/s x 2 x
MACs / 1e9: the rate an optimised inference engine reaches on these cores. And what could
close the gap, each in the same run: our step without the streamlined graph, in NCHW instead
of channels_last, our step with
its forward compiled by ``torch.compile`` (the compile time reported apart), and the plain
step with the weights left in autograd (what ``prepare_for_attack`` avoids).

On CUDA, Part A adds our attack under bf16 autocast (``precision="bf16"``) beside fp32.
``--smoke`` shrinks everything (a 3-cell, width-4 model; 32 training and 4 test images) to
check the script runs end to end (``tools/gpu_check.py --tiny``); its figures mean nothing.

    python benchmarks/attack_throughput.py [--device cuda] [--batch 32] [--smoke]
        [--ceiling-batch 64] [--no-compile] [--json FILE (default: benchmarks/results/)]
"""

from __future__ import annotations

import argparse
import platform
import statistics
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


def part_a(device, batch, steps, repeats, sizes, rounds=3):
    import torchattacks

    torch.manual_seed(0)
    model = robnetzoo.create_model("robnet-large", **sizes).to(device).eval()
    images = torch.rand(batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    fast = prepare_for_attack(model, device).module
    ours = attacks.build("pgd", fast, eps=EPS, alpha=ALPHA, steps=steps)
    unstreamlined = prepare_for_attack(model, device, streamline=False).module
    ours_unstreamlined = attacks.build("pgd", unstreamlined, eps=EPS, alpha=ALPHA, steps=steps)
    ours_plain = attacks.build("pgd", model, eps=EPS, alpha=ALPHA, steps=steps)
    theirs = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=steps, random_start=True)
    generator = torch.Generator(device=device).manual_seed(0)
    channels_last = images.contiguous(memory_format=torch.channels_last)
    methods = {"robnetzoo": lambda: ours.run(channels_last, labels, early_stop=False, judge=False)}
    if device.type == "cuda":
        ours_bf16 = attacks.build("pgd", fast, eps=EPS, alpha=ALPHA, steps=steps, precision="bf16")
        methods["robnetzoo, bf16 autocast"] = lambda: ours_bf16.run(
            channels_last, labels, early_stop=False, judge=False
        )
    methods |= {
        "robnetzoo, graph not streamlined": lambda: ours_unstreamlined.run(
            channels_last, labels, early_stop=False, judge=False
        ),
        "robnetzoo, no folding/channels_last": lambda: ours_plain.run(images, labels, early_stop=False, judge=False),
        "torchattacks": lambda: theirs(images, labels),
        "reference loop": lambda: reference_pgd(model, images, labels, EPS, ALPHA, steps, generator),
    }
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):  # methods take turns, so a slow spell of the machine hits them all
        for name, fn in methods.items():
            seconds[name].append(timed(fn, device, repeats))
    per_round = {name: [batch * steps / t for t in times] for name, times in seconds.items()}  # image-steps/s
    return {name: statistics.median(rates) for name, rates in per_round.items()}, per_round


def part_c(device, batch, steps, repeats, sizes, compile_step=True):
    """Achieved GFLOP/s of the attack step against the forward pass of torch and ONNX Runtime."""
    import tempfile

    from robnetzoo.profile import count_macs

    torch.manual_seed(0)
    model = robnetzoo.create_model("robnet-large", **sizes).to(device).eval()
    macs = count_macs(model, (3, 32, 32))
    images = torch.rand(batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    channels_last = images.contiguous(memory_format=torch.channels_last)
    prepared = prepare_for_attack(model, device)
    fast = prepared.module
    nchw = prepare_for_attack(model, device, channels_last=False).module

    def step_rate(module, inputs):
        attack = attacks.build("pgd", module, eps=EPS, alpha=ALPHA, steps=steps)
        return batch * steps / timed(lambda: attack.run(inputs, labels, early_stop=False, judge=False), device, repeats)

    forwards = max(1, repeats * steps // 2)  # forwards timed per measurement: about a step's share

    def forward_rate(run_forward):
        return batch / timed(run_forward, device, forwards)

    def torch_forward(module, inputs):
        def run():
            with torch.no_grad():
                module(inputs)

        return run

    steps_per_s = {
        "robnetzoo step (folded, channels_last, streamlined, weights out of autograd)": step_rate(fast, channels_last),
        "robnetzoo step, graph not streamlined": step_rate(
            prepare_for_attack(model, device, streamline=False).module, channels_last
        ),
        "robnetzoo step, NCHW": step_rate(nchw, images),
        "robnetzoo step, weights left in autograd": step_rate(
            prepare_for_attack(model, device).module.requires_grad_(True), channels_last
        ),
    }
    compile_seconds = None
    if compile_step:
        compiled = torch.compile(fast)
        begin = time.perf_counter()
        try:
            attacks.build("pgd", compiled, eps=EPS, alpha=ALPHA, steps=1).run(
                channels_last, labels, early_stop=False, judge=False
            )
            compile_seconds = time.perf_counter() - begin
            steps_per_s["robnetzoo step, forward compiled (torch.compile)"] = step_rate(compiled, channels_last)
        except Exception as exc:  # an Inductor failure is a result to report, not a crash
            steps_per_s["robnetzoo step, forward compiled (torch.compile)"] = None
            compile_seconds = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    forwards_per_s = {
        "torch forward (folded, channels_last, no autograd)": forward_rate(torch_forward(fast, channels_last))
    }
    if device.type == "cpu":
        import onnxruntime as ort

        from robnetzoo.export.onnx import export_onnx

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            export_onnx(model, path)
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            feed = {name: images.cpu().numpy()}
            forwards_per_s["ONNX Runtime fp32 forward (the shipped export)"] = forward_rate(
                lambda: session.run(None, feed)
            )
    gflops = {name: None if rate is None else rate * 4 * macs / 1e9 for name, rate in steps_per_s.items()} | {
        name: rate * 2 * macs / 1e9 for name, rate in forwards_per_s.items()
    }
    return {
        "batch": batch,
        "macs_per_image": macs,
        "image_steps_per_s": steps_per_s,
        "images_per_s": forwards_per_s,
        "gflop_per_s": gflops,
        "compile_seconds": compile_seconds,
        "folding": prepared.summary(),
    }


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
    parser.add_argument("--rounds", type=int, default=3, help="Part A: rounds of every method in turn (median kept)")
    parser.add_argument("--ceiling-batch", type=int, default=64, help="Part C batch (full-size robnet-large)")
    parser.add_argument("--no-compile", action="store_true", help="Part C without the torch.compile variant")
    parser.add_argument("--parts", default="abc", help="which parts to run (default: abc)")
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
    report = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "smoke": args.smoke,
        "batch": args.batch,
        "part_a": {},
        "part_b": {},
        "part_c": {},
    }
    if "a" in args.parts:
        a, rounds = part_a(device, args.batch, args.steps, args.repeats, sizes, 1 if args.smoke else args.rounds)
        report["part_a"], report["part_a_rounds"] = a, rounds
        base = a["torchattacks"]
        print(
            f"\nA. robnet-large {sizes or ''}, PGD per-step throughput, batch {args.batch} (image-steps/s, median of "
            f"{len(rounds['torchattacks'])} rounds; ratio vs torchattacks, and its range over the rounds)"
        )
        for name, rate in a.items():
            ratios = [r / t for r, t in zip(rounds[name], rounds["torchattacks"])]
            print(f"  {name:38s} {rate:8.1f}   x{rate / base:.2f}   (x{min(ratios):.2f}-x{max(ratios):.2f})")
    if "c" in args.parts:
        batch = 2 if args.smoke else args.ceiling_batch
        c = part_c(device, batch, args.steps, args.repeats, sizes, compile_step=not (args.no_compile or args.smoke))
        report["part_c"] = c
        print(
            f"\nC. robnet-large {sizes or ''}, batch {batch}, {c['macs_per_image'] / 1e9:.2f} GMACs per image: "
            "achieved GFLOP/s (a step = forward + input gradient = 4 x MACs; a forward = 2 x MACs)"
        )
        for name, rate in c["gflop_per_s"].items():
            per_s = c["image_steps_per_s"].get(name, c["images_per_s"].get(name))
            unit = "image-steps/s" if name in c["image_steps_per_s"] else "images/s"
            shown = "failed" if rate is None else f"{rate:7.1f} GFLOP/s   {per_s:7.1f} {unit}"
            print(f"  {name:66s} {shown}")
        took = c["compile_seconds"]
        if took is not None:
            print(f"  torch.compile: {took if isinstance(took, str) else f'{took:.0f} s to compile'}")
    if "b" not in args.parts:
        if args.json:
            write(args.json, report)
        return
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
