import json

from PIL import Image

from robnetzoo.cli.app import main
from robnetzoo.evaluation.store import read_results_file


def test_eval_runs_the_paper_suite_end_to_end(digits_folder, tmp_path, capsys):
    output = tmp_path / "results.json"
    code = main(
        [
            "eval",
            str(digits_folder),
            "--attack",
            "paper",
            "--eps",
            "2/255",
            "--n-examples",
            "32",
            "--batch-size",
            "16",
            "--seed",
            "0",
            "--output",
            str(output),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["attacks"] == ["fgsm", "pgd20", "pgd100", "deepfool", "mifgsm"]
    assert report["n_examples"] == 32 and report["dataset"] == "digits"
    assert report["worst_case_accuracy"] <= min(report["robust_accuracy"].values())
    assert read_results_file(output)["report"]["counts"] == report["counts"]


def test_eval_table_goes_to_stdout(digits_folder, capsys):
    # results pipe and redirect: `robnetzoo eval ... > out.txt` holds the table
    assert main(["eval", str(digits_folder), "-a", "fgsm", "--eps", "0.01", "--n-examples", "16"]) == 0
    captured = capsys.readouterr()
    assert "worst case" in captured.out and "95% CI" in captured.out and "worst case" not in captured.err


def test_eval_input_errors_exit_2(digits_folder, tmp_path, capsys):
    for cls in ("a", "b"):
        (tmp_path / "val" / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / "val" / cls / "x.png")
    cases = [
        (["-a", "pgdx"], "unknown attack 'pgdx'"),
        (["--eps", "8"], "did you mean 8/255"),
        (["--eps", "abc"], "not a number"),
        (["--resume"], "--resume needs an --output file"),
        (["--dataset", "imagenet", "--data-root", str(tmp_path)], "has 2 classes but digits-robnet predicts 10"),
        (["--dataset", "cifar10", "--data-root", str(tmp_path / "none")], "cifar10 not found"),
    ]
    for extra, text in cases:
        assert main(["eval", str(digits_folder), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err, (extra, err)


def test_eval_of_a_saved_robnet_large_shows_the_paper_column(tmp_path, capsys):
    import robnetzoo
    from tests.support import write_cifar10

    folder = tmp_path / "robnet-large"
    robnetzoo.save_pretrained(robnetzoo.create_model("robnet-large"), folder)
    root = write_cifar10(tmp_path / "data")
    common = ["eval", str(folder), "-a", "fgsm", "--n-examples", "2", "--batch-size", "2", "--json"]
    assert main([*common, "--data-root", str(root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == "cifar10" and report["paper"]["natural"] == 78.57 and report["paper"]["fgsm"] == 54.98
    # the paper's numbers are CIFAR-10 at Linf 8/255: another eps gets no paper column
    assert main([*common, "--data-root", str(root), "--eps", "4/255"]) == 0
    assert json.loads(capsys.readouterr().out)["paper"] == {}


def test_eval_l2_threat_model(digits_folder, tmp_path, capsys):
    output = tmp_path / "l2.json"
    code = main(
        [
            "eval",
            str(digits_folder),
            "--norm",
            "L2",
            "--eps",
            "0.5",
            "--attack",
            "pgdl2",
            "--n-examples",
            "16",
            "--output",
            str(output),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["threat_model"] == {"norm": "L2", "eps": 0.5} and report["attacks"] == ["pgdl2"]
    assert read_results_file(output)["header"]["threat_model"] == {"norm": "L2", "eps": 0.5}
    assert main(["eval", str(digits_folder), "--norm", "L2", "--eps", "1.5", "-a", "pgdl2", "--n-examples", "8"]) == 0
    assert "L2 eps=1.5" in capsys.readouterr().out
    # autoattack under L2 fails only for the missing extra, never with a Linf complaint
    code = main(["eval", str(digits_folder), "--norm", "L2", "--attack", "autoattack", "--n-examples", "8"])
    err = capsys.readouterr().err
    try:
        import pyautoattack  # noqa: F401
    except ImportError:
        assert code == 2 and "robnetzoo[autoattack]" in err and "Linf" not in err
    assert main(["eval", str(digits_folder), "--norm", "L2", "-a", "pgd20", "--n-examples", "8"]) == 2
    assert "cannot serve the L2 threat model" in capsys.readouterr().err
