"""``robnetzoo search --plan``: what a search will cost before it runs.

Work is counted in image forward+backward passes, the unit every phase shares: adversarial
training with PGD-k costs k + 1 per image (k attack steps and the training step), FGSM from a
random start 2; scoring an image with PGD-k costs k + 1 (k steps, one clean forward counted as
a pass), BatchNorm recalibration one forward (counted as a third of a pass).

The plan answers at once: the passes are priced at the rates shipped with the package
(``pass_rates/*.json``, each written by ``benchmarks/paper_scale.py``: seconds per pass of real
PGD-7 supernet training steps on one device, a CPU and, where one was measured, a GPU). A rate
timed at another width, depth or input size is scaled by width squared, cells and pixels, and
the plan says so. ``timings=FILE`` (``--timings``) prices at a rate of the user's own (refused
at another size); ``time_here=True`` (``--time-here``) times a few real supernet steps on this
device instead, with a progress bar. Hours are given to two significant figures: a sub-network
is cheaper than the supernet's mean path, so they lean high.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from robnetzoo._io import read_json
from robnetzoo.data import NUM_CLASSES
from robnetzoo.device import resolve_device
from robnetzoo.errors import CorruptFile, InvalidInput, option
from robnetzoo.events import Note, ProgressFn, StageProgress, ignore

from .pairs import COUNTS
from .settings import SearchSettings
from .training import attack_passes

TRAIN_SIZES = {"cifar10": 50000, "cifar100": 50000, "svhn": 73257, "digits": 1437, "tiny-imagenet": 100000}
INPUT_SIZES = {"tiny-imagenet": 64, "imagenet": 224}
TIMED_STEPS = 3
TIMINGS_FORMAT = "robnetzoo-paper-scale-timings"
SHIPPED_RATES = Path(__file__).with_name("pass_rates")  # paper_scale.py files shipped with the package
_SIZE_KEYS = ("width", "layers", "batch", "space", "input_size")


def work_of(settings: SearchSettings) -> list[dict[str, Any]]:
    """Every phase's passes (see the module docstring)."""
    if settings.dataset not in TRAIN_SIZES:
        raise InvalidInput(f"cannot plan a search on {settings.dataset!r}: its size is unknown to the planner")
    train_n = TRAIN_SIZES[settings.dataset] - settings.validation_size - settings.holdout_size
    if train_n < settings.supernet.batch_size:
        raise InvalidInput(
            f"the splits leave {train_n} training images, fewer than one batch; lower the validation or hold-out sizes"
        )
    recipe = settings.supernet_recipe
    supernet_n = min(train_n, recipe.train_examples or train_n)
    score = attack_passes(settings.score_attack)
    score_images = settings.score_examples or settings.validation_size
    per_screen = score_images * score + settings.fsp_examples * (score + 1) + settings.calibration_images / 3
    n_cell = settings.candidates if settings.space in ("cell", "both") else 0
    n_free = settings.free_candidates if settings.space in ("free", "both") else 0
    if settings.scorer == "finetune" and settings.finetune_subset is None:
        tuned = n_cell + round(settings.fsp_keep * n_free)
    else:
        tuned = min(settings.finetune_subset or 0, n_cell)
    ft = settings.finetune
    finetune_n = min(train_n, ft.train_examples or train_n)
    per_finetune = ft.epochs * finetune_n * attack_passes(ft.attack, ft.attack_params) + score_images * score
    pair_networks = settings.pairs_per_count * len(COUNTS) * 3
    per_inherited = score_images * score + settings.calibration_images / 3
    ranked = tuned if settings.scorer == "finetune" else n_cell + round(settings.fsp_keep * n_free)
    chosen = ranked if settings.holdout_size else 0  # every candidate a band could choose
    per_holdout = settings.holdout_size * score + (per_finetune if settings.scorer == "finetune" else 0)
    replicas = settings.supernets + (1 if settings.holdout_size else 0)  # one more re-scores the candidates
    n = n_cell + n_free
    return [
        {
            "phase": "supernet",
            "what": f"{replicas} x {recipe.epochs} epochs x {supernet_n:,} images, {settings.supernet_attack}",
            "passes": replicas * recipe.epochs * supernet_n * attack_passes(recipe.attack, recipe.attack_params),
        },
        {
            "phase": "screen",
            "what": f"{n:,} candidates (inherited + FSP)"
            + (f", inherited again under {settings.supernets - 1} more supernet(s)" if settings.supernets > 1 else ""),
            "passes": n * per_screen + (settings.supernets - 1) * n * per_inherited,
        },
        {
            "phase": "finetune",
            "what": f"{tuned:,} candidates x {ft.epochs} epochs x {finetune_n:,} images",
            "passes": tuned * per_finetune,
        },
        {"phase": "pairs", "what": f"{pair_networks} networks of Finding 2", "passes": pair_networks * per_inherited},
        {"phase": "holdout", "what": f"{chosen:,} ranked candidates re-scored", "passes": chosen * per_holdout},
    ]


