"""Robustness measured on a deployment runtime, beside torch: ``evaluate_on_runtime``.

Both sides are judged by the one evaluator, ``robnetzoo.evaluate``: the torch model as usual,
the runtime as a target whose gradient attacks are crafted on the torch model (transfer, the
paper's suite) and then judged by the runtime's own predictions. Beside them, the
prediction-flip rate between torch and the runtime on clean and on adversarial inputs (the
first attack's examples): where a quantized runtime changes answers, it changes them there.

The artifact is the one given (``artifact``, checked against the model), or exported on the
fly into a temporary folder (int8 then needs calibration data).

An int8 graph on ONNX Runtime is judged a third time, as the same graph computed in float
(``ideal``): the gap between the kernel's figures and the ideal ones is the kernel's error,
the gap between the ideal ones and torch's the quantization's. The host's CPU flags, the
kernel that ran and the session options are part of the result.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from robnetzoo.config import config_of
from robnetzoo.data import take
from robnetzoo.device import resolve_device
from robnetzoo.errors import InvalidInput, option
from robnetzoo.evaluation import EvalReport, evaluate

from .exporting import calibration_images
from .parity import parity_of_each
from .registry import RUNTIMES, runtime_named

FLIP_EXAMPLES = 512  # prediction flips are counted on the first examples, in one batch


@dataclass
class RuntimeComparison:
    runtime: str
    precision: str
    artifact: str
    torch: EvalReport
    on_runtime: EvalReport
    flips: dict[str, Any]
    ideal: EvalReport | None = None  # int8 on ONNX Runtime: the same graph computed in float
    ideal_flips: dict[str, Any] | None = None
    runtime_info: dict[str, Any] | None = None  # host, session options, int8 kernel, warnings

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "precision": self.precision,
            "artifact": self.artifact,
            "torch": self.torch.to_dict(),
            "on_runtime": self.on_runtime.to_dict(),
            "flips": self.flips,
            "ideal": self.ideal.to_dict() if self.ideal is not None else None,
            "ideal_flips": self.ideal_flips,
            "runtime_info": self.runtime_info,
        }


def runtime_target(
    runtime: str,
    model: nn.Module,
    *,
    precision: str = "fp32",
    artifact: str | Path | None = None,
    workdir: Path,
    calibration: torch.Tensor | None = None,
    device: str = "cpu",
    trust_artifact: bool = False,
) -> tuple[Any, Path]:
    """The runtime's target for ``model`` (and the artifact it runs), exporting if needed. A
    given ``artifact`` of a runtime that runs native code (an AOTInductor package is a compiled
    shared library; a TensorRT engine may carry plugins) is loaded only with
    ``trust_artifact=True``: only the user can vouch for a file's source, since a sidecar or
    digest beside it is written by whoever wrote the file."""
    entry = runtime_named(runtime)
    if artifact is not None and entry.native_artifact and not trust_artifact:
        raise InvalidInput(
            f"loading {artifact} runs the native code it holds ({runtime} artifacts are compiled programs)",
            fix=f"pass {option('trust_artifact', True)} if you made it or trust its "
            f"source, or drop {option('artifact')} to export one now",
        )
    from .precision import PRECISIONS

    if precision not in PRECISIONS:
        raise InvalidInput(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision not in entry.precisions:
        others = [name for name, r in RUNTIMES.items() if precision in r.precisions]
        raise InvalidInput(
            f"the {runtime} runtime runs {'/'.join(entry.precisions)} artifacts; {precision} is for "
            f"the {' or '.join(others)} runtime"
        )
    return entry.target(
        model,
        precision=precision,
        artifact=Path(artifact) if artifact is not None else None,
        workdir=workdir,
        calibration=calibration,
        device=device,
    )


def evaluate_on_runtime(
    model: nn.Module,
    dataset: Dataset,
    *,
    runtime: str,
    precision: str = "fp32",
    artifact: str | Path | None = None,
    calibration: torch.Tensor | str | None = None,
    calibration_n: int = 256,
    data_root: str | Path | None = None,
    attacks: Sequence[str] | None = None,
    eps: float | None = None,
    norm: str | None = None,
    n_examples: int | None = None,
    batch_size: int = 200,
    seed: int = 0,
    device: str | None = "cpu",
    progress: Any = None,
    trust_artifact: bool = False,
) -> RuntimeComparison:
    """Torch and ``runtime`` judged on the same examples; see the module docstring.
    ``trust_artifact``: load a given aoti or tensorrt ``artifact`` (it runs native code).

    ``calibration`` (int8 exported on the fly): images, or the name of a data set whose first
    ``calibration_n`` training images are used."""
    device = str(resolve_device(device))  # "auto": CUDA where there is one
    if precision == "int8" and artifact is None and calibration is None:
        raise InvalidInput(
            f"int8 needs calibration images: give {option('calibration')} (a data set name or "
            f"images), or an exported {option('artifact')}"
        )
    if isinstance(calibration, str):
        if artifact is not None or precision != "int8":
            calibration = None  # nothing is calibrated: an artifact is given, or the graph is not int8
        else:
            input_size = getattr(config_of(model), "input_size", None)
            calibration = calibration_images(calibration, calibration_n, input_size, data_root)
    with tempfile.TemporaryDirectory(prefix="robnetzoo-runtime-") as tmp:
        target, path = runtime_target(
            runtime,
            model,
            precision=precision,
            artifact=artifact,
            workdir=Path(tmp),
            calibration=calibration,
            device=device,
            trust_artifact=trust_artifact,
        )
        common = dict(
            attacks=attacks,
            eps=eps,
            norm=norm,
            n_examples=n_examples,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
        )
        on_torch = evaluate(model, dataset, device=device, **common)  # type: ignore[arg-type]
        on_runtime = evaluate(target, dataset, device=device, source=model, **common)  # type: ignore[arg-type]
        targets = {"runtime": target}
        info: dict[str, Any] | None = None
        ideal = None
        describe = runtime_named(runtime).describe
        if describe is not None:
            info, extra = describe(target, path, precision)
            targets.update(extra)
            if "ideal" in extra:
                ideal = evaluate(extra["ideal"], dataset, device=device, source=model, **common)  # type: ignore[arg-type]
        n = min(on_torch.n_examples, FLIP_EXAMPLES)
        images, labels = take(dataset, list(range(n)))
        first = on_torch.attacks[0]
        checked = parity_of_each(
            model, targets, images, labels, attack=first, threat_model=on_torch.threat(), seed=seed
        )
    flips = _flips(checked["runtime"], first, n)
    return RuntimeComparison(
        runtime,
        precision,
        str(path if artifact else f"(exported on the fly) {path.name}"),
        on_torch,
        on_runtime,
        flips,
        ideal=ideal,
        ideal_flips=_flips(checked["ideal"], first, n) if "ideal" in checked else None,
        runtime_info=info,
    )


def _flips(checked: dict[str, Any], attack: str, n: int) -> dict[str, Any]:
    """Prediction flips (%) against torch, from a parity result."""
    return {
        "attack": attack,
        "n": n,
        "clean": 100.0 - checked["clean"]["top1_agreement"],
        "adversarial": 100.0 - checked["adversarial"]["top1_agreement"],
        "max_abs_diff": {
            "clean": checked["clean"]["max_abs_diff"],
            "adversarial": checked["adversarial"]["max_abs_diff"],
        },
    }
