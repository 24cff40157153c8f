"""``robnetzoo eval --eps LIST`` (a robustness curve: per-radius results files, resumable, a
table and a plot) and ``robnetzoo compare`` (side by side, refused when not measured alike)."""

from __future__ import annotations

import json

import pytest

from robnetzoo.cli.app import main

EPS = "1/255,2/255,8/255"
COMMON = ["-a", "fgsm", "-a", "pgd7", "--n-examples", "32"]


@pytest.fixture(scope="module")
def curve(digits_folder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("curve") / "curve"
    assert main(["eval", str(digits_folder), "--eps", EPS, *COMMON, "-o", str(folder)]) == 0
    return folder


def test_a_curve_has_a_results_file_per_radius_a_table_and_a_plot(curve, digits_folder, capsys):
    from robnetzoo.evaluation.curves import read_results

    assert sorted(p.name for p in curve.iterdir()) == [
        "curve.json",
        "curve.png",
        "eps-1_255.json",
        "eps-2_255.json",
        "eps-8_255.json",
    ]
    assert (curve / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    read = read_results(curve)
    assert read.radii() == [1 / 255, 2 / 255, 8 / 255]
    worst = [row["accuracy"]["worst_case"] for row in read.rows()]
    assert worst == sorted(worst, reverse=True) and read.checks[0]["name"] == "eps_monotone"
    single = read_results(curve / "eps-2_255.json")  # each radius is an ordinary results file
    assert single.reports[0].eps == 2 / 255 and single.reports[0].to_dict() == read.reports[1].to_dict()

    # resumable: the finished files are read back, not recomputed, and give the same table
    capsys.readouterr()
    assert main(["eval", str(digits_folder), "--eps", EPS, *COMMON, "-o", str(curve), "--resume", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["rows"] == read.rows()


def test_compare_puts_curves_side_by_side_and_refuses_unlike_ones(curve, digits_folder, tmp_path, capsys):
    other = tmp_path / "pgd-only"
    assert main(["eval", str(digits_folder), "--eps", EPS, "-a", "pgd7", "--n-examples", "32", "-o", str(other)]) == 0
    capsys.readouterr()
    assert main(["compare", str(curve), str(other), "--plot", str(tmp_path / "both.png"), "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert [len(c["rows"]) for c in compared["curves"]] == [3, 3] and compared["forced"] == []
    assert (tmp_path / "both.png").stat().st_size > 0

    fewer = tmp_path / "fewer.json"
    assert main(["eval", str(digits_folder), "-a", "pgd7", "--n-examples", "16", "-o", str(fewer)]) == 0
    capsys.readouterr()
    assert main(["compare", str(curve), str(fewer)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "not measured alike" in err
        and "number of examples 16" in err
        and "--force" in err
    )
    assert main(["compare", str(curve), str(fewer), "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["forced"]


@pytest.mark.parametrize(
    "eps, message",
    [
        ("1/255,,2/255", "has an empty value"),
        ("1/255,2/255,1/255", "eps 1/255 is given more than once"),
        ("1/255,300", "eps must be in [0, 1] for Linf"),
        ("1/255,x", "eps 'x' is not a number"),
    ],
)
def test_a_bad_eps_list_is_one_line(digits_folder, tmp_path, capsys, eps, message):
    assert main(["eval", str(digits_folder), "--eps", eps, "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "c").exists()


def test_compare_prints_a_hostile_model_name_inert(curve, tmp_path, capsys):
    """A results file's model name is printed as written, its escape codes and newlines made
    visible and its Rich markup left as text: it cannot clear the screen or forge a line."""
    import shutil

    hostile = "evil\x1b[2J\x1b]0;title\x07\n[/x]error: forged"
    evil = tmp_path / "evil"
    shutil.copytree(curve, evil)
    for path in evil.glob("*.json"):
        text = path.read_text()
        path.write_text(text.replace('"model": "digits-robnet"', f'"model": {json.dumps(hostile)}'))
    assert json.dumps(hostile) in (evil / "eps-1_255.json").read_text()  # the name did change
    capsys.readouterr()
    assert main(["compare", str(curve), str(evil)]) == 0
    out, err = capsys.readouterr()
    assert "\\x1b[2J" in out and "[/x]error: forged" in out.replace("\n", "")
    assert not [c for c in out + err if ord(c) < 32 and c != "\n" or ord(c) == 127], repr(out)
    assert not any(line.startswith("error:") for line in (out + err).splitlines())