def seconds_per_pass(
    settings: SearchSettings, device: torch.device, steps: int = TIMED_STEPS, progress: ProgressFn | None = None
) -> float:
    """Seconds per image forward+backward pass of the supernet, timed over ``steps`` real
    training steps (after one warm-up) at the search's size and batch, on random images. At the
    paper's size on a CPU this takes minutes, so it says what it times and reports every step
    (``StageProgress`` of the ``timing`` stage: a bar with its ETA)."""
    report = progress or ignore
    report(
        Note(
            f"timing {steps} supernet training steps ({_describe(_size(settings))}) on {device} to price the "
            f"plan, after one warm-up step; a timings file ({option('timings')}) prices it without timing"
        )
    )
    from .sampling import PathDropout
    from .supernet import Supernet

    size = INPUT_SIZES.get(settings.dataset, 32)
    num_classes = NUM_CLASSES.get(settings.dataset, 10)
    model = Supernet(settings.width, settings.layers, num_classes, space=settings.space).to(device).train()
    dropout = PathDropout(space=settings.space, layers=settings.layers, by=settings.sampler)
    generator = torch.Generator().manual_seed(0)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    batch = settings.supernet.batch_size
    images = torch.rand(batch, 3, size, size, device=device)
    labels = torch.randint(0, num_classes, (batch,), device=device)
    elapsed = 0.0
    for step in range(steps + 1):
        dropout(model, generator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            elapsed += time.perf_counter() - began
        report(StageProgress("timing", step + 1, steps + 1))
    return elapsed / (steps * batch)


def read_timings(path: str | Path) -> dict[str, Any]:
    """A timings file of ``benchmarks/paper_scale.py``: its supernet record, with where and when."""
    fix = "time it again with benchmarks/paper_scale.py"
    data = read_json(path, "paper-scale timings file", fix=fix, expect=dict, format=TIMINGS_FORMAT)
    record = data.get("supernet")
    if not isinstance(record, dict) or not all(k in record for k in (*_SIZE_KEYS, "seconds_per_pass", "timed_steps")):
        raise InvalidInput(f"{path} holds no supernet timing; {fix}")
    wrong = [k for k in _SIZE_KEYS if not isinstance(record[k], (int, str)) or isinstance(record[k], bool)]
    wrong += [
        k
        for k in ("seconds_per_pass", "timed_steps")
        if isinstance(record[k], bool) or not isinstance(record[k], (int, float)) or not record[k] > 0
    ]
    machine = data.get("machine", {})
    if wrong or not isinstance(machine, dict):
        raise CorruptFile(path, "paper-scale timings file", f"wrong types for {', '.join(wrong) or 'machine'}", fix=fix)
    return {
        **record,
        "device": data.get("device"),
        "date": machine.get("date"),
        "torch": machine.get("torch"),
        "smoke": bool(data.get("smoke")),
        "file": str(path),
    }


def _size(settings: SearchSettings) -> dict[str, Any]:
    return {
        "width": settings.width,
        "layers": settings.layers,
        "batch": settings.supernet.batch_size,
        "space": settings.space,
        "input_size": INPUT_SIZES.get(settings.dataset, 32),
    }


def _describe(size: dict[str, Any]) -> str:
    return (
        f"C={size['width']}, {size['layers']} cells, batch {size['batch']}, space {size['space']}, "
        f"{size['input_size']}px"
    )


def _measured(settings: SearchSettings, timings: str | Path) -> dict[str, Any]:
    """The measured record of ``timings``, refused when it timed another size."""
    record = read_timings(timings)
    size = _size(settings)
    if any(record[k] != size[k] for k in _SIZE_KEYS if k != "batch"):
        raise InvalidInput(
            f"{timings} timed a supernet of {_describe(record)}; this search's is {_describe(size)}",
            fix=f"time this size with benchmarks/paper_scale.py, or drop {option('timings')}",
        )
    return record


def shipped_rates() -> list[dict[str, Any]]:
    """The rates shipped with the package (``pass_rates/*.json``, each a benchmarks/paper_scale.py
    file), CPU first."""
    records = [read_timings(path) for path in sorted(SHIPPED_RATES.glob("*.json"))]
    return sorted(records, key=lambda r: (_kind(r) != "cpu", r["file"]))


def _kind(record: dict[str, Any]) -> str:
    return "cpu" if str(record.get("device", "")).lower().startswith("cpu") else "gpu"


def _scale(record: dict[str, Any], size: dict[str, Any]) -> float:
    """How much more a pass of ``size`` costs than one of the size ``record`` timed: a cell's
    convolutions scale with width squared, the cell count and the pixels (the batch, the same
    per image, is left out; so are the different shares of the two spaces)."""
    return (
        (size["width"] / record["width"]) ** 2
        * (size["layers"] / record["layers"])
        * (size["input_size"] / record["input_size"]) ** 2
    )


def _price(record: dict[str, Any], size: dict[str, Any], passes: float, how: str) -> dict[str, Any]:
    scale = _scale(record, size)
    per_pass = float(record["seconds_per_pass"]) * scale
    return {
        "kind": _kind(record),
        "device": record.get("device"),
        "how": how,
        "seconds_per_pass": per_pass,
        "scaled_from": None if scale == 1 else _describe(record),
        "hours": passes * per_pass / 3600,
        "file": record.get("file"),
        "date": record.get("date"),
        "smoke": bool(record.get("smoke")),
    }


def plan_search(
    settings: SearchSettings,
    *,
    device: str | None = None,
    data_root: Any = None,
    progress: ProgressFn | None = None,
    timings: str | Path | None = None,
    time_here: bool = False,
) -> dict[str, Any]:
    """The plan: passes per phase, priced at once from the rates shipped with the package (CPU
    and, where one was measured, GPU; another size is scaled, see ``_scale``), or at the rate
    of a ``timings`` file, or (``time_here``) at ``seconds_per_pass`` timed on ``device``."""
    phases = work_of(settings)
    passes = sum(p["passes"] for p in phases)
    size = _size(settings)
    if timings is not None:
        prices = [_price(_measured(settings, timings), size, passes, "measured")]
    elif time_here:
        torch_device = torch.device(resolve_device(device))
        name = (
            torch.cuda.get_device_name(torch_device)
            if torch_device.type == "cuda"
            else f"cpu ({torch.get_num_threads()} threads)"
        )
        per_pass = seconds_per_pass(settings, torch_device, progress=progress)
        record = {**size, "device": name, "seconds_per_pass": per_pass, "file": None, "date": None}
        prices = [_price(record, size, passes, f"timed here over {TIMED_STEPS} clean steps")]
    else:
        prices = [_price(r, size, passes, "shipped rate") for r in shipped_rates()]
    return {
        "preset": settings.preset,
        "size": size,
        "phases": phases,
        "passes": passes,
        "prices": prices,
        "precision": "two significant figures: a rate is one device's, and a sub-network costs less than the "
        "supernet's mean path, so the hours lean high",
    }
