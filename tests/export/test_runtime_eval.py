"""``robnetzoo eval --runtime``: torch and the runtime side by side, from the command line.
(fp32 runtime = torch, exactly, is checked through the evaluator in test_onnx.py.)"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from robnetzoo.cli.app import main  # noqa: E402

COMMON = ["-a", "pgd7", "--n-examples", "24", "--json"]


@pytest.mark.slow
def test_int8_on_onnxruntime_beside_torch(digits_folder, capsys):
    args = ["eval", str(digits_folder), "--runtime", "onnxruntime", "--precision", "int8",
            "--calibration-data", "digits", "--calibration-n", "32", "-a", "square50", *COMMON]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    torch_side, runtime_side = result["torch"], result["on_runtime"]
    assert result["precision"] == "int8" and torch_side["n_examples"] == runtime_side["n_examples"] == 24
    assert "onnxruntime" in runtime_side["model"]
    # Square queried the int8 runtime itself (score-based), not the torch model
    assert runtime_side["attacks"] == ["square50", "pgd7"] or set(runtime_side["attacks"]) == {"square50", "pgd7"}
    assert 0 <= runtime_side["robust_accuracy"]["square50"] <= runtime_side["clean_accuracy"]
    # int8 is not exact: report what it did, and check the numbers hang together
    flips = result["flips"]
    assert 0 <= flips["clean"] <= 100 and 0 <= flips["adversarial"] <= 100 and flips["n"] == 24
    assert flips["max_abs_diff"]["clean"] > 1e-6  # really quantized, not the fp32 graph
    assert abs(runtime_side["clean_accuracy"] - torch_side["clean_accuracy"]) <= flips["clean"] + 1e-9


def test_runtime_bad_inputs_are_one_line(digits_folder, capsys):
    assert main(["eval", str(digits_folder), "--runtime", "onnxruntime", "--precision", "int8"]) == 2
    assert "int8 needs calibration images" in capsys.readouterr().err
    assert main(["eval", str(digits_folder), "--runtime", "aoti", "--precision", "fp16"]) == 2
    assert "aoti runtime runs fp32" in capsys.readouterr().err
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert main(["eval", str(digits_folder), "--runtime", "tensorrt"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "TensorRT is not installed" in err


@pytest.mark.slow
def test_aoti_beside_torch(digits_folder, capsys):
    """AOTInductor compiles for about 40 s on 2 cores: slow."""
    assert main(["eval", str(digits_folder), "--runtime", "aoti", *COMMON]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["flips"]["clean"] == 0.0
    assert result["on_runtime"]["robust_accuracy"] == result["torch"]["robust_accuracy"]
