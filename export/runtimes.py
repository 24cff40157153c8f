"""Deployment runtimes as evaluator targets: anything with ``logits``, ``num_classes`` and
``fingerprint`` is judged by ``robnetzoo.evaluate`` like a torch model (gradient attacks come
from a torch ``source`` model: transfer; score-based attacks read the runtime's logits).

``OnnxRuntimeTarget``: an ONNX file run by ONNX Runtime (CPU, or the CUDA execution provider
where onnxruntime-gpu is installed). It checks the file against the model it stands for (the
identity ``export_onnx`` records: fingerprint, classes, input size) when given one. On CUDA it
binds torch's CUDA tensors in place (IO binding): images and logits never pass through the
host. The CUDA path has never run (no test with onnxruntime-gpu has); ``python -m pytest -m gpu``
on a CUDA machine with onnxruntime-gpu would run it.

Every session sets ``session.x64quantprecision=1`` (``precise_int8``): without it, int8 graphs
on x86 CPUs without VNNI run with saturating 16-bit sums (see ``export.host``). The options a
session ran with are kept in ``session_options``, so every report can print them. With
``optimize=False`` no graph optimisation runs: a QDQ graph is then computed in float, each
QuantizeLinear/DequantizeLinear pair rounding its tensor, which is the *ideal* int8 result that
the kernels' figures are compared against.

On CPU a large batch is run as sub-batches of ``CPU_SUB_BATCH`` images (``sub_batch``; None
runs it whole): on full-size robnet-large at batch 64 on 2 cores, sub-batches of 8 or 16 ran
3.13x torch eager against 2.68x for the whole batch, with less memory, in the same run of
``benchmarks/runtime_throughput.py`` (sub-batches of 32 ran 3.05x).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robnetzoo._io import read_json
from robnetzoo.errors import InvalidInput, MissingDependency, option

from .host import PRECISE_INT8_OPTION
from .onnx import INPUT_NAME, OUTPUT_NAME, model_identity, read_identity

CPU_SUB_BATCH = 16


def disabled_optimizers_for(path: str | Path) -> list[str]:
    """The ONNX Runtime graph optimisers a session of ``path`` must leave out.

    An int8 graph with nodes kept in float (``to_int8(keep_float=...)``) between quantized ones
    has a DequantizeLinear before such a node and a QuantizeLinear after it; ONNX Runtime's
    ``WeightBiasQuantization`` (1.20 and later) then quantizes the node's float weights itself
    and fuses it into a QLinearConv, undoing the choice. Measured on robnet-large: every
    depthwise convolution kept in float ran as QLinearConv until this optimiser was left out."""
    from .precision import read_int8_recipe

    try:
        recipe = read_int8_recipe(path)
    except Exception:  # not readable as ONNX here: the session's own load reports it
        return []
    return ["WeightBiasQuantization"] if recipe and recipe.get("keep_float") else []


class OnnxRuntimeTarget:
    """ONNX Runtime running ``path``; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        model: nn.Module | None = None,
        device: str = "cpu",
        threads: int | None = None,
        precise_int8: bool = True,
        optimize: bool = True,
        sub_batch: int | None | str = "auto",
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependency(
                "the ONNX Runtime target needs onnxruntime: pip install 'robnetzoo[onnx]' "
                "(onnxruntime-gpu instead on a CUDA machine)"
            ) from None
        self.path = Path(path)
        identity = read_identity(self.path)
        if model is not None:
            check_matches(identity, model_identity(model), self.path)
        providers: list[Any] = ["CPUExecutionProvider"]
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise InvalidInput(
                    "ONNX Runtime here has no CUDA execution provider; on a CUDA machine install "
                    f"onnxruntime-gpu in place of onnxruntime, or run with {option('device', 'cpu')}"
                )
            providers = [("CUDAExecutionProvider", {"device_id": self.device.index or 0}), "CPUExecutionProvider"]
        if sub_batch == "auto":
            sub_batch = CPU_SUB_BATCH if self.device.type == "cpu" else None
        if sub_batch is not None and (not isinstance(sub_batch, int) or sub_batch < 1):
            raise InvalidInput(f"sub_batch must be a whole number of at least 1, 'auto' or None, got {sub_batch!r}")
        self.sub_batch: int | None = sub_batch
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        if precise_int8:
            options.add_session_config_entry(PRECISE_INT8_OPTION, "1")
        if not optimize:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        disabled = disabled_optimizers_for(self.path)
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=providers, disabled_optimizers=disabled
            )
        except Exception as exc:  # ONNX Runtime's own InvalidGraph / Fail: a corrupt file
            raise InvalidInput(
                f"ONNX Runtime cannot load {self.path} ({str(exc).splitlines()[0][:200]}); export it again"
            ) from None
        self.identity = identity or {}
        self.precise_int8, self.optimize = precise_int8, optimize
        applied = self.session.get_session_options()
        self.session_options = {
            "graph_optimization_level": str(applied.graph_optimization_level).rsplit(".", 1)[-1],
            "intra_op_num_threads": applied.intra_op_num_threads or "default (one per core)",
            PRECISE_INT8_OPTION: _config_entry(applied, PRECISE_INT8_OPTION) or "0 (default)",
            "providers": self.session.get_providers(),
            **({"disabled_optimizers": disabled} if disabled else {}),
            **({"sub_batch": sub_batch} if sub_batch else {}),
        }
        self.name = f"{self.identity.get('name', self.path.stem)} (onnxruntime{'' if optimize else ', unoptimised'})"
        self.fingerprint = f"onnx:{self.identity.get('fingerprint', self.path.stem)}"
        self.num_classes = int(self.identity.get("num_classes") or self.session.get_outputs()[0].shape[1])

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        if self.sub_batch is not None and len(images) > self.sub_batch:
            return torch.cat([self.logits_of_batch(part) for part in images.split(self.sub_batch)])
        return self.logits_of_batch(images)

    def logits_of_batch(self, images: torch.Tensor) -> torch.Tensor:
        """One ``session.run`` (``logits`` splits a batch into ``sub_batch`` parts first)."""
        if self.device.type == "cuda":
            return self._logits_bound(images)
        array = np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy())
        (out,) = self.session.run(None, {INPUT_NAME: array})
        return torch.from_numpy(out)

    def _logits_bound(self, images: torch.Tensor) -> torch.Tensor:
        """CUDA: ONNX Runtime reads and writes torch's device memory directly."""
        batch = images.detach().to(self.device, torch.float32).contiguous()
        out = torch.empty((len(batch), self.num_classes), dtype=torch.float32, device=self.device)
        torch.cuda.current_stream(self.device).synchronize()  # ONNX Runtime runs on its own stream
        binding = self.session.io_binding()
        index = self.device.index or 0
        binding.bind_input(INPUT_NAME, "cuda", index, np.float32, tuple(batch.shape), batch.data_ptr())
        binding.bind_output(OUTPUT_NAME, "cuda", index, np.float32, tuple(out.shape), out.data_ptr())
        self.session.run_with_iobinding(binding)  # returns once the outputs are written
        return out


