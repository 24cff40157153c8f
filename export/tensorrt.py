"""TensorRT: an engine built from the exported ONNX graph, and a runtime target that runs it on
torch CUDA tensors. NEVER RUN: TensorRT's libraries come from NVIDIA's own index, not from
PyPI, so the test suite type-checks this module against ``tensorrt-stubs`` (``.stubs/``,
installed by ``tools/tensorrt_stubs.py``) and its engine tests are marked ``gpu`` (``python -m
pytest -m gpu`` on a CUDA machine with TensorRT).

Written for TensorRT 10 and 11 with one code path:

* Precision comes from the graph, never from builder flags. TensorRT 11 removed
  ``BuilderFlag.FP16`` / ``INT8`` and implicit calibration; a *strongly typed* network builds
  what the ONNX graph says: fp32 from ``model.onnx``, fp16 from the fp16 graph
  (``precision.to_fp16``), int8 from the explicitly quantized QDQ graph (``precision.to_int8``,
  symmetric, as TensorRT requires). ``STRONGLY_TYPED`` is required for that on 10.x and
  accepted (ignored: always on) by 11.x.
* One optimisation profile on the batch axis (min 1, opt ``opt_batch``, max ``max_batch``);
  larger batches are run in chunks.
* The int8 engine is built from the symmetric QDQ graph with per-channel weights (the same
  per-channel default as ONNX Runtime's graph).
* A timing cache (``<engine>.timing-cache`` beside the engine, or the ``timing_cache`` given)
  is read before and written after each build, so rebuilding on the same GPU skips the tactic
  timing; the build's wall time is recorded.
* The runtime binds torch CUDA tensors directly (``set_tensor_address`` +
  ``execute_async_v3``): no host copies, no pycuda. It enqueues on a stream of its own, never
  on the legacy default stream (on which TensorRT adds synchronisations of its own): that stream
  waits for the caller's current stream before a call, and the caller's stream waits for it
  after, so torch work on either side is ordered with the engine's.

An engine is tied to the TensorRT version and the GPU's compute capability that built it, so
the sidecar ``<engine>.json`` records both (with the GPU's name, for information, the model's
identity and precision) and a mismatch is refused in one line that says to rebuild.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robnetzoo._io import atomic_write, write_json
from robnetzoo.errors import InvalidInput, option

from .onnx import INPUT_NAME, OUTPUT_NAME, read_identity
from .runtimes import read_sidecar, sidecar

TENSORRT_INSTALL = (
    "TensorRT is not installed; on a CUDA machine: pip install 'robnetzoo[gpu]' "
    "(tensorrt comes from NVIDIA's index: pip install --extra-index-url https://pypi.nvidia.com tensorrt)"
)
WORKSPACE_BYTES = 4 << 30


def require_tensorrt() -> str:
    """TensorRT's version, or one line saying how to install it. (Callers then ``import
    tensorrt as trt`` themselves, so the type checker sees the real module.)"""
    try:
        import tensorrt
    except ImportError:
        raise InvalidInput(TENSORRT_INSTALL) from None
    return str(tensorrt.__version__)


def require_cuda(device: str | torch.device = "cuda") -> torch.device:
    """TensorRT runs on NVIDIA GPUs only: a CUDA device, or one line saying there is none."""
    device = torch.device(device)
    if not torch.cuda.is_available():
        raise InvalidInput(
            "TensorRT needs a CUDA GPU and none is visible here; use the onnxruntime runtime on this machine"
        )
    if device.type != "cuda":
        raise InvalidInput(f"TensorRT runs on CUDA devices, not {device}; use {option('device', 'cuda')}")
    return device


def _gpu_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device)


def _compute_capability(device: torch.device) -> str:
    major, minor = torch.cuda.get_device_capability(device)
    return f"{major}.{minor}"


def timing_cache_path(engine_path: Path) -> Path:
    return engine_path.with_name(engine_path.name + ".timing-cache")


@dataclass
class TensorRTEngine:
    """What was built: the engine file, its precision and batch profile, and the identity."""

    path: Path
    precision: str
    size_bytes: int
    identity: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "precision": self.precision,
            "size_bytes": self.size_bytes,
            "identity": self.identity,
        }


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    precision: str = "fp32",
    opt_batch: int = 64,
    max_batch: int = 256,
    workspace_bytes: int = WORKSPACE_BYTES,
    device: str | torch.device = "cuda",
    timing_cache: str | Path | None = None,
) -> TensorRTEngine:
    """Build a TensorRT engine from the exported ONNX graph ``onnx_path`` (the fp32, fp16 or QDQ
    int8 graph: ``precision`` names which, for the record), reusing and updating the timing
    cache ``timing_cache`` (default: beside the engine); see the module docstring."""
    version = require_tensorrt()
    device = require_cuda(device)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    identity = read_identity(onnx_path)
    if identity is None:
        raise InvalidInput(f"{onnx_path} was not written by robnetzoo export (no identity); export the model again")
    if not 1 <= opt_batch <= max_batch:
        raise InvalidInput(f"the batch profile needs 1 <= opt_batch <= max_batch, got {opt_batch} and {max_batch}")
    cache_path = Path(timing_cache) if timing_cache is not None else timing_cache_path(engine_path)
    cached = cache_path.read_bytes() if cache_path.is_file() else b""
    began = time.perf_counter()
    with torch.cuda.device(device):
        serialized, cache = _build(
            onnx_path, tuple(identity["input_size"]), precision, opt_batch, max_batch, workspace_bytes, cached
        )
    seconds = time.perf_counter() - began
    atomic_write(engine_path, lambda tmp: Path(tmp).write_bytes(serialized))
    atomic_write(cache_path, lambda tmp: Path(tmp).write_bytes(cache))
    record = {
        **identity,
        "precision": precision,
        "tensorrt": version,
        "compute_capability": _compute_capability(device),
        "gpu": _gpu_name(device),
        "batch_profile": {"min": 1, "opt": opt_batch, "max": max_batch},
        "onnx": onnx_path.name,
        "build_seconds": round(seconds, 1),
        "timing_cache": {"path": cache_path.name, "reused": bool(cached)},
    }
    write_json(sidecar(engine_path), record, indent=1)
    return TensorRTEngine(engine_path, precision, engine_path.stat().st_size, record)


def _build(
    onnx_path: Path,
    input_size: tuple[int, ...],
    precision: str,
    opt_batch: int,
    max_batch: int,
    workspace_bytes: int,
    cached: bytes,
) -> tuple[bytes, bytes]:
    """The serialized engine and the updated timing cache."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # from the file, so external weights are found beside it
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InvalidInput(f"TensorRT cannot parse {onnx_path}: {errors[:300]}; export it again")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == "fp32":  # fp32 means fp32: TensorRT otherwise runs fp32 convolutions as TF32 on Ampere and later
        config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    profile.set_shape(
        INPUT_NAME, trt.Dims([1, *input_size]), trt.Dims([opt_batch, *input_size]), trt.Dims([max_batch, *input_size])
    )
    config.add_optimization_profile(profile)
    cache = config.create_timing_cache(cached)  # b"": a new, empty cache
    config.set_timing_cache(cache, ignore_mismatch=False)  # a cache from another GPU or version is not used
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:  # TensorRT logged why (through the logger above)
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path} (see its log above)")
    return bytes(memoryview(serialized)), bytes(memoryview(config.get_timing_cache().serialize()))


