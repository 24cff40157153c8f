import pytest

import robnetzoo
from robnetzoo.config import ModelConfig
from robnetzoo.errors import InvalidInput, NotFound
from robnetzoo.hub import from_pretrained, save_pretrained
from robnetzoo.registry import REGISTRY, ROBNET_LARGE_CELL, paper_reference, resolve_source
from robnetzoo.threat import ThreatModel


def test_an_entry_holds_the_config_a_model_is_built_from():
    entry = REGISTRY["robnet-large"]
    assert isinstance(entry.config, ModelConfig)
    assert robnetzoo.create_model("robnet-large").zoo_config == entry.config
    assert REGISTRY["robnet-small"].config is None and not REGISTRY["robnet-small"].buildable


def test_genotypes_compare_canonically_however_they_were_written():
    as_string = ModelConfig("m", "robnet", {"genotype": [ROBNET_LARGE_CELL], "C": 36}, 10, "cifar10", (3, 32, 32))
    as_codes = ModelConfig(
        "m",
        "robnet",
        {"genotype": [[ROBNET_LARGE_CELL[i : i + 2] for i in range(0, 28, 2)]], "C": 36},
        10,
        "cifar10",
        (3, 32, 32),
    )
    assert as_string.same_architecture(as_codes)
    assert ModelConfig.from_dict(as_string.to_dict()).same_architecture(as_codes)


def test_paper_row_of_a_saved_and_reloaded_robnet_large(tmp_path):
    # the registry holds the genotype as 28-character strings, while config.json files (those
    # robnetzoo 0.1.0 wrote, and hand-written ones) hold 2-character codes; the comparison
    # used to fail for every RobNet, so the paper column was empty
    import json

    folder = tmp_path / "large"
    save_pretrained(robnetzoo.create_model("robnet-large"), folder)
    data = json.loads((folder / "config.json").read_text())
    data["arch_args"]["genotype"] = [[ROBNET_LARGE_CELL[i : i + 2] for i in range(0, 28, 2)]]
    (folder / "config.json").write_text(json.dumps(data))
    config = from_pretrained(folder).zoo_config
    entry, paper = paper_reference(config)
    assert entry.name == "robnet-large" and paper["pgd20"] == 49.44
    assert paper_reference(config, dataset="digits") is None  # not the paper's data set
    assert paper_reference(config, threat_model=ThreatModel("Linf", 4 / 255)) is None
    assert paper_reference(config, threat_model=ThreatModel("L2", 0.5)) is None
    assert paper_reference(robnetzoo.create_model("robnet-large", C=8, layers=3).zoo_config) is None
    assert paper_reference(robnetzoo.create_model("robnet-free").zoo_config)[0].name == "robnet-free"
    assert paper_reference(robnetzoo.create_model("resnet18").zoo_config)[1]["pgd20"] == 45.60


def test_resolve_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_source("robnet-large") == resolve_source("robnet-large").__class__("registry", "robnet-large")
    assert resolve_source("org/name").kind == "hub"
    assert resolve_source("hf-hub:org/robnet-large").value == "org/robnet-large"
    (tmp_path / "robnet-large").mkdir()
    assert resolve_source("robnet-large").kind == "folder"  # a folder wins, as in transformers
    assert resolve_source("local-dir:robnet-large").kind == "folder"
    with pytest.raises(NotFound, match="no model folder at robnet-free/: it does not exist"):
        resolve_source("robnet-free/")
    with pytest.raises(NotFound, match="no model folder at local-dir-missing"):
        resolve_source("local-dir:local-dir-missing")
    with pytest.raises(InvalidInput, match="malformed Hub repo id"):
        resolve_source("hf-hub:a/b/c")
    with pytest.raises(NotFound, match="did you mean robnet-large"):
        resolve_source("robnet-larg")


def test_unpublished_architecture_message_is_true_today():
    from robnetzoo.cli.app import app

    commands = {c.name for c in app.registered_commands}
    with pytest.raises(NotFound) as caught:
        robnetzoo.create_model("robnet-small")
    message = str(caught.value)
    assert "never published" in message and "robnet-large or robnet-free" in message
    assert "robnetzoo search" in message and "search" in commands  # the way forward it names exists
