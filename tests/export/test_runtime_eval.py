"""``robnetzoo eval --runtime``: torch and the runtime side by side, from the command line.
(fp32 runtime = torch, exactly, is checked through the evaluator in test_onnx.py.)"""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from robnetzoo.cli.app import main  # noqa: E402

COMMON = ["-a", "pgd7", "--n-examples", "24", "--json"]


@pytest.mark.slow
def test_int8_on_onnxruntime_beside_torch(digits_folder, tmp_path, capsys):
    import numpy as np
    import onnxruntime

    import robnetzoo
    from robnetzoo.export.onnx import INPUT_NAME

    export = tmp_path / "export"
    assert (
        main(
            [
                "export",
                str(digits_folder),
                "--onnx",
                "--precision",
                "int8",
                "--calibration-data",
                "digits",
                "--calibration-n",
                "32",
                "--parity-n",
                "8",
                "-o",
                str(export),
            ]
        )
        == 0
    )
    capsys.readouterr()
    graph = export / "model-int8.onnx"
    n = 128  # enough test images that int8 changes some predictions (the recomputation below must see them)
    args = [
        "eval",
        str(digits_folder),
        "--runtime",
        "onnxruntime",
        "--precision",
        "int8",
        "--artifact",
        str(graph),
        "-a",
        "square50",
        "-a",
        "pgd7",
        "--n-examples",
        str(n),
        "--json",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    torch_side, runtime_side = result["torch"], result["on_runtime"]
    assert result["precision"] == "int8" and torch_side["n_examples"] == runtime_side["n_examples"] == n
    assert "onnxruntime" in runtime_side["model"] and set(runtime_side["attacks"]) == {"square50", "pgd7"}

    # the clean flip rate and accuracy, recomputed here with a plain ONNX Runtime session (exact int8 sums)
    images, labels = robnetzoo.load_dataset("digits").batch(0, n)
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.x64quantprecision", "1")
    session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    on_runtime = session.run(None, {INPUT_NAME: images.numpy()})[0].argmax(1)
    on_torch = robnetzoo.from_pretrained(digits_folder)(images).argmax(1).numpy()
    flips = result["flips"]
    assert flips["n"] == n and (on_runtime != on_torch).any(), "int8 changed no prediction: the check would be void"
    assert flips["clean"] == pytest.approx(100 * float(np.mean(on_runtime != on_torch)))
    assert runtime_side["clean_accuracy"] == pytest.approx(100 * float(np.mean(on_runtime == labels.numpy())))
    assert flips["max_abs_diff"]["clean"] > 1e-6  # really quantized, not the fp32 graph
    # beside it, the same graph computed in float, and what ran
    assert result["ideal"]["n_examples"] == n and abs(result["ideal_flips"]["clean"] - flips["clean"]) <= 3.0
    info = result["runtime_info"]
    assert info["session_options"]["session.x64quantprecision"] == "1" and info["int8_kernel"]["saturates"] is False


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
        wanted = "TensorRT is not installed" if torch.cuda.is_available() else "needs a CUDA GPU"
        assert len(err.splitlines()) == 1 and wanted in err


@pytest.mark.slow
def test_aoti_beside_torch(digits_folder, capsys):
    """AOTInductor compiles for about 40 s on 2 cores: slow."""
    assert main(["eval", str(digits_folder), "--runtime", "aoti", *COMMON]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["flips"]["clean"] == 0.0
    assert result["on_runtime"]["robust_accuracy"] == result["torch"]["robust_accuracy"]


def test_a_runtime_is_one_registration(digits_model, tmp_path, monkeypatch):
    """A new runtime (here: torch itself behind a file, as a stand-in) registered with one
    ``Runtime`` line is exported by ``export_model`` and judged by ``evaluate_on_runtime``
    with no other change."""
    import torch

    import robnetzoo
    from robnetzoo.errors import InvalidInput
    from robnetzoo.export import evaluate_on_runtime, export_model, registry
    from robnetzoo.export.parity import parity

    class FileTarget:
        def __init__(self, path, model):
            self.path, self.model = path, model.eval()
            self.num_classes, self.fingerprint, self.name = 10, f"file:{path.read_text()}", "file"

        def logits(self, images):
            with torch.no_grad():
                return self.model(images)

    def export(job):
        path = job.folder / "model.file"
        path.write_text("digits")
        return {
            "file": {
                "path": str(path),
                "parity": parity(job.model, FileTarget(path, job.model), job.images, job.labels),
            }
        }

    def target(model, *, precision, artifact, workdir, calibration, device):
        path = artifact or workdir / "model.file"
        if artifact is None:
            path.write_text("digits")
        return FileTarget(path, model), path

    runtime = registry.Runtime("file", "file", ("fp32",), False, export, target)
    monkeypatch.setitem(registry.RUNTIMES, "file", runtime)
    monkeypatch.setitem(registry.FORMATS, "file", runtime)
    report = export_model(digits_model, tmp_path / "out", formats=("file",), parity_n=16)
    assert list(report.artifacts) == ["file"] and report.artifacts["file"]["parity"]["clean"]["top1_agreement"] == 100
    result = evaluate_on_runtime(
        digits_model, robnetzoo.load_dataset("digits"), runtime="file", attacks=["fgsm"], n_examples=16
    )
    assert result.on_runtime.robust_accuracy["fgsm"] == result.torch.robust_accuracy["fgsm"]  # the same network
    with pytest.raises(InvalidInput, match="runs fp32 artifacts"):
        evaluate_on_runtime(digits_model, robnetzoo.load_dataset("digits"), runtime="file", precision="fp16")
