"""ONNX export and the ONNX Runtime target, on a trained digits RobNet (small width): parity
with torch, judged by the one evaluator (transfer from the torch model), and the artifact's
identity and integrity checks."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from robnetzoo import evaluate  # noqa: E402
from robnetzoo.data import load_dataset  # noqa: E402
from robnetzoo.errors import InvalidInput  # noqa: E402


@pytest.fixture(scope="module")
def exported(digits_model, tmp_path_factory):
    from robnetzoo.export.onnx import export_onnx

    return export_onnx(digits_model, tmp_path_factory.mktemp("onnx") / "digits.onnx")


def test_fp32_export_matches_torch_on_clean_and_adversarial_images(digits_model, digits_batch, exported):
    import onnx

    from robnetzoo.export.parity import parity
    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    graph = onnx.load(str(exported.path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch axis
    assert not any(node.op_type == "BatchNormalization" for node in graph.node)  # folded
    target = OnnxRuntimeTarget(exported.path, model=digits_model)
    images, labels = digits_batch
    report = parity(digits_model, target, images, labels)
    assert report["clean"]["max_abs_diff"] <= 1e-4 and report["clean"]["top1_agreement"] == 100.0
    assert report["adversarial"]["max_abs_diff"] <= 1e-4 and report["adversarial"]["n"] == len(images)


def test_the_evaluator_judges_the_runtime_by_transfer_from_torch(digits_model, exported):
    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    data = load_dataset("digits", "test")
    target = OnnxRuntimeTarget(exported.path, model=digits_model)
    on_runtime = evaluate(target, data, attacks=["pgd7"], n_examples=64, source=digits_model)
    on_torch = evaluate(digits_model, data, attacks=["pgd7"], n_examples=64)
    assert on_runtime.clean_accuracy == on_torch.clean_accuracy  # fp32 parity: the same predictions
    assert on_runtime.robust_accuracy["pgd7"] == on_torch.robust_accuracy["pgd7"]  # same examples, same verdicts


def test_another_models_artifact_or_a_truncated_file_is_refused(digits_model, exported, tmp_path):
    import copy

    import torch

    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    other = copy.deepcopy(digits_model)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    with pytest.raises(InvalidInput, match="does not match .* weights differ"):
        OnnxRuntimeTarget(exported.path, model=other)
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(exported.path.read_bytes()[: exported.size_bytes // 2])
    with pytest.raises(InvalidInput, match="not a readable ONNX model"):
        OnnxRuntimeTarget(truncated)


def test_int8_and_fp16_graphs_say_what_they_are_and_int8_keeps_tensorrts_rules(
    digits_model, digits_batch, exported, tmp_path
):
    import onnx
    from onnx import numpy_helper

    from robnetzoo.export.precision import graph_precision, to_fp16, to_int8

    images, _ = digits_batch
    int8 = to_int8(exported.path, tmp_path / "int8.onnx", images[:32], symmetric=True)  # TensorRT's form
    fp16 = to_fp16(exported.path, tmp_path / "fp16.onnx")
    assert [graph_precision(p) for p in (exported.path, fp16, int8)] == ["fp32", "fp16", "int8"]
    graph = onnx.load(str(int8)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    quantize = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    assert quantize and all((constants[n.input[2]] == 0).all() for n in quantize)  # symmetric: zero point 0
    dequantized = [
        constants[n.input[0]] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in constants
    ]
    assert dequantized and all(array.dtype.name == "int8" for array in dequantized)  # no int32 biases
    with pytest.raises(InvalidInput, match=r"calibration images are \(3, 16, 16\), the model takes \(3, 32, 32\)"):
        to_int8(exported.path, tmp_path / "bad.onnx", images[:8, :, :16, :16])
    assert not (tmp_path / "bad.onnx").exists()


def test_eval_runtime_refuses_a_mislabelled_corrupt_or_foreign_artifact(digits_folder, exported, tmp_path, capsys):
    from robnetzoo.cli.app import main

    common = ["eval", str(digits_folder), "--runtime", "onnxruntime", "-a", "fgsm", "--n-examples", "8"]
    assert main([*common, "--artifact", str(exported.path), "--precision", "int8"]) == 2
    assert "is a fp32 graph, not int8; pass --precision fp32" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07not a model")
    assert main([*common, "--artifact", str(corrupt)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "export it again" in err
    assert main([*common, "--precision", "bf16"]) == 2
    assert "unknown precision 'bf16'" in capsys.readouterr().err
