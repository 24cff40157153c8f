import json

import pytest
import torch
import yaml

import robnetzoo
from robnetzoo.errors import IntegrityError, InvalidInput, NotFound
from robnetzoo.hub import from_pretrained, save_pretrained
from tests.support.hubserver import HubServer, load_offline, point_client_at

X = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_save_load_round_trip_gives_identical_logits(tiny_model, tmp_path):
    save_pretrained(tiny_model, tmp_path / "m")
    loaded = robnetzoo.from_pretrained(tmp_path / "m")
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(tiny_model(X), loaded(X))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_config_and_card_metadata(saved_folder):
    config = json.loads((saved_folder / "config.json").read_text())
    assert config["schema_version"] == 1 and config["arch"] == "robnet"
    assert config["num_classes"] == 10 and config["input_size"] == [3, 32, 32]
    assert config["threat_model"] == {"norm": "Linf", "eps": 8 / 255}
    card = (saved_folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "robnetzoo"
    assert "digits" in meta["datasets"]
    result = meta["model-index"][0]["results"][0]
    assert result["metrics"][0]["value"] == 91.0


def test_truncated_safetensors_is_one_clear_error(saved_folder, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("config.json", "README.md"):
        (folder / name).write_bytes((saved_folder / name).read_bytes())
    data = (saved_folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="corrupt or truncated"):
        from_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(IntegrityError, match="corrupt or truncated"):
        from_pretrained(folder)


def test_config_that_does_not_match_the_weights(saved_folder, tmp_path):
    folder = tmp_path / "mismatch"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((saved_folder / "model.safetensors").read_bytes())
    config = json.loads((saved_folder / "config.json").read_text())
    config["arch_args"]["C"] = 12
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(IntegrityError, match="mis-shaped"):
        from_pretrained(folder)
    config["arch_args"]["C"] = 8
    config["arch_args"]["layers"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(IntegrityError, match="missing"):
        from_pretrained(folder)


def test_bad_config_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="config.json is not a readable model config.json .not JSON"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"schema_version": 99, "name": "x"}))
    with pytest.raises(IntegrityError, match="upgrade robnetzoo"):
        from_pretrained(tmp_path)


@pytest.mark.parametrize("repo", ["bad//repo", "a/b/c", "org/na me"])
def test_malformed_repo_id(repo):
    with pytest.raises(InvalidInput, match="malformed Hub repo id"):
        from_pretrained(repo)


def test_unknown_model_suggests_close_names():
    with pytest.raises(NotFound, match="did you mean robnet-free"):
        from_pretrained("robnet-fre")


