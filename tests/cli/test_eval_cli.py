import json

from PIL import Image

from robnetzoo.cli.app import main


def test_eval_runs_the_paper_suite_end_to_end(digits_folder, tmp_path, capsys):
    output = tmp_path / "results.json"
    code = main(["eval", str(digits_folder), "--attack", "paper", "--eps", "2/255", "--n-examples", "32",
                 "--batch-size", "16", "--seed", "0", "--output", str(output), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["attacks"] == ["fgsm", "pgd20", "pgd100", "deepfool", "mifgsm"]
    assert report["n_examples"] == 32 and report["dataset"] == "digits"
    assert report["worst_case_accuracy"] <= min(report["robust_accuracy"].values())
    assert json.loads(output.read_text())["report"]["counts"] == report["counts"]


def test_eval_table_on_stderr(digits_folder, capsys):
    assert main(["eval", str(digits_folder), "-a", "fgsm", "--eps", "0.01", "--n-examples", "16"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "worst case" in captured.err and "95% CI" in captured.err


def test_eval_input_errors_exit_2(digits_folder, tmp_path, capsys):
    for cls in ("a", "b"):
        (tmp_path / "val" / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / "val" / cls / "x.png")
    cases = [
        (["-a", "pgdx"], "unknown attack 'pgdx'"),
        (["--eps", "8"], "did you mean 8/255"),
        (["--eps", "abc"], "not a number"),
        (["--resume"], "--resume needs --output"),
        (["--dataset", "imagenet", "--data-root", str(tmp_path)], "has 2 classes but digits-robnet predicts 10"),
        (["--dataset", "cifar10", "--data-root", str(tmp_path / "none")], "cifar10 not found"),
    ]
    for extra, text in cases:
        assert main(["eval", str(digits_folder), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err, (extra, err)
