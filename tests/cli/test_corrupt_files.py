"""Every kind of file the project reads, damaged, is one line naming it and exit 2.

Each case takes a real artifact (a results file, a run, a search, an export, a model folder),
damages one file in it (truncated, not JSON, a foreign JSON value, a torn line in the middle of a
ledger), and runs the command that reads it. Nothing here may end as an internal error (exit 1)
or a traceback, and the message must name the damaged file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from robnetzoo.cli.app import main


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: max(1, len(data) // 2)])


def _one_line_exit_2(args: list[str], capsys, damaged: Path) -> str:
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err  # progress lines may come before it
    assert "Traceback" not in err and "internal error" not in err, err
    assert str(damaged) in errors[0], err
    return errors[0]


@pytest.fixture()
def run(finished_run, tmp_path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


def _train_again(run: Path, recipe_file: Path) -> list[str]:
    return [
        "train",
        "robnet-large",
        "--width",
        "4",
        "--layers",
        "3",
        "--preset",
        str(recipe_file),
        "--seed",
        "5",
        "--eval-n",
        "24",
        "-o",
        str(run),
        "--resume",
    ]


def test_a_damaged_results_file(digits_folder, tmp_path, capsys):
    results = tmp_path / "results.json"
    args = ["eval", str(digits_folder), "--attack", "fgsm", "--n-examples", "8", "-o", str(results)]
    assert main(args) == 0
    finished = results.read_text()
    lines = finished.splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]  # a batch line torn in the middle: corruption, not a kill mid-append
    results.write_text("\n".join(lines) + "\n")
    err = _one_line_exit_2([*args, "--resume"], capsys, results)
    assert "not a readable robnetzoo results file" in err and "line 2 is not JSON" in err and "--output" in err
    results.write_text(finished[: len(finished) - 20])  # the last line torn, as a kill mid-append leaves it: resumed
    assert main([*args, "--resume"]) == 0
    results.write_text(json.dumps({"version": 2, "header": {}, "results": {"clean": 7}}))
    _one_line_exit_2([*args, "--resume"], capsys, results)


def test_a_damaged_run_json(run, capsys):
    (run / "run.json").write_text("[1, 2, 3]\n")  # JSON, but not a run
    err = _one_line_exit_2(["publish", str(run), "--repo-id", "me/tiny", "--dry-run"], capsys, run / "run.json")
    assert "not a readable training run's run.json" in err


def test_a_damaged_recipe_json(run, tmp_path, capsys):
    recipe = run / "recipe.json"
    _truncate(recipe)
    _one_line_exit_2(["train", "robnet-large", "--preset", str(recipe), "-o", str(tmp_path / "new")], capsys, recipe)
    assert not (tmp_path / "new").exists()


def test_a_damaged_training_checkpoint(run, tmp_path, capsys):
    recipe = tmp_path / "recipe.json"
    shutil.copy(run / "recipe.json", recipe)
    state = json.loads((run / "run.json").read_text())
    state["status"] = "training"  # as a killed run leaves it
    (run / "run.json").write_text(json.dumps(state))
    checkpoint = run / "checkpoint.pt"
    assert checkpoint.is_file()
    _truncate(checkpoint)
    err = _one_line_exit_2(_train_again(run, recipe), capsys, checkpoint)
    assert "not a readable robnetzoo training checkpoint" in err


def test_a_damaged_eval_json_of_a_run(run, capsys):
    _truncate(run / "eval.json")
    _one_line_exit_2(["publish", str(run), "--repo-id", "me/tiny", "--dry-run"], capsys, run / "eval.json")


def test_a_damaged_search_json_and_candidates_jsonl(finished_search, tmp_path, capsys):
    search = Path(shutil.copytree(finished_search, tmp_path / "search"))
    ledger = search / "candidates.jsonl"
    lines = ledger.read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]  # torn in the middle: corruption, not a kill mid-append
    ledger.write_text("\n".join(lines) + "\n")
    err = _one_line_exit_2(["search", "--analyse", str(search)], capsys, ledger)
    assert "line 2 is not JSON" in err
    _truncate(search / "search.json")
    _one_line_exit_2(["search", "--analyse", str(search)], capsys, search / "search.json")


def test_a_torn_last_line_of_candidates_jsonl_is_what_a_kill_leaves(finished_search, tmp_path, capsys):
    search = Path(shutil.copytree(finished_search, tmp_path / "search"))
    ledger = search / "candidates.jsonl"
    ledger.write_text(ledger.read_text() + '{"stage": "screen", "ind')
    assert main(["search", "--analyse", str(search), "--json"]) == 0, capsys.readouterr().err


def test_a_damaged_export_report_and_sidecar(digits_folder, tmp_path, capsys):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "export_report.json").write_text('{"identity": ')
    _one_line_exit_2(
        ["export", str(digits_folder), "--onnx", "-o", str(folder), "--overwrite"],
        capsys,
        folder / "export_report.json",
    )
    package = tmp_path / "model.pt2"
    package.write_bytes(b"PK\x03\x04")
    (tmp_path / "model.pt2.json").write_text("not json")
    _one_line_exit_2(
        [
            "eval",
            str(digits_folder),
            "--runtime",
            "aoti",
            "--artifact",
            str(package),
            "--trust-artifact",
            "--n-examples",
            "4",
        ],
        capsys,
        tmp_path / "model.pt2.json",
    )


@pytest.mark.parametrize("damage", ["truncate", "foreign"])
def test_a_damaged_model_config_and_weights(digits_folder, tmp_path, capsys, damage):
    folder = Path(shutil.copytree(digits_folder, tmp_path / "model"))
    config = folder / "config.json"
    if damage == "truncate":
        _truncate(config)
    else:
        config.write_text('"a string"')
    _one_line_exit_2(["eval", str(folder), "--n-examples", "4"], capsys, config)
    shutil.copy(digits_folder / "config.json", config)
    _truncate(folder / "model.safetensors")
    _one_line_exit_2(["eval", str(folder), "--n-examples", "4"], capsys, folder / "model.safetensors")


@pytest.mark.parametrize(
    "header, marks, says",
    [
        ({"n_examples": 2_000_000, "attacks": [f"a{i}" for i in range(100)]}, {}, "attack names"),
        ({"n_examples": 2_000_000, "attacks": [[1]]}, {}, "attack names"),
        ({"n_examples": 8, "attacks": ["fgsm"]}, {"clean": {"at": -1, "m": "1"}}, "example -1 outside 0..7"),
    ],
    ids=["2M x 100 in 2 KB", "an attack that is a list", "a negative index"],
)
def test_a_results_header_cannot_make_the_reader_allocate_or_write_where_it_says(header, marks, says, tmp_path, capsys):
    import tracemalloc

    from robnetzoo.evaluation.store import read_results_file

    path = tmp_path / "results.json"
    lines = [{"version": 3, "header": header}, {"marks": marks}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert path.stat().st_size < 2_500
    tracemalloc.start()
    try:
        _one_line_exit_2(["compare", str(path), str(path)], capsys, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6, peak
    with pytest.raises(Exception, match=says):
        read_results_file(path)


def test_the_largest_results_file_a_header_may_claim_takes_a_byte_per_example_and_phase(tmp_path):
    import tracemalloc

    from robnetzoo.evaluation.store import MAX_ATTACKS, MAX_EXAMPLES, read_results_file

    path = tmp_path / "results.json"
    header = {"n_examples": MAX_EXAMPLES, "attacks": [f"pgd{i}" for i in range(MAX_ATTACKS)]}
    path.write_text(json.dumps({"version": 3, "header": header}) + "\n" + json.dumps({"marks": {}}) + "\n")
    tracemalloc.start()
    try:
        read = read_results_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(read["results"]["pgd0"]) == MAX_EXAMPLES
    assert peak < 3 * MAX_EXAMPLES * (MAX_ATTACKS + 1), peak  # not 8 bytes a mark, as a list of strings takes