def test_download_then_offline_load_from_filled_cache(saved_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    with HubServer({"someorg/tiny-robnet": saved_folder}) as hub:
        point_client_at(hub, monkeypatch)
        online = from_pretrained("someorg/tiny-robnet", cache_dir=cache)
        assert any("model.safetensors" in r for r in hub.requests)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = online(x).sum().item()
    # a fresh process with the Hub unreachable and HF_HUB_OFFLINE=1 loads from the cache
    result = load_offline(cache, "someorg/tiny-robnet")
    assert result.returncode == 0, result.stderr
    assert sum(eval(result.stdout)) == pytest.approx(expected, abs=1e-5)  # noqa: S307 - our own output
    # and a model that was never cached gives one clear line
    missing = load_offline(cache, "someorg/other")
    assert missing.returncode != 0
    assert "not in the local cache and downloads are off" in missing.stderr


def test_registry_name_resolves_to_configurable_org(monkeypatch, tmp_path):
    from robnetzoo.registry import get_entry

    assert get_entry("robnet-large").hub_repo == "robnetzoo/robnet-large"
    monkeypatch.setenv("ROBNETZOO_HUB_ORG", "mylab")
    assert get_entry("robnet-large").hub_repo == "mylab/robnet-large"


def test_card_records_the_models_threat_model(tmp_path):
    import dataclasses

    from robnetzoo.threat import ThreatModel

    model = robnetzoo.create_model("robnet-large", C=4, layers=3)
    model.zoo_config = dataclasses.replace(model.zoo_config, threat_model=ThreatModel("L2", 0.5))
    save_pretrained(
        model,
        tmp_path / "l2",
        eval_results=[
            {"metric": "clean", "accuracy": 90.0},
            {"metric": "pgdl2", "accuracy": 60.0},
        ],
    )
    card = (tmp_path / "l2" / "README.md").read_text()
    assert "Threat model: L2, eps = 0.5." in card and "Linf" not in card
    meta = yaml.safe_load(card.split("---")[1])
    robust = meta["model-index"][0]["results"][0]["metrics"][1]
    assert "L2 eps=0.5" in robust["name"] and robust["args"]["norm"] == "L2"
    assert json.loads((tmp_path / "l2" / "config.json").read_text())["threat_model"] == {"norm": "L2", "eps": 0.5}
    assert robnetzoo.from_pretrained(tmp_path / "l2").zoo_config.threat_model == ThreatModel("L2", 0.5)


def test_the_card_carries_the_hubs_metadata_and_eval_results_in_both_forms(tmp_path):
    import huggingface_hub
    import yaml

    import robnetzoo
    from robnetzoo.hub import EVAL_RESULTS_NAME, save_pretrained

    model = robnetzoo.create_model("robnet-large", C=4, layers=3, num_classes=7)  # derived: base_model
    rows = [
        {"metric": "clean", "accuracy": 81.234, "n_examples": 64, "split": "test"},
        {"metric": "pgd20", "accuracy": 40.5, "n_examples": 64, "split": "test", "norm": "Linf", "eps": 8 / 255},
    ]
    checks = [
        {"name": "gradients", "passed": True, "summary": "0 of 64 examples have a zero input gradient"},
        {"name": "black_box", "passed": False, "summary": "square broke 5 of 20"},
    ]
    folder = save_pretrained(model, tmp_path / "m", eval_results=rows, checks=checks)
    card = huggingface_hub.ModelCard.load(folder / "README.md")
    assert card.data.pipeline_tag == "image-classification" and "arxiv:1911.10695" in card.data.tags
    assert card.data.base_model is None  # robnetzoo/robnet-large is no Hub repository: the card names none
    assert "robnet-large" in card.text  # the card's text still says what it was derived from
    assert [r.metric_value for r in card.data.eval_results] == [81.23, 40.5]
    assert "1 passed, 1 failed" in card.text and "FAILED: `black_box`" in card.text
    entries = yaml.safe_load((folder / EVAL_RESULTS_NAME).read_text())
    assert [e["dataset"]["task_id"] for e in entries] == ["clean", "pgd20-linf-8_255"]
    assert entries[0]["dataset"]["id"] == "uoft-cs/cifar10" and "n=64" in entries[0]["notes"]
    if hasattr(huggingface_hub, "parse_eval_result_entries"):  # the Hub client's own reader of the format
        parsed = huggingface_hub.parse_eval_result_entries(entries)
        assert [p.value for p in parsed] == [81.23, 40.5] and parsed[1].task_id == "pgd20-linf-8_255"


def test_the_card_says_what_each_measurement_cost(tmp_path):
    import yaml

    import robnetzoo
    from robnetzoo.hub import EVAL_RESULTS_NAME, save_pretrained

    model = robnetzoo.create_model("robnet-large", C=4, layers=3)
    rows = [
        {
            "metric": "clean",
            "accuracy": 81.0,
            "n_examples": 64,
            "forward_passes": 64,
            "backward_passes": 0,
            "seconds": 0.5,
            "device": "cpu",
        },
        {
            "metric": "pgd20",
            "accuracy": 40.5,
            "n_examples": 64,
            "forward_passes": 1024,
            "backward_passes": 990,
            "seconds": 12.25,
            "device": "cpu",
        },
    ]
    folder = save_pretrained(model, tmp_path / "m", eval_results=rows)
    card = (folder / "README.md").read_text()
    assert "`pgd20`: cost 1,024 forward + 990 backward image-passes, 12.2 s on cpu" in card
    entries = yaml.safe_load((folder / EVAL_RESULTS_NAME).read_text())
    assert "cost 1,024 forward + 990 backward" in entries[1]["notes"]
    plain = save_pretrained(model, tmp_path / "n", eval_results=[{"metric": "clean", "accuracy": 81.0}])
    assert (
        "What each measurement cost" not in (plain / "README.md").read_text()
    )  # nothing claimed where nothing was counted


@pytest.mark.parametrize(
    "header, value",
    [
        ("ETag", '"../../../../pwned_blob_etag"'),
        ("X-Repo-Commit", "../../../../pwned_commit"),
        ("X-Linked-Etag", '"../../pwned_linked"'),
    ],
)
def test_a_server_that_answers_a_path_for_a_digest_writes_nothing_outside_the_cache(
    saved_folder, tmp_path, monkeypatch, capsys, header, value
):
    """A mirror, proxy or HF_ENDPOINT chooses the ETag and commit the cache builds its paths
    from: anything but the hex digests the Hub protocol defines is refused before a file is written."""
    from robnetzoo.cli.app import main

    cache = tmp_path / "deep" / "er" / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    with HubServer({"someorg/tiny-robnet": saved_folder}) as hub:
        hub.hostile_headers = {header: value}
        point_client_at(hub, monkeypatch)
        with pytest.raises(IntegrityError, match=header):
            from_pretrained("someorg/tiny-robnet", cache_dir=cache)
        assert main(["info", "someorg/tiny-robnet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a hex digest" in err, err
    assert not [p for p in tmp_path.rglob("*pwned*")], list(tmp_path.rglob("*pwned*"))
    # the same server, honest again, serves the model
    with HubServer({"someorg/tiny-robnet": saved_folder}) as hub:
        point_client_at(hub, monkeypatch)
        assert from_pretrained("someorg/tiny-robnet", cache_dir=cache) is not None


@pytest.mark.parametrize("revision", ["../../../escaped", "main/../../up", "a\x1b[2Jb"])
def test_a_revision_that_climbs_out_of_the_cache_is_refused(revision, tmp_path):
    """The cache writes refs/<revision>: a revision is a name, never a path."""
    with pytest.raises(InvalidInput, match="is not a branch, tag or commit name"):
        from_pretrained("someorg/tiny-robnet", revision=revision, cache_dir=tmp_path / "cache")
    assert list(tmp_path.rglob("escaped")) == [] and list(tmp_path.parent.rglob("up")) == []
