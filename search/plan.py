"""``robnetzoo search --plan``: what a search will cost before it runs.

Work is counted in image forward+backward passes, the unit every phase shares: adversarial
training with PGD-k costs k + 1 per image (k attack steps and the training step), FGSM from a
random start 2; scoring an image with PGD-k costs k + 1 (k steps, one clean forward counted as
a pass), BatchNorm recalibration one forward (counted as a third of a pass). The hours are an
estimate: a few real supernet steps (one clean forward+backward pass of a batch each) are timed on
the current device at the search's width, depth, batch and input size (on random images: the data
set is not read), and every pass is assumed to cost what one of those did. A sub-network is cheaper than the supernet's
mean path, so the estimate leans high.

Measured rates replace the estimate: ``benchmarks/paper_scale.py`` (one of the steps of
``tools/gpu_check.py``) times real PGD-7 supernet training steps at a search's size on a GPU and
writes seconds per pass; ``plan_search(timings=FILE)`` (``--timings FILE``) prices every phase at
that rate instead, and says on which device and when it was measured. A timings file measured
at another width, depth, batch, space or input size is refused: a rate does not carry across
sizes. ``MEASURED_TIMINGS``, when the package ships one, is used the same way for the sizes it
was measured at.
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
MEASURED_TIMINGS = Path(__file__).with_name("paper_timings.json")  # shipped once measured on a GPU
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


def _measured(settings: SearchSettings, timings: str | Path | None) -> dict[str, Any] | None:
    """The measured record that prices this search: the given file (refused at other sizes), or
    the shipped one where it was measured at this search's size."""
    if timings is None and not MEASURED_TIMINGS.is_file():
        return None
    record = read_timings(timings if timings is not None else MEASURED_TIMINGS)
    size = _size(settings)
    if any(record[k] != size[k] for k in _SIZE_KEYS):
        if timings is None:
            return None
        raise InvalidInput(
            f"{timings} timed a supernet of {_describe(record)}; this search's is {_describe(size)}",
            fix=f"time this size with benchmarks/paper_scale.py, or drop {option('timings')}",
        )
    return record


def plan_search(
    settings: SearchSettings,
    *,
    device: str | None = None,
    data_root: Any = None,
    progress: ProgressFn | None = None,
    timings: str | Path | None = None,
) -> dict[str, Any]:
    """The plan: passes per phase and hours, at a measured rate (``timings``, see the module
    docstring) or else at ``seconds_per_pass`` timed here (an estimate)."""
    phases = work_of(settings)
    measured = _measured(settings, timings)
    if measured is not None:
        per_pass, name, steps = (
            float(measured["seconds_per_pass"]),
            str(measured["device"]),
            int(measured["timed_steps"]),
        )
    else:
        torch_device = torch.device(resolve_device(device))
        per_pass, steps = seconds_per_pass(settings, torch_device, progress=progress), TIMED_STEPS
        name = (
            torch.cuda.get_device_name(torch_device)
            if torch_device.type == "cuda"
            else f"{torch_device.type} ({torch.get_num_threads()} threads)"
        )
    for phase in phases:
        phase["hours"] = phase["passes"] * per_pass / 3600
    plan = {
        "preset": settings.preset,
        "device": name,
        "timed_steps": steps,
        "seconds_per_pass": per_pass,
        "phases": phases,
        "passes": sum(p["passes"] for p in phases),
        "hours": sum(p["hours"] for p in phases),
        "estimate": measured is None,
    }
    if measured is not None:
        plan["measured"] = {
            k: measured.get(k)
            for k in (
                "file",
                "device",
                "date",
                "torch",
                "attack",
                "precision",
                "timed_steps",
                "seconds_per_step",
                "smoke",
            )
        }
    return plan
