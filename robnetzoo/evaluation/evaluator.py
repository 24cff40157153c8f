"""The robustness evaluator: clean accuracy, robust accuracy per attack, worst case.

Counting convention (AutoAttack's): an example counts as broken by an attack as soon as *any*
iterate of that attack misclassifies it; worst case counts an example as robust only if it
survives every attack. Speed comes from not attacking what is already decided:

* clean-misclassified examples are never attacked;
* inside an attack, an example leaves the batch the moment it is broken (``early_stop``);
* with ``cascade=True`` (AutoAttack style) each attack runs only on the examples every earlier
  attack left standing; robust accuracy of attack k then means "after attacks 1..k".

Forward-only passes run under ``torch.inference_mode``; attacks run on an eval-mode copy with
BatchNorm folded into the convolutions and channels_last memory (``robnetzoo.fast``).

Results are written after every batch to ``output`` (atomically), with the settings that
produced them; ``resume=True`` skips the batches already done, and since every batch's random
start is seeded from (seed, attack, batch), the final numbers equal an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from . import attacks as attack_suite
from ._io import atomic_write_text
from .data import TensorImageDataset, dataset_num_classes, first_n
from .errors import InvalidInput
from .fast import prepare_for_attack
from .stats import wilson_interval

RESULTS_VERSION = 1
ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class EvalReport:
    """What ``evaluate`` found. Accuracies are percentages of ``n_examples``."""

    model: str
    dataset: str
    n_examples: int
    eps: float
    attacks: list[str]
    clean_accuracy: float
    robust_accuracy: dict[str, float]
    worst_case_accuracy: float
    counts: dict[str, Any]
    timings: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def interval(self, metric: str) -> tuple[float, float]:
        """95% Wilson interval for ``"clean"``, ``"worst_case"`` or an attack name."""
        correct = {"clean": self.counts["clean"], "worst_case": self.counts["worst_case"]}.get(
            metric, self.counts["robust"].get(metric)
        )
        if correct is None:
            raise KeyError(metric)
        return wilson_interval(correct, self.n_examples)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        names = ["clean", *self.attacks, "worst_case"]
        data["intervals_95"] = {name: list(self.interval(name)) for name in names}
        return data


def _fingerprint(model: nn.Module) -> str:
    """A short hash of the weights, so ``--resume`` refuses results of a different model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        flat = tensor.detach().reshape(-1)
        digest.update(flat[:: max(1, flat.numel() // 64)].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _batches(dataset: Dataset, batch_size: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    if isinstance(dataset, TensorImageDataset):
        for start in range(0, len(dataset), batch_size):
            images, labels = dataset.batch(start, start + batch_size)
            yield start, images, labels
        return
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    start = 0
    for images, labels in loader:
        yield start, images, torch.as_tensor(labels)
        start += len(labels)


def _model_num_classes(model: nn.Module, example: torch.Tensor) -> int:
    config = getattr(model, "zoo_config", None)
    if config is not None:
        return int(config.num_classes)
    with torch.inference_mode():
        return int(model(example[:1]).shape[1])


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("--device cuda asked for, but CUDA is not available here; use --device cpu or auto")
    return device


class _State:
    """Per-example results, saved after every batch so a killed run loses at most one batch."""

    def __init__(self, path: Path | None, header: dict[str, Any], resume: bool) -> None:
        self.path, self.header = path, header
        self.clean: dict[int, list[bool]] = {}
        self.robust: dict[str, dict[int, list[bool]]] = {name: {} for name in header["attacks"]}
        self.seconds: dict[str, float] = {"clean": 0.0, **{name: 0.0 for name in header["attacks"]}}
        if resume and path is not None and path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())  # type: ignore[union-attr]
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot resume: {self.path} is not a results file ({exc}); remove it or drop --resume") from None
        saved = data.get("header", {})
        if saved != self.header:
            changed = sorted(k for k in set(saved) | set(self.header) if saved.get(k) != self.header.get(k))
            raise InvalidInput(
                f"cannot resume: {self.path} was made with different {', '.join(changed)}; "
                "use another --output or drop --resume"
            )
        unpack = lambda bits: [c == "1" for c in bits]  # noqa: E731
        self.clean = {int(k): unpack(v) for k, v in data["clean"].items()}
        for name in self.robust:
            self.robust[name] = {int(k): unpack(v) for k, v in data["robust"].get(name, {}).items()}
        self.seconds.update(data.get("seconds", {}))

    def save(self, report: dict[str, Any] | None = None) -> None:
        if self.path is None:
            return
        pack = lambda values: "".join("1" if v else "0" for v in values)  # noqa: E731
        data = {
            "version": RESULTS_VERSION,
            "header": self.header,
            "clean": {str(k): pack(v) for k, v in self.clean.items()},
            "robust": {name: {str(k): pack(v) for k, v in done.items()} for name, done in self.robust.items()},
            "seconds": self.seconds,
            "report": report,
        }
        atomic_write_text(self.path, json.dumps(data) + "\n")

    @staticmethod
    def flatten(done: dict[int, list[bool]]) -> list[bool]:
        return [v for start in sorted(done) for v in done[start]]


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    attacks: Sequence[str] | str = ("pgd20",),
    eps: float = 8 / 255,
    n_examples: int | None = None,
    batch_size: int = 200,
    device: str | torch.device | None = None,
    seed: int = 0,
    attack_params: dict[str, dict[str, Any]] | None = None,
    cascade: bool = False,
    fold_bn: bool = True,
    channels_last: bool = True,
    precision: str = "fp32",
    output: str | Path | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> EvalReport:
    """Evaluate ``model`` on ``dataset`` (images in [0, 1]) under ``attacks`` at ``eps``.

    ``attack_params`` maps an attack name to its keywords (``{"pgd": {"steps": 50}}``).
    ``precision="bf16"`` runs attack steps under bf16 autocast; whether each returned
    adversarial image fools the model is then confirmed in fp32, and examples bf16 wrongly
    took for broken (so stopped attacking) are attacked again in fp32.
    ``progress`` receives dicts (``phase``, ``done``, ``total``, ``robust``) for progress bars.
    """
    names = attack_suite.expand(list(attacks) if not isinstance(attacks, str) else [attacks])
    if not 0 <= float(eps) <= 1:
        raise InvalidInput(f"eps must be in [0, 1], got {eps}; write 8/255 for 8 levels")
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be at least 1, got {batch_size}")
    notes: list[str] = []
    available = len(dataset)  # type: ignore[arg-type]
    if n_examples is not None:
        if n_examples > available:
            notes.append(f"asked for {n_examples} examples but the data set has {available}; evaluated {available}")
        dataset = first_n(dataset, n_examples)
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise InvalidInput("the data set is empty")
    device = _resolve_device(device)
    config = getattr(model, "zoo_config", None)
    model_name = config.name if config is not None else type(model).__name__

    first_images, _ = next(iter(_batches(dataset, 1)))[1:]
    attack_suite.check_images(first_images, torch.zeros(1, dtype=torch.long), model)
    # Everything below runs on an eval-mode copy: the caller's model (and its mode) is untouched.
    fast = prepare_for_attack(model, device, fold=fold_bn, channels_last=channels_last)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    data_classes = dataset_num_classes(dataset)
    model_classes = _model_num_classes(fast, first_images.to(device).contiguous(memory_format=memory))
    if data_classes is not None and data_classes != model_classes:
        raise InvalidInput(
            f"{getattr(dataset, 'name', 'the data set')} has {data_classes} classes but {model_name} "
            f"predicts {model_classes}; evaluate it on the data set it was trained for"
        )
    params = attack_params or {}
    header = {
        "model": model_name, "fingerprint": _fingerprint(model), "dataset": getattr(dataset, "name", None),
        "n_examples": n, "attacks": names, "eps": float(eps), "seed": seed, "batch_size": batch_size,
        "cascade": cascade, "precision": precision, "attack_params": params,
    }
    state = _State(Path(output) if output else None, header, resume)
    report_progress = progress or (lambda event: None)

    def to_device(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return images.to(device, non_blocking=True).contiguous(memory_format=memory), labels.to(device)

    # ---- clean pass: inference only
    report_progress({"phase": "clean", "done": sum(map(len, state.clean.values())), "total": n, "robust": None})
    for start, images, labels in _batches(dataset, batch_size):
        if start in state.clean:
            continue
        begin = time.perf_counter()
        images, labels = to_device(images, labels)
        with torch.inference_mode():
            correct = fast(images).argmax(1) == labels
        state.clean[start] = correct.cpu().tolist()
        state.seconds["clean"] += time.perf_counter() - begin
        state.save()
        report_progress({"phase": "clean", "done": start + len(labels), "total": n,
                         "robust": sum(map(sum, state.clean.values()))})
    clean = state.flatten(state.clean)

    # ---- attacks: only on what is still standing
    standing = list(clean)
    attack_settings: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names):
        attack = attack_suite.build(name, fast, eps=eps, precision=precision, seed=seed, **params.get(name, {}))
        attack_settings[name] = attack.params()
        # bf16 steps decide early stops on bf16 logits; what fp32 disputes is re-attacked in fp32
        confirm = None if precision == "fp32" else attack_suite.build(
            name, fast, eps=eps, precision="fp32", seed=seed, **params.get(name, {})
        )
        done = state.robust[name]
        report_progress({"phase": name, "done": sum(map(len, done.values())), "total": n,
                         "robust": sum(map(sum, done.values()))})
        for start, images, labels in _batches(dataset, batch_size):
            if start in done:
                continue
            begin = time.perf_counter()
            targets = torch.tensor(standing[start : start + len(labels)])
            robust = targets.clone()
            if targets.any():
                selected = targets.nonzero().squeeze(1)
                x, y = to_device(images[selected], labels[selected])
                generator = torch.Generator(device=device).manual_seed(
                    (seed * 1_000_003 + index * 10_007 + start) % (2**63)
                )
                result = attack.run(x, y, early_stop=True, generator=generator)
                broken = result.broken
                if confirm is not None:
                    with torch.no_grad():  # not inference_mode: broken is updated in place below
                        broken = fast(result.adversarial).argmax(1) != y
                    disputed = result.broken & ~broken
                    if disputed.any():
                        retry = confirm.run(x[disputed], y[disputed], early_stop=True, generator=generator)
                        broken[disputed] = retry.broken
                robust[selected] = ~broken.cpu()
            done[start] = robust.tolist()
            state.seconds[name] += time.perf_counter() - begin
            state.save()
            report_progress({"phase": name, "done": start + len(labels), "total": n,
                             "robust": sum(map(sum, done.values()))})
        result_bits = state.flatten(done)
        if cascade:
            standing = [s and r for s, r in zip(standing, result_bits)]

    robust_counts = {name: sum(state.flatten(state.robust[name])) for name in names}
    worst = [all(bits) for bits in zip(clean, *(state.flatten(state.robust[name]) for name in names))]
    report = EvalReport(
        model=model_name,
        dataset=str(getattr(dataset, "name", None)),
        n_examples=n,
        eps=float(eps),
        attacks=names,
        clean_accuracy=100 * sum(clean) / n,
        robust_accuracy={name: 100 * count / n for name, count in robust_counts.items()},
        worst_case_accuracy=100 * sum(worst) / n,
        counts={"clean": sum(clean), "robust": robust_counts, "worst_case": sum(worst)},
        timings={
            "clean_seconds": state.seconds["clean"],
            "attack_seconds": {name: state.seconds[name] for name in names},
            "images_per_second": {
                name: (n / state.seconds[name] if state.seconds[name] > 0 else None) for name in names
            },
        },
        settings={"device": str(device), "batch_size": batch_size, "seed": seed, "cascade": cascade,
                  "precision": precision, "fold_bn": fold_bn, "channels_last": channels_last,
                  "attack_params": attack_settings},
        notes=notes,
    )
    state.save(report.to_dict())
    return report
