"""TensorRT. It installs from NVIDIA's index only, so what runs everywhere is: the module
type-checked by mypy against tensorrt-stubs (.stubs/, tools/tensorrt_stubs.py), no API that TensorRT 11 removed, and its
absence (or CUDA's) said in one line. The engine build and runtime tests are ``gpu`` and have
never run; they run on a CUDA machine with TensorRT."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robnetzoo.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "export" / "tensorrt.py"
# Weak typing and implicit calibration, gone in TensorRT 11 (its 10.x -> 11.x migration guide)
REMOVED_IN_11 = {
    "FP16",
    "INT8",
    "FP8",
    "BF16",
    "INT4",
    "FP4",
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
    "DIRECT_IO",
    "int8_calibrator",
    "set_calibration_profile",
    "platform_has_fast_fp16",
    "platform_has_fast_int8",
    "IInt8EntropyCalibrator2",
    "set_quantization_flag",
    "device_memory_size",
    "execute_async_v2",
    "build_engine",
    "max_workspace_size",
}


def _tensorrt_installed() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.policy
def test_tensorrt_code_type_checks_against_the_stubs():
    pytest.importorskip("mypy")
    if not (ROOT / ".stubs" / "tensorrt").is_dir():  # .ci/run installs them before the tests
        pytest.skip("the TensorRT stubs are not installed: python tools/tensorrt_stubs.py")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", str(MODULE.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


@pytest.mark.policy
def test_no_tensorrt_api_that_version_11_removed():
    tree = ast.parse(MODULE.read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not used & REMOVED_IN_11, f"TensorRT 11 removed {sorted(used & REMOVED_IN_11)}"
    assert "STRONGLY_TYPED" in used  # precision comes from the graph on 10.x as on 11.x


@pytest.mark.skipif(_tensorrt_installed(), reason="TensorRT is installed here")
def test_without_tensorrt_building_or_loading_is_one_line(tmp_path):
    from robnetzoo.export.tensorrt import TensorRTTarget, build_engine

    for call in (
        lambda: build_engine(tmp_path / "model.onnx", tmp_path / "model.engine"),
        lambda: TensorRTTarget(tmp_path / "model.engine"),
    ):
        with pytest.raises(InvalidInput, match="TensorRT is not installed.*pip install") as caught:
            call()
        assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())


needs_tensorrt = pytest.mark.skipif(
    not (_tensorrt_installed() and torch.cuda.is_available()), reason="needs TensorRT and a CUDA GPU"
)


@pytest.mark.gpu
@needs_tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_parity_with_torch(digits_model, digits_batch, tmp_path, precision):
    """fp32 matches torch like ONNX Runtime does; fp16 and int8 are reported, with loose sanity bounds."""
    from robnetzoo.export.parity import parity
    from robnetzoo.export.precision import onnx_graphs
    from robnetzoo.export.tensorrt import TensorRTTarget, build_engine

    images, labels = digits_batch
    _, graphs = onnx_graphs(digits_model, tmp_path, (precision,), images, tensorrt=True)
    engine = build_engine(graphs[precision], tmp_path / "model.engine", precision=precision, max_batch=64)
    target = TensorRTTarget(engine.path, model=digits_model, precision=precision)
    report = parity(digits_model, target, images, labels)
    with torch.no_grad():
        scale = float(digits_model(images).abs().max())  # GPU kernels sum in other orders: a relative bound
    if precision == "fp32":
        assert report["clean"]["max_abs_diff"] <= 1e-4 * max(scale, 1.0) and report["clean"]["top1_agreement"] == 100.0
    else:
        assert report["clean"]["top1_agreement"] >= 80.0
    assert target.logits(torch.cat([images] * 3)).shape == (3 * len(images), target.num_classes)  # > max_batch: chunks
    with pytest.raises(InvalidInput, match="engine, not"):
        TensorRTTarget(engine.path, model=digits_model, precision="fp16" if precision != "fp16" else "fp32")
    assert engine.identity["build_seconds"] > 0 and not engine.identity["timing_cache"]["reused"]
    rebuilt = build_engine(
        graphs[precision],
        tmp_path / "again.engine",
        precision=precision,
        max_batch=64,
        timing_cache=tmp_path / "model.engine.timing-cache",
    )
    assert rebuilt.identity["timing_cache"]["reused"]


@pytest.mark.gpu
@needs_tensorrt
def test_eval_runtime_tensorrt_from_the_cli(digits_folder, capsys):
    import json

    from robnetzoo.cli.app import main

    assert (
        main(
            [
                "eval",
                str(digits_folder),
                "--runtime",
                "tensorrt",
                "--device",
                "cuda",
                "-a",
                "pgd7",
                "--n-examples",
                "24",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["flips"]["clean"] == 0.0 and "tensorrt" in result["on_runtime"]["model"]
