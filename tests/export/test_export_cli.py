"""``robnetzoo export`` from the command line: the report on stdout, the folder rules, and
TensorRT's absence said in one line."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from robnetzoo.cli.app import main  # noqa: E402


def test_export_onnx_reports_parity_and_guards_its_folder(digits_folder, tmp_path, capsys):
    folder = tmp_path / "exported"
    assert main(["export", str(digits_folder), "--onnx", "-o", str(folder), "--parity-n", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    onnx = report["artifacts"]["onnx"]
    assert onnx["opset"] == 18 and (folder / "model.onnx").stat().st_size == onnx["size_bytes"]
    assert onnx["parity"]["clean"]["max_abs_diff"] <= 1e-4 and onnx["parity"]["clean"]["top1_agreement"] == 100.0
    assert report["parity_data"] == {"dataset": "digits", "split": "test", "n": 32}
    assert json.loads((folder / "export_report.json").read_text()) == report

    before = (folder / "model.onnx").read_bytes()
    assert main(["export", str(digits_folder), "--onnx", "-o", str(folder)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (folder / "model.onnx").read_bytes() == before

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "export_report.json").write_text(json.dumps({"identity": {"name": "other", "fingerprint": "x"}}))
    assert main(["export", str(digits_folder), "--onnx", "-o", str(stranger), "--overwrite"]) == 2
    assert "export of another model (other)" in capsys.readouterr().err


def test_trt_without_tensorrt_is_one_line_with_the_install_command(digits_folder, tmp_path, capsys):
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    assert main(["export", str(digits_folder), "--trt", "-o", str(tmp_path / "trt")]) == 2
    err = capsys.readouterr().err.strip()
    if torch.cuda.is_available():  # a GPU and no TensorRT: installing it is the fix
        assert len(err.splitlines()) == 1 and "TensorRT is not installed" in err and "pip install" in err
    else:  # no GPU: installing TensorRT would not help, so the GPU is what the line names
        assert len(err.splitlines()) == 1 and "needs a CUDA GPU" in err and "pip install" not in err
    assert not (tmp_path / "trt").exists()


@pytest.mark.slow
def test_aoti_package_matches_torch_and_is_judged_by_the_evaluator(digits_model, tmp_path):
    """AOTInductor compiles for about 40 s on 2 cores: slow."""
    from robnetzoo import evaluate
    from robnetzoo.data import load_dataset
    from robnetzoo.export.aoti import AotiTarget, export_aoti

    package = export_aoti(digits_model, tmp_path / "model.pt2")
    target = AotiTarget(package.path, model=digits_model)
    data = load_dataset("digits", "test")
    on_runtime = evaluate(target, data, attacks=["pgd7"], n_examples=64, source=digits_model)
    on_torch = evaluate(digits_model, data, attacks=["pgd7"], n_examples=64)
    assert on_runtime.clean_accuracy == on_torch.clean_accuracy
    assert on_runtime.robust_accuracy["pgd7"] == on_torch.robust_accuracy["pgd7"]


def test_a_package_without_its_identity_is_refused(digits_model, tmp_path):
    from robnetzoo.errors import NotFound
    from robnetzoo.export.aoti import AotiTarget

    package = tmp_path / "model.pt2"
    package.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(NotFound, match=r"no model.pt2.json beside it.*robnetzoo export --aoti"):
        AotiTarget(package, model=digits_model)