class TensorRTTarget:
    """A TensorRT engine as an evaluator target (``logits``, ``num_classes``, ``fingerprint``),
    checked against ``model`` when given, and against this machine's TensorRT and GPU."""

    def __init__(
        self,
        path: str | Path,
        *,
        model: nn.Module | None = None,
        device: str | torch.device = "cuda",
        precision: str | None = None,
    ) -> None:
        version = require_tensorrt()
        import tensorrt as trt

        self.device = require_cuda(device)
        self.path = Path(path)
        identity = read_sidecar(self.path, model, "robnetzoo export --trt")
        if precision is not None and identity.get("precision") != precision:
            raise InvalidInput(
                f"{self.path} is a {identity.get('precision')} engine, not {precision}; "
                f"pass {option('precision', identity.get('precision'))} or export a {precision} engine"
            )
        for key, what, here in (
            ("tensorrt", "TensorRT", version),
            ("compute_capability", "compute capability", _compute_capability(self.device)),
        ):
            if identity.get(key) != here:
                raise InvalidInput(
                    f"{self.path} was built for {what} {identity.get(key)}, this is {here}; an engine runs "
                    "only where it was built: export it again here (robnetzoo export --trt)"
                )
        logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(logger)  # the engine must not outlive its runtime
        with torch.cuda.device(self.device):
            self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise InvalidInput(f"TensorRT cannot load {self.path} (truncated or corrupt); export it again")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != [INPUT_NAME] or OUTPUT_NAME not in names:
            raise InvalidInput(
                f"{self.path} has tensors {names}, not {INPUT_NAME!r} -> {OUTPUT_NAME!r}; "
                "export it again with robnetzoo export --trt"
            )
        if self.engine.get_tensor_dtype(OUTPUT_NAME) != trt.DataType.FLOAT:
            raise InvalidInput(f"{self.path} does not return fp32 logits; export it again with robnetzoo export --trt")
        self.stream = torch.cuda.Stream(self.device)  # never the legacy default stream (see the module docstring)
        self.max_batch = int(identity["batch_profile"]["max"])
        self.identity = identity
        self.precision = identity.get("precision", "fp32")
        self.name = f"{identity.get('name', self.path.stem)} (tensorrt {self.precision})"
        self.fingerprint = f"tensorrt-{self.precision}:{identity.get('fingerprint')}"
        self.num_classes = int(identity["num_classes"])

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of ``images`` (any device; fp32 on this target's GPU), ordered after the work
        already on the caller's current stream, and before the work put on it afterwards."""
        caller = torch.cuda.current_stream(self.device)
        outputs = []
        with torch.no_grad(), torch.cuda.device(self.device):
            self.stream.wait_stream(caller)  # the images are written before the engine reads them
            with torch.cuda.stream(self.stream):
                for chunk in images.split(self.max_batch):
                    # Allocated on the engine's stream: the caching allocator reuses this memory only
                    # after that stream's work (the engine's reads and writes) is done.
                    batch = chunk.to(self.device, torch.float32).contiguous()
                    out = torch.empty((len(batch), self.num_classes), dtype=torch.float32, device=self.device)
                    if not self.context.set_input_shape(INPUT_NAME, tuple(batch.shape)):
                        raise InvalidInput(f"{self.path} does not take images of shape {tuple(batch.shape)}")
                    self.context.set_tensor_address(INPUT_NAME, batch.data_ptr())
                    self.context.set_tensor_address(OUTPUT_NAME, out.data_ptr())
                    if not self.context.execute_async_v3(self.stream.cuda_stream):
                        raise RuntimeError(f"TensorRT failed to run {self.path} (see its log above)")
                    outputs.append(out)
                logits = torch.cat(outputs)
            caller.wait_stream(self.stream)  # the caller reads the logits only once they are written
            logits.record_stream(caller)  # and their memory outlives the caller's use of them
        return logits


# -- TensorRT in the runtime table (export/registry.py) ---------------------------------------


def check_tensorrt_environment(gpu: str) -> None:
    """Refuse before anything is written where TensorRT cannot run."""
    require_cuda(gpu)  # first: without a GPU, installing TensorRT would not help
    require_tensorrt()


def engine_graphs(job: Any) -> dict[str, Path]:
    """The ONNX graphs engines are built from: the job's fp32 and fp16 graphs, and TensorRT's
    own int8 form (symmetric, ``model-int8-symmetric.onnx``) from the same fp32 export."""
    from .precision import int8_graph

    written, graphs = job.onnx_graphs()
    if "int8" in graphs:
        graphs = {
            **graphs,
            "int8": int8_graph(written.path, job.folder, job.calibration, tensorrt=True, **job.int8_options),
        }
    return dict(graphs)


def export_for_tensorrt(job: Any) -> dict[str, dict[str, Any]]:
    """``model[-fp16|-int8].engine`` for each precision, built on the job's GPU, with parity."""
    from .parity import parity
    from .precision import SUFFIX

    artifacts: dict[str, dict[str, Any]] = {}
    for precision, path in engine_graphs(job).items():
        engine = build_engine(
            path, job.folder / f"model{SUFFIX[precision]}.engine", precision=precision, device=job.gpu
        )
        target = TensorRTTarget(engine.path, model=job.model, device=job.gpu)
        artifacts[f"tensorrt{SUFFIX[precision]}"] = {
            **engine.to_dict(),
            "parity": parity(job.model, target, job.images, job.labels),
            **(job.calibration_record() if precision == "int8" else {}),
        }
    return artifacts


def tensorrt_target(
    model: nn.Module,
    *,
    precision: str,
    artifact: Path | None,
    workdir: Path,
    calibration: torch.Tensor | None,
    device: str,
) -> tuple[TensorRTTarget, Path]:
    """The TensorRT target of ``artifact``, or of an engine built now into ``workdir``."""
    check_tensorrt_environment(device)
    if artifact is None:
        from .precision import onnx_graphs

        _, graphs = onnx_graphs(model, workdir, (precision,), calibration, tensorrt=True)
        artifact = build_engine(graphs[precision], workdir / "model.engine", precision=precision, device=device).path
    return TensorRTTarget(artifact, model=model, device=device, precision=precision), artifact
