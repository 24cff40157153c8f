"""A new user's first commands and the ways they fail each as the user typed it."""

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import robnetzoo
from robnetzoo.cli.app import main
from robnetzoo.errors import RobnetzooError
from robnetzoo.evaluation.store import read_results_file
from tests.support import authors_checkpoint, write_cifar10
from tests.support.hubserver import HubServer

ROBNETZOO = [sys.executable, "-m", "robnetzoo.cli.app"]


def _one_line_exit_2(argv, capsys, *fragments):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert "Traceback" not in err and "internal error" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# ---------------------------------------------------------------- 1. the card's usage


def test_eval_of_an_unpublished_model_fails_at_once_and_names_the_ways_forward(capsys, monkeypatch):
    with HubServer({}) as hub:  # a reachable Hub that must not even be asked
        monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", hub.url)
        began = time.perf_counter()
        err = _one_line_exit_2(
            ["eval", "robnet-large", "--attack", "pgd20"],
            capsys,
            "RobNet_large_v1_cifar10.pth.tar",
            "--weights",
            "robnetzoo convert",
            "github.com/gmh14/RobNets",
        )
        assert time.perf_counter() - began < 10
        assert not any("robnet-large" in r for r in hub.requests), hub.requests
    assert "download it once with network access" not in err


