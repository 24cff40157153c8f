import json

import torch

from robnetzoo.cli.app import main


def test_models_json(capsys):
    assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["robnet-large"]["params"] == 6_842_710
    assert rows["robnet-large"]["paper_pgd20"] == 49.44
    # where the weights really come from: nothing is published on the Hub yet
    assert rows["robnet-large"]["weights"] == "authors' checkpoint: convert it"
    assert rows["robnet-large"]["authors_checkpoint"] == "RobNet_large_v1_cifar10.pth.tar"
    assert rows["robnet-small"]["weights"] == "awaiting search"
    assert rows["resnet18"]["weights"] == "train it"
    assert all(row["hub_repo"] is None for row in rows.values())


def test_models_table_goes_to_stdout(capsys):
    # `robnetzoo models | grep free` must find it
    assert main(["models", "robnet-*"]) == 0
    captured = capsys.readouterr()
    assert "robnet-free" in captured.out and "resnet18" not in captured.out
    assert "robnet-free" not in captured.err


def test_info_checks_a_saved_folder(saved_folder, capsys):
    assert main(["info", str(saved_folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["weights_checked"] is True and data["density"] == 22 / 28
    assert data["parameters"] > 0 and data["macs"] > 0


def test_info_registry_name(capsys):
    assert main(["info", "robnet-large", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameters"] == 6_842_710 and data["weights_checked"] is False


def test_convert_cli(tmp_path, layout, capsys):
    from tests.support import authors_checkpoint

    path = tmp_path / "ckpt.pth.tar"
    torch.save(authors_checkpoint(layout, "RobNet_free_cifar10", "module."), path)
    assert main(["convert", str(path), "--arch", "robnet-free", "-o", str(tmp_path / "out"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == 5_439_790
    # wrong architecture: exit 2, one line, no traceback
    assert main(["convert", str(path), "--arch", "robnet-large", "-o", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "do not match the architecture" in err and "Traceback" not in err


def test_input_errors_exit_2_with_one_line(capsys):
    for argv, text in [
        (["info", "robnet-larg"], "did you mean robnet-large"),
        (["info", "bad//repo"], "malformed Hub repo id"),
        (["info", "./no/such/folder"], "no model folder"),
        (["nope"], "No such command"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err


def test_info_draws_any_robnet_and_refuses_other_models(tmp_path, capsys):
    svg, png = tmp_path / "large.svg", tmp_path / "free.png"
    assert main(["info", "robnet-large", "--draw", str(svg)]) == 0
    text = svg.read_text()
    assert "<svg" in text[:2000] and text.count("<path") > 14  # the edges of one cell, and the nodes
    assert main(["info", "robnet-free", "--draw", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["info", "resnet18", "--draw", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a RobNet" in err and len(err.splitlines()) == 1 and not (tmp_path / "r.png").exists()
    assert main(["info", "robnet-large", "--draw", str(svg)]) == 2  # never overwritten without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["info", "robnet-large", "--draw", str(tmp_path / "x.pdf")]) == 2


def test_models_groups_by_data_set_with_each_tables_paper_columns(capsys):
    import json

    from robnetzoo.cli.app import main

    assert main(["models", "--dataset", "imagenet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["name"] for r in rows) == [
        "resnet101-imagenet",
        "resnet152-imagenet",
        "resnet50-imagenet",
        "robnet-large-imagenet",
    ]
    assert all(set(r["paper"]) == {"natural", "pgd10", "pgd20", "pgd100"} for r in rows)
    assert main(["models"]) == 0  # through a pipe: tab-separated, every name whole, the data set a column
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    assert header[:2] == ["name", "dataset"] and "paper pgd10" in header and all(len(r) == len(header) for r in rows)
    assert list(dict.fromkeys(r[1] for r in rows))[:5] == ["cifar10", "imagenet", "svhn", "cifar100", "tiny-imagenet"]
    assert {"robnet-large", "robnet-free", "robnet-large-imagenet"} <= {r[0] for r in rows}
    assert main(["models", "--dataset", "no-such-set"]) == 2
    assert "unknown dataset 'no-such-set'" in capsys.readouterr().err


def test_the_shipped_parameter_counts_are_the_models_own():
    """``robnetzoo models`` reads its counts from a shipped file instead of building the zoo;
    every model is rebuilt here (meta device) so the file cannot drift from the code."""
    from robnetzoo.info import _shipped_counts, count_zoo_parameters

    assert _shipped_counts() == count_zoo_parameters(), "rewrite it: python -m robnetzoo.info"


def test_listings_fit_80_and_100_columns_without_cutting_a_name_or_a_path(capsys, monkeypatch):
    """On a terminal a listing drops whole columns (and says which), never cuts a cell; through
    a pipe every listing is the same plain tab-separated form, every column."""
    from rich.console import Console

    import robnetzoo.cli._output as output
    from robnetzoo.info import dataset_table
    from robnetzoo.registry import list_models

    paths = [row["found"] for row in dataset_table(None) if row.get("found")]  # the files found on this machine
    import robnetzoo.cli.zoo as zoo

    def console(**how) -> None:
        for module in (output, zoo):
            monkeypatch.setattr(module, "stdout", Console(**how))

    for width in (80, 100):
        console(width=width, force_terminal=True, color_system=None)
        assert main(["models"]) == 0 and main(["models", "--datasets"]) == 0
        shown = capsys.readouterr().out
        assert "…" not in shown and all(len(line) <= width for line in shown.splitlines())
        cells = {cell.strip() for line in shown.splitlines() for cell in line.split("│")}
        assert set(list_models()) <= cells, set(list_models()) - cells  # every name whole, in a cell of its own
        assert all(any(path in cell for cell in cells) for path in paths)
        assert "not shown at this width: " in shown
    console(width=100, force_terminal=True, color_system=None)
    assert main(["models", "robnet-digits", "--columns", "name,ours pgd20"]) == 0
    assert "97.5 [95.3, 98.7]" in capsys.readouterr().out
    assert main(["models", "--columns", "name,bogus"]) == 2
    assert "no column 'bogus'" in capsys.readouterr().err
    console(width=100, file=__import__("io").StringIO())  # a pipe
    assert main(["models", "--datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["name", "classes", "input", "threat model", "train", "test", "files"]