def _config_entry(options: Any, key: str) -> str | None:
    """A session config entry as the session holds it (None when unset: ONNX Runtime raises)."""
    try:
        return str(options.get_session_config_entry(key))
    except RuntimeError:
        return None


def sidecar(path: Path) -> Path:
    """``<artifact>.json``: the identity of an artifact with no metadata slot (``.pt2``, ``.engine``)."""
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path, model: nn.Module | None, export_hint: str) -> dict[str, Any]:
    """The identity beside ``path``, checked against ``model`` when given; one line if missing."""
    identity: dict[str, Any] = read_json(
        sidecar(path),
        "export's identity sidecar",
        expect=dict,
        fix=f"export the model again ({export_hint})",
        missing=f"{path} has no {sidecar(path).name} beside it: not a robnetzoo export; "
        f"export the model again ({export_hint})",
    )
    if model is not None:
        check_matches(identity, model_identity(model), path)
    return identity


def check_matches(identity: dict[str, Any] | None, expected: dict[str, Any], path: Path) -> None:
    """One line naming what differs between an artifact and the model it should stand for."""
    if identity is None:
        raise InvalidInput(f"{path} was not written by robnetzoo export (no identity); export the model again")
    for key, what in (("num_classes", "classes"), ("input_size", "input size"), ("fingerprint", "weights")):
        if expected.get(key) is not None and identity.get(key) != expected[key]:
            raise InvalidInput(
                f"{path} does not match {expected['name']}: its {what} differ ({identity.get(key)} vs "
                f"{expected[key]}); "
                "export this model again"
            )


# -- ONNX Runtime in the runtime table (export/registry.py) -----------------------------------