def test_eval_with_the_authors_checkpoint_converts_on_the_fly(layout, tmp_path, capsys):
    checkpoint = tmp_path / "RobNet_large_v1_cifar10.pth.tar"
    torch.save(authors_checkpoint(layout, "RobNet_large_v1_cifar10", "module."), checkpoint)
    root = write_cifar10(tmp_path / "data")
    code = main(
        [
            "eval",
            "robnet-large",
            "--weights",
            str(checkpoint),
            "--data-root",
            str(root),
            "-a",
            "fgsm",
            "--n-examples",
            "2",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["model"] == "robnet-large" and report["paper"]["natural"] == 78.57
    for command in ("eval", "export"):  # export takes --weights as eval does
        _one_line_exit_2(
            [command, str(tmp_path), "--weights", str(checkpoint), "--onnx"][: 4 if command == "eval" else 5],
            capsys,
            "--weights takes an authors' checkpoint",
        )


# ---------------------------------------------------------------- 2. silent data loss


def test_an_existing_results_file_is_never_overwritten_without_a_flag(digits_folder, tmp_path, capsys):
    keep = tmp_path / "keep.json"
    assert (
        main(["eval", str(digits_folder), "-a", "pgd7", "--eps", "2/255", "--n-examples", "24", "-o", str(keep)]) == 0
    )
    before = keep.read_bytes()
    capsys.readouterr()
    err = _one_line_exit_2(
        ["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "8", "-o", str(keep)],
        capsys,
        "already exists",
        "--resume",
        "--overwrite",
    )
    assert keep.read_bytes() == before
    # a resume with other settings refuses without advising to drop --resume
    err = _one_line_exit_2(
        ["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "8", "-o", str(keep), "--resume"],
        capsys,
        "cannot resume",
    )
    assert "drop --resume" not in err and keep.read_bytes() == before
    assert main(["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "8", "-o", str(keep), "--overwrite"]) == 0
    assert read_results_file(keep)["header"]["attacks"] == ["fgsm"]


# ---------------------------------------------------------------- 3 + 6. Ctrl-C, then resume with a smaller batch


def test_ctrl_c_says_what_was_saved_and_resume_with_a_smaller_batch_matches(digits_folder, tmp_path, capsys):
    results = tmp_path / "run.json"
    args = ["eval", str(digits_folder), "-a", "pgd20", "--eps", "2/255", "--n-examples", "96", "--seed", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # A Ctrl-C in a terminal reaches a process whose SIGINT disposition is the default one; a
    # test suite started in the background (`.ci/run &`) inherits SIGINT *ignored*, and Python
    # then installs no KeyboardInterrupt handler: restore the default in the child.
    process = subprocess.Popen(
        [*ROBNETZOO, *args, "--batch-size", "8", "-o", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if read_results_file(results)["results"]["pgd20"].count("-") < 96:
                break
        except RobnetzooError:  # not written yet
            pass
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted" in err and f"saved in {results}" in err and "--resume" in err, err
    assert "Traceback" not in err
    assert read_results_file(results)["report"] is None  # really unfinished

    assert main([*args, "--batch-size", "20", "-o", str(results), "--resume", "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert main([*args, "--batch-size", "8", "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert resumed["counts"] == whole["counts"]


# ---------------------------------------------------------------- 4. text is not markup


def test_messages_print_as_they_are(digits_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    _one_line_exit_2(
        ["eval", str(digits_folder), "--attack", "autoattack", "--n-examples", "4"],
        capsys,
        "pip install 'robnetzoo[autoattack]'",
    )
    _one_line_exit_2(["info", str(tmp_path / "run[/red]") + "/"], capsys, "run[/red]/")
    folder = tmp_path / "run[/red]"
    robnetzoo.save_pretrained(robnetzoo.create_model("robnet-large", C=4, layers=3), folder)
    assert main(["info", str(folder)]) == 0  # a folder whose path is markup loads and prints
    # a model's name reaches file names, the Hub and model cards: markup is refused there, and said as it is
    with pytest.raises(robnetzoo.InvalidInput, match=re.escape("model name 'net[/red]' is not a name")):
        robnetzoo.create_model("robnet-large", C=4, layers=3, model_name="net[/red]")


# ---------------------------------------------------------------- 5. the user's input is never a bug


@pytest.fixture()
def pickled_class_checkpoint(tmp_path):
    """A checkpoint that pickles an object of a class from a module only importable here."""
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "authors_utils.py").write_text(
        "class AverageMeter:\n    def __init__(self):\n        self.avg = 1.0\n"
    )
    sys.path.insert(0, str(module_dir))
    try:
        import authors_utils

        path = tmp_path / "pickled.pth.tar"
        torch.save({"state_dict": {"w": torch.zeros(1)}, "meter": authors_utils.AverageMeter()}, path)
    finally:
        sys.path.remove(str(module_dir))
        sys.modules.pop("authors_utils", None)
    return path


def test_bad_files_and_environments_are_one_line_exit_2(digits_folder, tmp_path, capsys, pickled_class_checkpoint):
    empty = tmp_path / "empty.pth.tar"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pth.tar"
    text.write_text("these are my notes, not a checkpoint\n")
    out = str(tmp_path / "converted")
    _one_line_exit_2(["convert", str(empty), "--arch", "robnet-large", "-o", out], capsys, "is empty")
    _one_line_exit_2(
        ["convert", str(text), "--arch", "robnet-large", "-o", out], capsys, "not a readable PyTorch checkpoint"
    )
    err = _one_line_exit_2(
        ["convert", str(pickled_class_checkpoint), "--arch", "robnet-large", "-o", out],
        capsys,
        "class authors_utils.AverageMeter",
        "--trust-pickle",
    )
    # the CLI names its flag, never the Python keyword; rich markup did not eat the text
    assert "\x1b" not in err and err.rstrip().endswith("pass --trust-pickle") and "trust_pickle" not in err
    _one_line_exit_2(
        ["convert", str(pickled_class_checkpoint), "--arch", "robnet-large", "-o", out, "--trust-pickle"],
        capsys,
        "authors_utils",
        "cannot be imported here",
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _one_line_exit_2(
        ["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "4", "-o", str(blocker / "r.json")],
        capsys,
        "cannot write results file",
    )
    _one_line_exit_2(
        ["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "4", "-o", str(tmp_path)], capsys, "is a folder"
    )
    _one_line_exit_2(
        ["eval", str(digits_folder), "--device", "tpu", "--n-examples", "4"], capsys, "unknown device 'tpu'"
    )
    junk = tmp_path / "junk.json"
    junk.write_text("[]")
    _one_line_exit_2(
        ["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "4", "-o", str(junk), "--resume"],
        capsys,
        "not a readable robnetzoo results file",
    )


def test_download_without_network_is_one_line(digits_folder, tmp_path, capsys, monkeypatch):
    # every connection goes to a closed local port: what a machine without network sees, at once
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    _one_line_exit_2(
        [
            "eval",
            str(digits_folder),
            "--dataset",
            "cifar10",
            "--data-root",
            str(tmp_path / "d"),
            "--download",
            "--n-examples",
            "4",
        ],
        capsys,
        "could not download cifar10",
        "--data-root",
    )


def test_convert_never_overwrites_a_model_without_a_flag(layout, tmp_path, capsys):
    checkpoint = tmp_path / "ckpt.pth.tar"
    torch.save(authors_checkpoint(layout, "RobNet_free_cifar10"), checkpoint)
    out = tmp_path / "free"
    assert main(["convert", str(checkpoint), "--arch", "robnet-free", "-o", str(out)]) == 0
    assert "converted" in capsys.readouterr().out
    before = (out / "model.safetensors").stat().st_mtime_ns
    _one_line_exit_2(["convert", str(checkpoint), "--arch", "robnet-free", "-o", str(out)], capsys, "--overwrite")
    assert (out / "model.safetensors").stat().st_mtime_ns == before
    assert main(["convert", str(checkpoint), "--arch", "robnet-free", "-o", str(out), "--overwrite"]) == 0


# ---------------------------------------------------------------- 7. file modes


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_written_files_keep_the_umask_mode(digits_model, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        folder = robnetzoo.save_pretrained(digits_model, tmp_path / "m")
        results = tmp_path / "r.json"
        robnetzoo.evaluate(digits_model, robnetzoo.load_dataset("digits"), attacks="fgsm", n_examples=4, output=results)
    finally:
        os.umask(old)
    for path in [*Path(folder).iterdir(), results]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


# ---------------------------------------------------------------- 8 + 9. what a model is


def test_a_derived_model_says_what_it_is(tmp_path, capsys):
    model = robnetzoo.create_model("robnet-large", C=8, layers=3, dataset="digits")
    config = model.zoo_config
    assert config.name == "robnet-large-C8-layers3" and config.dataset == "digits"
    assert config.derived_from == {"name": "robnet-large", "changed": {"C": 8, "layers": 3, "dataset": "digits"}}
    assert robnetzoo.create_model("robnet-large", C=36).zoo_config.name == "robnet-large"  # nothing changed
    robnetzoo.save_pretrained(model, tmp_path / "small")
    card = (tmp_path / "small" / "README.md").read_text()
    assert "Derived from `robnet-large`" in card and "cifar10" not in card
    assert main(["info", str(tmp_path / "small"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "paper" not in info and info["config"]["derived_from"]["name"] == "robnet-large"
    assert main(["info", str(tmp_path / "small")]) == 0
    assert "derived from" in capsys.readouterr().out


def test_info_of_a_missing_folder_says_so(capsys):
    _one_line_exit_2(["info", "robnet-large/"], capsys, "no model folder at robnet-large/: it does not exist")


# ---------------------------------------------------------------- 11. help


def test_help_shows_plain_flags_the_attacks_and_the_eps_syntax(capsys):
    from robnetzoo.attacks import SUITES, attack_class, available

    assert main(["eval", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--resume", "--cascade", "--json", "--overwrite"):
        assert f"{flag} <bool>" not in text and flag in text
    for name in available():  # every attack an evaluation accepts (a training attack such as nfgsm it refuses)
        if name in SUITES or attack_class(name).bounded:
            assert name in text, name
    assert "8/255" in text and "L2" in text
    # checked before anything is loaded: the model does not even exist
    _one_line_exit_2(["eval", "no-such-model", "--n-examples", "0"], capsys, "--n-examples must be at least 1")


COMMANDS = ("models", "info", "convert", "eval", "compare", "train", "publish", "search", "export")


def _wrapped_early(lines):
    """Lines of a help panel that end before the next line's first word had to wrap."""
    early = []
    rows = [line[1:-1] for line in lines if line.startswith("│") and line.endswith("│")]
    for this, following in zip(rows, rows[1:]):
        if not following.strip() or following.strip().startswith("-") or following[:4].strip():
            continue  # the next line starts a new row (an option, a command), not a continuation
        word = following.split()[0]
        if len(this.rstrip()) + 1 + len(word) < len(this) - 2:
            early.append((this.strip(), word))
    return early


@pytest.mark.parametrize("columns", [80, 100])
def test_help_reads_as_prose_with_click_style_usage_and_no_bool_types(capsys, monkeypatch, columns):
    """Sentences wrap where the terminal ends, not where the docstring's lines did; usage names
    arguments as click does (MODEL, [PATTERN], RESULTS...), and no flag, --help included, has a type."""
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["--help"]) == 0
    root = capsys.readouterr().out
    assert "<bool>" not in root
    panel = root[root.index("Commands") :].splitlines()
    assert not _wrapped_early(panel), _wrapped_early(panel)
    usages = {}
    for command in COMMANDS:
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "<bool>" not in text, command
        usages[command] = next(line.strip() for line in text.splitlines() if "Usage:" in line)
        assert not re.search(r"\{\w+\}", usages[command]), usages[command]
    assert usages["eval"] == "Usage: robnetzoo eval [OPTIONS] MODEL"
    assert usages["models"] == "Usage: robnetzoo models [OPTIONS] [PATTERN]"
    assert usages["compare"] == "Usage: robnetzoo compare [OPTIONS] RESULTS..."


# ---------------------------------------------------------------- the packaged demo model


def test_the_packaged_demo_model_evaluates_offline_as_its_zoo_row_says(capsys, monkeypatch):
    """A fresh install's first command: the zoo row's PGD-20 figure comes back, within its 95%
    interval, with downloads off and a reachable Hub that must not even be asked."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with HubServer({}) as hub:
        monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", hub.url)
        assert main(["models", "--json"]) == 0
        row = {r["name"]: r for r in json.loads(capsys.readouterr().out)}["robnet-digits"]
        assert row["weights"] == "packaged" and row["has_weights"] and row["params"] == 115_282
        assert main(["eval", "robnet-digits", "--attack", "pgd20", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert not hub.requests
    low, high = row["measured"]["pgd20"]["interval_95"]
    assert report["n_examples"] == row["measured"]["pgd20"]["n"] == 360
    assert low <= report["robust_accuracy"]["pgd20"] <= high, (report["robust_accuracy"], row["measured"])
    assert all(check["passed"] is not False for check in report["checks"]), report["checks"]


def test_the_packaged_demo_model_loads_its_measured_weights_and_exports(tmp_path, capsys, monkeypatch):
    from robnetzoo.registry import get_entry
    from robnetzoo.weights import weights_fingerprint

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = robnetzoo.from_pretrained("robnet-digits")
    entry = get_entry("robnet-digits")
    assert not model.training and weights_fingerprint(model) == entry.measured["fingerprint"]
    with pytest.raises(RobnetzooError, match="shipped in the package"):
        robnetzoo.from_pretrained("robnet-digits", revision="main")
    out = tmp_path / "export"
    assert main(["export", "robnet-digits", "--onnx", "--parity-n", "8", "-o", str(out), "--json"]) == 0
    capsys.readouterr()
    assert (out / "export_report.json").is_file() and list(out.glob("*.onnx"))


# ---------------------------------------------------------------- progress


def test_progress_moves_within_a_batch_and_each_evaluation_has_its_own_bar_and_rate():
    """The runtime is judged after torch on the same examples: its phases get bars of their
    own, whose rates count from their own start; a slow rate reads as seconds per image."""
    from cli._progress import ProgressView, images_per_second
    from robnetzoo.events import EvalProgress

    view = ProgressView(enabled=False)
    for _ in range(2):  # torch, then the runtime
        view(EvalProgress("pgd20", 0, 64, 0))
        view(EvalProgress("pgd20", 0, 64, 0, partial=16.0))
        tasks = {t.id: t for t in view.progress.tasks}
        assert tasks[max(tasks)].completed == 16.0  # a batch part-way through moves the bar
        time.sleep(0.01)
        view(EvalProgress("pgd20", 64, 64, 40))
    tasks = view.progress.tasks
    assert len(tasks) == 2 and all(t.completed == 64 for t in tasks)
    rates = [view._rate(key, 64) for key in view.started]
    assert all(r and not r.startswith("0 ") for r in rates), rates
    assert images_per_second(0.3) == "3.3 s/img" and images_per_second(4.25) == "4.2 img/s"
    assert images_per_second(312.4) == "312 img/s"
