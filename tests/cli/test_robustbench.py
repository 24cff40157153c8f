"""``robnetzoo eval --preset robustbench``: RobustBench's protocol and its model_info file.

RobustBench's own ``benchmark`` cannot run here (see ``robnetzoo.evaluation.robustbench``: its
PyPI release imports the GitHub-only ``autoattack`` package and downloads CIFAR through
torchvision), so the file is checked against the fields of RobustBench's
``robustbench.utils.ModelInfo`` (release 1.1.1), plus ``unreliable``, as its model_info files carry."""

from __future__ import annotations

import json

import pytest

from robnetzoo.cli.app import main
from tests.support import write_cifar10

MODEL_INFO_FIELDS = {
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "corruptions_acc",
    "corruptions_acc_3d",
    "corruptions_mce",
    "corruptions_mce_3d",
    "autoattack_acc",
    "footnote",
}
CORRUPTION_FIELDS = {"corruptions_acc", "corruptions_acc_3d", "corruptions_mce", "corruptions_mce_3d"}


def test_model_info_has_robustbench_fields_filled_from_an_autoattack_evaluation(digits_model):
    """AutoAttack breaks every example of the (cleanly trained) digits model in a few steps: seconds."""
    pytest.importorskip("pyautoattack")
    import robnetzoo
    from robnetzoo.config import config_of
    from robnetzoo.errors import InvalidInput
    from robnetzoo.evaluation.robustbench import model_info

    report = robnetzoo.evaluate(digits_model, robnetzoo.load_dataset("digits"), attacks=["autoattack"], n_examples=24)
    info = model_info(report, config_of(digits_model))
    assert set(info) == (MODEL_INFO_FIELDS - CORRUPTION_FIELDS) | {"unreliable"}
    assert (
        info["clean_acc"] == f"{report.clean_accuracy:.2f}"
        and info["autoattack_acc"] == f"{report.robust_accuracy['autoattack']:.2f}"
    )
    assert info["eps"] == "8/255" and info["architecture"] == "RobNet (C=4, 3 cells)" and info["unreliable"] is False
    assert info["link"] is None and info["venue"] is None  # not the paper's model: nothing claimed for it
    with pytest.raises(InvalidInput, match="needs an AutoAttack evaluation"):
        model_info(
            robnetzoo.evaluate(digits_model, robnetzoo.load_dataset("digits"), attacks=["fgsm"], n_examples=8),
            config_of(digits_model),
        )


@pytest.mark.slow
def test_robustbench_preset_writes_its_model_info(tmp_path, capsys):
    """About 3 minutes on 2 cores: AutoAttack spends its whole budget on a random model it cannot break."""
    pytest.importorskip("pyautoattack")
    import robnetzoo
    from robnetzoo.hub import save_pretrained

    data = write_cifar10(tmp_path / "data", n_test=12)
    model = robnetzoo.create_model("robnet-large", C=4, layers=3)
    save_pretrained(model, tmp_path / "m")
    info = tmp_path / "info.json"
    args = [
        "eval",
        str(tmp_path / "m"),
        "--preset",
        "robustbench",
        "--data-root",
        str(data / "cifar-10-batches-py"),
        "--model-info",
        str(info),
        "--json",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["attacks"] == ["autoattack"] and report["n_examples"] == 12  # all there is of the 10,000 asked
    written = json.loads(info.read_text())
    assert set(written) == (MODEL_INFO_FIELDS - CORRUPTION_FIELDS) | {"unreliable"}
    assert written["dataset"] == "cifar10" and written["eps"] == "8/255" and written["number_forward_passes"] == 1
    assert float(written["clean_acc"]) == pytest.approx(report["clean_accuracy"], abs=0.005)
    assert float(written["autoattack_acc"]) == pytest.approx(report["robust_accuracy"]["autoattack"], abs=0.005)
    assert "not comparable" in written["footnote"]  # 12 images, not RobustBench's 10,000
    assert written["link"] is None  # a derived model: not the paper's
    assert main(args) == 2  # the file is never replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_robustbench_preset_refuses_what_robustbench_does_not_cover(digits_folder, tmp_path, capsys):
    assert main(["eval", str(digits_folder), "--preset", "robustbench", "--model-info", str(tmp_path / "i.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "RobustBench covers cifar10, cifar100, imagenet; digits is not one" in err
    assert not (tmp_path / "i.json").exists()
    assert main(["eval", str(digits_folder), "--preset", "robustbench", "-a", "pgd7"]) == 2
    assert "drop --attack" in capsys.readouterr().err


def test_the_protocol_runs_from_python_and_fixes_its_own_settings(digits_model):
    """``benchmark`` is RobustBench's protocol as a library function: it refuses what the
    protocol fixes, and a data set RobustBench does not cover, before evaluating anything."""
    import robnetzoo
    from robnetzoo.errors import InvalidInput
    from robnetzoo.evaluation.robustbench import benchmark

    digits = robnetzoo.load_dataset("digits")
    with pytest.raises(InvalidInput, match="fixes attacks"):
        benchmark(digits_model, digits, attacks=["pgd20"])
    with pytest.raises(InvalidInput, match="RobustBench covers"):
        benchmark(digits_model, digits)
