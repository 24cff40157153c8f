"""Every mistake a user can make on the command line is one line on stderr and exit 2, and
nothing of theirs is written or replaced.

One table of bad inputs, per command: each row builds its arguments in a scratch folder, runs
them, and asserts exit 2, exactly one line on stderr (the error), no traceback, the row's words
in it, and that no file in the scratch folder was created, changed or removed. Adding a command
means adding its rows. The data-loss, allocation and security cases that need more than one
call follow the table.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from robnetzoo.cli.app import main

# A path the system refuses even to root: writing there is a PermissionError.
REFUSED = Path("/sys/robnetzoo-cannot-write-here")


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Path, Path], list[str]]  # (scratch folder, a digits model folder) -> argv
    says: str  # words the one line must contain


def _config(scratch: Path, model: Path, **changes) -> str:
    """A copy of the digits model whose config.json has ``changes`` (top level or arch_args)."""
    folder = scratch / "edited"
    if not folder.exists():
        shutil.copytree(model, folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if key in config["arch_args"]:
            config["arch_args"][key] = value
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def _file(scratch: Path, name: str, text: str) -> str:
    (scratch / name).write_text(text)
    return str(scratch / name)


def _cifar(scratch: Path, damage: str) -> str:
    """A synthetic CIFAR-10 folder whose test batch is damaged: a list, 3 labels short, or a label of 99."""
    import pickle

    from robnetzoo.data import write_synthetic_cifar10

    root = write_synthetic_cifar10(scratch / "cifar", n_test=8, n_train_per_batch=2)
    batch = root / "cifar-10-batches-py" / "test_batch"
    with open(batch, "rb") as handle:
        data = pickle.load(handle, encoding="bytes")
    if damage == "list":
        data = [data]
    elif damage == "short":
        data[b"labels"] = data[b"labels"][:-3]
    else:
        data[b"labels"][0] = 99
    with open(batch, "wb") as handle:
        pickle.dump(data, handle, protocol=2)
    return str(root)


def _results_header(scratch: Path, n: object) -> str:
    line = json.dumps({"version": 3, "header": {"n_examples": n, "attacks": ["fgsm"]}})
    return _file(scratch, f"results-{n}.json", line + "\n" + json.dumps({"marks": {}}) + "\n")


CASES = [
    # eval
    Case("eval eps overflows a float", lambda s, m: ["eval", str(m), "--eps", "1e400"], "not a finite number"),
    Case(
        "eval eps with an exponent of a billion digits",
        lambda s, m: ["eval", str(m), "--eps", "1e999999999"],
        "not a finite number",
    ),
    Case("info config of depth 6e7", lambda s, m: ["info", _config(s, m, layers=60_000_000)], "too large to build"),
    Case(
        "train recipe of 1.5 epochs",
        lambda s, m: ["train", "robnet-large", "--preset", _recipe(s, epochs=1.5), "-o", str(s / "r")],
        "epochs must be a whole number, got 1.5",
    ),
    Case(
        "train recipe of 1e999 epochs",
        lambda s, m: ["train", "robnet-large", "--preset", _recipe(s, epochs="1e999"), "-o", str(s / "r")],
        "epochs must be a whole number, got inf",
    ),
    Case("eval unknown data set with markup", lambda s, m: ["eval", str(m), "--dataset", "[/x]"], "[/x]"),
    Case(
        "eval curve plotted to jpg",
        lambda s, m: ["eval", str(m), "--eps", "1/255,2/255", "--plot", str(s / "c.jpg")],
        ".png or .svg",
    ),
    Case(
        "eval aoti artifact without consent",
        lambda s, m: ["eval", str(m), "--runtime", "aoti", "--artifact", _file(s, "m.pt2", "PK")],
        "--trust-artifact",
    ),
    Case(
        "eval tensorrt artifact without consent",
        lambda s, m: ["eval", str(m), "--runtime", "tensorrt", "--artifact", _file(s, "m.engine", "x")],
        "native code",
    ),
    Case(
        "eval cifar batch that is a list",
        lambda s, m: ["eval", str(m), "--dataset", "cifar10", "--data-root", _cifar(s, "list"), "--n-examples", "4"],
        "not a CIFAR batch",
    ),
    Case(
        "eval cifar batch with labels missing",
        lambda s, m: ["eval", str(m), "--dataset", "cifar10", "--data-root", _cifar(s, "short"), "--n-examples", "4"],
        "8 images but 5 labels",
    ),
    Case(
        "eval cifar label 99 of 10 classes",
        lambda s, m: ["eval", str(m), "--dataset", "cifar10", "--data-root", _cifar(s, "99"), "--n-examples", "4"],
        "label 99 outside 0-9",
    ),
    # info
    Case("info config with C=0", lambda s, m: ["info", _config(s, m, C=0)], "C=0"),
    Case(
        "info config with C=20000", lambda s, m: ["info", _config(s, m, C=20000)], "do not match the architecture"
    ),  # the header check, on the meta device
    Case(
        "info config with a 30000x30000 input",
        lambda s, m: ["info", _config(s, m, input_size=[3, 30000, 30000])],
        "not an image size",
    ),
    Case(
        "info config with schema_version '1'",
        lambda s, m: ["info", _config(s, m, schema_version="1")],
        "not a version number",
    ),
    Case("info config with a markup name", lambda s, m: ["info", _config(s, m, name="[/x]")], "'[/x]' is not a name"),
    Case("info folder with a revision", lambda s, m: ["info", str(m), "--revision", "x"], "has no revisions"),
    # train
    Case("train width 0", lambda s, m: ["train", "robnet-large", "--width", "0", "-o", str(s / "r")], "C=0"),
    Case("train width -4", lambda s, m: ["train", "robnet-large", "--width", "-4", "-o", str(s / "r")], "C=-4"),
    Case(
        "train lr inf",
        lambda s, m: ["train", "robnet-large", "--width", "4", "--lr", "inf", "-o", str(s / "r")],
        "lr must be a positive finite number",
    ),
    Case(
        "train checkpoint minutes -1",
        lambda s, m: ["train", "robnet-large", "--checkpoint-minutes", "-1", "-o", str(s / "r")],
        "--checkpoint-minutes must be 0 or more minutes, got -1",
    ),
    Case(
        "train into a folder the system refuses",
        lambda s, m: ["train", "robnet-large", "--width", "4", "--layers", "3", "-o", str(REFUSED)],
        str(REFUSED),
    ),
    # search
    Case(
        "search preset naming a folder outside",
        lambda s, m: ["search", "--plan", "--preset", _preset(s, preset="/../../../ESCAPED")],
        "is not a name",
    ),
    Case(
        "search into a folder the system refuses",
        lambda s, m: ["search", "--preset", _preset(s), "-o", str(REFUSED)],
        str(REFUSED),
    ),
    Case("search zero supernets", lambda s, m: ["search", "--supernets", "0", "-o", str(s / "x")], "supernets"),
    Case(
        "search plan priced by a damaged timings file",
        lambda s, m: ["search", "--plan", "--timings", _timings(s)],
        "wrong types",
    ),
    # export
    Case(
        "export aoti for a tpu", lambda s, m: ["export", str(m), "--aoti", "--device", "tpu", "-o", str(s / "e")], "tpu"
    ),
    Case(
        "export parity on 1e8 images",
        lambda s, m: ["export", str(m), "--onnx", "--parity-n", "100000000", "-o", str(s / "e")],
        "--parity-n",
    ),
    Case("export tensorrt without a GPU", lambda s, m: ["export", str(m), "--trt", "-o", str(s / "e")], "CUDA GPU"),
    Case(
        "export into a folder the system refuses",
        lambda s, m: ["export", str(m), "--onnx", "-o", str(REFUSED)],
        str(REFUSED),
    ),
    # compare
    Case(
        "compare an empty curve.json",
        lambda s, m: ["compare", _file(s, "curve.json", "{}"), _file(s, "b.json", "{}")],
        "lists no reports",
    ),
    Case(
        "compare a header claiming 1e11 examples",
        lambda s, m: ["compare", _results_header(s, 10**11), _results_header(s, 10**8)],
        "n_examples",
    ),
]


def _recipe(scratch: Path, **changes) -> str:
    """The demo recipe as a file, with ``changes`` written into its JSON (a string is raw JSON)."""
    from robnetzoo.search.recipes import get_recipe

    text = json.dumps({**get_recipe("demo").to_dict(), **{k: f"@{k}@" for k in changes}})
    for key, value in changes.items():
        text = text.replace(f'"@{key}@"', value if isinstance(value, str) else json.dumps(value))
    return _file(scratch, "recipe.json", text)


def _preset(scratch: Path, **changes) -> str:
    """The tiny search's settings file, with ``changes`` written into the JSON as they are."""
    from tests.support import tiny_settings

    return _file(scratch, "settings.json", json.dumps({**tiny_settings().to_dict(), **changes}))