def onnxruntime_parity(
    model: nn.Module, graphs: dict[str, Path], images: torch.Tensor, labels: torch.Tensor
) -> dict[str, dict[str, Any]]:
    """Parity of each ONNX graph (by precision) on ONNX Runtime, all on the same adversarial
    examples; int8 beside its ideal (in float) and default-session figures, with the kernel
    that ran and the session options."""
    from .host import int8_kernel, saturation_warning
    from .parity import parity_of_each

    targets = {precision: OnnxRuntimeTarget(path, model=model) for precision, path in graphs.items()}
    judged = {f"{precision}": target for precision, target in targets.items()}
    if "int8" in graphs:
        judged["int8 ideal"] = OnnxRuntimeTarget(graphs["int8"], optimize=False)  # the QDQ graph computed in float
        judged["int8 default session"] = OnnxRuntimeTarget(graphs["int8"], precise_int8=False)
    results = parity_of_each(model, judged, images, labels)
    entries = {
        precision: {"session_options": target.session_options, "parity": results[precision]}
        for precision, target in targets.items()
    }
    if "int8" in graphs:
        warning = saturation_warning()
        entries["int8"].update(
            ideal_int8_parity=results["int8 ideal"],
            default_session_parity=results["int8 default session"],
            int8_kernel=int8_kernel(precise=targets["int8"].precise_int8),
            default_session_int8_kernel=int8_kernel(precise=False),
            warnings=[warning] if warning else [],
        )
    return entries


def export_for_onnxruntime(job: Any) -> dict[str, dict[str, Any]]:
    """``model.onnx`` (and ``model-fp16.onnx``, ``model-int8.onnx``) with their parity on ONNX
    Runtime, fp16's range losses and int8's recipe; ``quantization_debug.json`` on request."""
    from .precision import SUFFIX, fp16_range, read_int8_recipe

    written, graphs = job.onnx_graphs()
    judged = onnxruntime_parity(job.model, graphs, job.images, job.labels)
    artifacts: dict[str, dict[str, Any]] = {}
    for precision, path in graphs.items():
        entry = {
            **written.to_dict(),
            "path": str(path),
            "size_bytes": path.stat().st_size,
            "precision": precision,
            **judged[precision],
        }
        if precision == "int8":
            entry.update(job.calibration_record(), quantization=read_int8_recipe(path))
            job.warnings += entry["warnings"]
        if precision == "fp16":
            entry["fp16_range"] = fp16_range(written.path)
            if entry["fp16_range"]["overflow"] or entry["fp16_range"]["flushed"]:
                job.warnings.append(
                    f"fp16: {entry['fp16_range']['overflow']} weights beyond 65504 are clipped and "
                    f"{entry['fp16_range']['flushed']} below 2^-24 become 0"
                )
        artifacts[f"onnx{SUFFIX[precision]}"] = entry
    if job.quantization_debug:
        from robnetzoo._io import write_json

        from .quant_debug import DEBUG_FILE, quantization_error

        debug = quantization_error(written.path, graphs["int8"], job.images[:32])
        write_json(job.folder / DEBUG_FILE, debug, indent=1)
        artifacts["onnx-int8"]["quantization_debug"] = {
            "path": str(job.folder / DEBUG_FILE),
            "worst_tensors": debug["tensors"][:5],
        }
    return artifacts


def onnxruntime_target(
    model: nn.Module,
    *,
    precision: str,
    artifact: Path | None,
    workdir: Path,
    calibration: torch.Tensor | None,
    device: str,
) -> tuple[OnnxRuntimeTarget, Path]:
    """The ONNX Runtime target of ``artifact`` (checked to be ``model``'s graph at
    ``precision``), or of a graph exported now into ``workdir``."""
    from .precision import graph_precision, onnx_graphs

    path = artifact if artifact is not None else onnx_graphs(model, workdir, (precision,), calibration)[1][precision]
    target = OnnxRuntimeTarget(path, model=model, device=device)  # checks the file is this model's first
    actual = graph_precision(path)
    if actual != precision:
        raise InvalidInput(f"{path} is a {actual} graph, not {precision}", fix=f"pass {option('precision', actual)}")
    return target, path


def describe_onnxruntime(
    target: OnnxRuntimeTarget, path: Path, precision: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The host and session options of a comparison; for int8, the kernel that ran, the
    saturation warning where it applies, and the same graph computed in float (``ideal``)."""
    from .host import cpu, int8_kernel, saturation_warning

    info: dict[str, Any] = {"host": cpu(), "session_options": target.session_options, "warnings": []}
    extra: dict[str, Any] = {}
    if precision == "int8":
        extra["ideal"] = OnnxRuntimeTarget(path, optimize=False)
        warning = saturation_warning()
        info.update(int8_kernel=int8_kernel(precise=target.precise_int8), warnings=[warning] if warning else [])
    return info, extra