def _timings(scratch: Path) -> str:
    from robnetzoo.search.plan import TIMINGS_FORMAT

    record = {
        "width": "4",
        "layers": [5],
        "batch": 64,
        "space": "both",
        "input_size": 32,
        "seconds_per_pass": "fast",
        "timed_steps": 3,
    }
    return _file(scratch, "timings.json", json.dumps({"format": TIMINGS_FORMAT, "supernet": record}))


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_mistake_is_one_line_and_exit_2_and_writes_nothing(case, digits_folder, tmp_path, capsys, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    args = case.args(scratch, digits_folder)
    before = _snapshot(scratch)
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert "Traceback" not in err and case.says in err, err
    assert not [c for c in err if ord(c) < 32 or ord(c) == 127], err  # no control character reaches the terminal
    assert _snapshot(scratch) == before, "a refused command wrote or replaced files"


# ------------------------------------------------------------------------------ data loss


def test_saving_a_model_never_replaces_a_readme_or_eval_results_of_the_users(tmp_path):
    import robnetzoo

    model = robnetzoo.create_model("robnet-large", C=4, layers=3)
    for name in ("README.md", ".eval_results"):
        folder = tmp_path / name.strip(".")
        folder.mkdir()
        (folder / name).write_text("the user's notes\n") if name == "README.md" else (folder / name).mkdir()
        with pytest.raises(robnetzoo.InvalidInput, match="already holds a model"):
            robnetzoo.save_pretrained(model, folder)
        assert sorted(p.name for p in folder.iterdir()) == [name]
    assert (tmp_path / "README.md" / "README.md").read_text() == "the user's notes\n"
    robnetzoo.save_pretrained(model, tmp_path / "README.md", overwrite=True)  # the flag says replace


def test_a_curve_never_replaces_a_plot_or_another_curve(digits_folder, tmp_path, capsys):
    common = ["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "8"]
    plot = tmp_path / "existing.png"
    plot.write_bytes(b"the user's plot")
    assert main([*common, "--eps", "1/255,2/255", "-o", str(tmp_path / "C"), "--plot", str(plot)]) == 2
    assert plot.read_bytes() == b"the user's plot" and not (tmp_path / "C").exists()
    assert main([*common, "--eps", "1/255,2/255", "-o", str(tmp_path / "A")]) == 0
    finished = _snapshot(tmp_path / "A")
    capsys.readouterr()
    assert main([*common, "--eps", "1/255,4/255", "-o", str(tmp_path / "A"), "--resume"]) == 2
    assert "other radii" in capsys.readouterr().err and _snapshot(tmp_path / "A") == finished
    assert main([*common, "--eps", "1/255,4/255", "-o", str(tmp_path / "A")]) == 2  # no flag: refused
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main([*common, "--eps", "1/255,2/255", "-o", str(tmp_path / "other")]) == 2  # not a curve folder
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]


def test_a_torn_results_line_is_cut_before_resuming(digits_folder, tmp_path, capsys):
    results = tmp_path / "results.json"
    args = ["eval", str(digits_folder), "-a", "fgsm", "--n-examples", "16", "--batch-size", "4", "-o", str(results)]
    assert main(args) == 0
    lines = results.read_text().splitlines(keepends=True)
    torn = "".join(lines[:3]) + lines[3][: len(lines[3]) // 2]  # a kill in the middle of appending batch 3
    results.write_text(torn)
    assert main([*args, "--resume"]) == 0
    text = results.read_text()
    assert text.startswith("".join(lines[:3])) and all(json.loads(line) for line in text.splitlines())
    assert main([*args, "--resume"]) == 0 and main(["compare", str(results), str(results)]) == 0


# ------------------------------------------------------------------------------- security


def test_pickled_checkpoints_are_read_only_on_a_torch_whose_safe_loading_is_safe():
    import tomllib

    from robnetzoo import MissingDependency
    from robnetzoo._io import require_safe_torch_load

    for old in ("2.5.1", "2.9.1", "1.13.0+cu117"):
        with pytest.raises(MissingDependency, match=r"upgrade: pip install 'torch>=2\.10'"):
            require_safe_torch_load(old)
    for fine in ("2.10.0", "2.14.1+cpu", "3.0.0"):
        require_safe_torch_load(fine)
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "torch>=2.10" in pyproject["project"]["dependencies"]


def test_a_model_card_escapes_what_it_did_not_write_and_says_what_an_unmeasured_model_is(tmp_path):
    import dataclasses

    import robnetzoo
    from robnetzoo.config import config_of
    from robnetzoo.hub import model_card
    from robnetzoo.naming import slug

    config = config_of(robnetzoo.create_model("robnet-large", C=4, layers=3))
    hostile = dataclasses.replace(
        config, derived_from={"name": "<script>alert(1)</script>", "changed": {"C": "<img src=x onerror=alert(1)>"}}
    )
    card = model_card(hostile)
    assert "<script>" not in card and "<img" not in card and "&lt;script&gt;" in card
    assert "adversarially trained" not in card and "does not report" in card  # no evaluation: no claim
    assert 'from_pretrained("robnet-large")' not in card and "PATH/TO/THIS/FOLDER" in card
    measured = model_card(config, [{"metric": "clean", "accuracy": 90.0}], repo_id="org/demo")
    assert "An adversarially trained" in measured and 'from_pretrained("org/demo")' in measured
    assert slug("x<img src=x onerror=alert(1)>") == "x-img-src-x-onerror-alert-1"  # a genotype file's stem


# ---------------------------------------------------------------------------- allocation


def test_a_config_that_disagrees_with_its_weights_is_refused_before_anything_is_allocated(tmp_path):
    """A config claiming C=800 beside the weights of a C=4 network: 471M parameters (1.9 GB)
    would be built and then found not to match. The header is compared on the meta device
    first, so the refusal costs no memory (measured in a fresh process)."""
    import subprocess
    import sys

    import robnetzoo

    folder = tmp_path / "model"
    robnetzoo.save_pretrained(robnetzoo.create_model("robnet-large", C=4, layers=3, dataset="digits"), folder)
    config = json.loads((folder / "config.json").read_text())
    config["arch_args"]["C"] = 800
    (folder / "config.json").write_text(json.dumps(config))
    # The peak of this process's own memory map (VmHWM, kB): getrusage's ru_maxrss would also
    # count the forking test process's pages, which Linux carries across exec.
    code = (
        "import re, robnetzoo\n"
        "try:\n"
        f"    robnetzoo.from_pretrained({str(folder)!r})\n"
        "except robnetzoo.IntegrityError as error:\n"
        "    print('refused' if 'do not match' in str(error) else 'other')\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=Path(__file__).parents[2]
    ).stdout.split()
    assert out[0] == "refused" and int(out[1]) < 1500, out  # MB: the interpreter and torch, not 1.9 GB of weights


# ------------------------------------------------------------------------------ warnings


def test_a_refused_command_prints_its_line_alone_and_others_show_their_warnings_after(capsys):
    """Warnings raised before a refusal (torch's, say) never come before the error line."""
    import warnings

    import typer

    from robnetzoo.cli.app import app
    from robnetzoo.errors import InvalidInput

    def warn_then(fail: bool = typer.Option(False, "--fail")) -> None:
        warnings.warn("a library's warning", UserWarning)
        if fail:
            raise InvalidInput("the refusal")

    app.command("warn-then")(warn_then)
    try:
        assert main(["warn-then", "--fail"]) == 2
        assert capsys.readouterr().err.strip().splitlines() == ["error: the refusal"]
        assert main(["warn-then"]) == 0
        assert "a library's warning" in capsys.readouterr().err
    finally:
        app.registered_commands.pop()


def test_a_config_describing_too_many_parameters_is_refused_before_it_is_built():
    import robnetzoo
    from robnetzoo.config import build_model, config_of

    config = config_of(robnetzoo.create_model("robnet-large", C=4, layers=3)).with_overrides(C=20000)
    with pytest.raises(robnetzoo.InvalidInput, match="more than robnetzoo builds"):
        build_model(config)
