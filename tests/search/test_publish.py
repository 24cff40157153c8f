"""``robnetzoo publish``: a trained run -> the loopback Hub (the real client's upload protocol)
-> ``from_pretrained(repo id)``, online and then offline in a fresh process."""

from __future__ import annotations

import json

import pytest
import torch

from robnetzoo import from_pretrained
from robnetzoo.cli.app import main
from robnetzoo.hub import load_folder
from tests.support.hubserver import HubServer, load_offline, point_client_at


@pytest.fixture()
def hub(monkeypatch, tmp_path):
    with HubServer(token="write-token") as server:
        point_client_at(server, monkeypatch)
        # The LFS upload path: the Xet path needs Hugging Face's CAS service (see hubserver.py).
        monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "cache"))
        yield server


def _logits(model, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    x = torch.rand(2, 3, 32, 32)  # what load_offline feeds its fresh process
    with torch.no_grad():
        return model.eval()(x)


def test_publish_then_load_by_repo_id_online_and_offline(run_copy, hub, tmp_path, capsys):
    code = main(["publish", str(run_copy), "--repo-id", "lab/digits-robnet", "--token", "write-token", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["checked"] == 8 and result["url"].startswith(hub.url)
    committed = hub.repos["lab/digits-robnet"]
    assert sorted(committed) == [
        ".eval_results/robnetzoo.yaml",
        "README.md",
        "config.json",
        "model.safetensors",
    ]  # no checkpoints, no logs
    assert any(r.startswith("PUT /lfs-upload/") for r in hub.requests)  # the weights went through LFS
    card = committed["README.md"].decode()
    assert "model-index" in card and "guo2020meets" in card and "Genotype" in card and "recipe.json" in card
    assert 'from_pretrained("lab/digits-robnet")' in card

    local = load_folder(run_copy)
    online = from_pretrained("lab/digits-robnet", cache_dir=tmp_path / "cache")
    assert torch.equal(_logits(local), _logits(online))

    fresh = load_offline(tmp_path / "cache", "lab/digits-robnet")
    assert fresh.returncode == 0, fresh.stderr
    assert eval(fresh.stdout) == _logits(local).flatten().tolist()  # noqa: S307 - our own output


def test_publish_to_a_branch_and_dry_run(run_copy, hub, capsys):
    assert main(["publish", str(run_copy), "--repo-id", "lab/dry", "--dry-run"]) == 0
    assert "lab/dry" not in hub.store  # nothing was uploaded
    assert (
        main(
            [
                "publish",
                str(run_copy),
                "--repo-id",
                "lab/branchy",
                "--token",
                "write-token",
                "--revision",
                "v1",
                "--private",
            ]
        )
        == 0
    )
    assert hub.private["lab/branchy"] is True
    assert sorted(hub.store["lab/branchy"]["v1"]) == [
        ".eval_results/robnetzoo.yaml",
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    assert hub.store["lab/branchy"]["main"] == {}


@pytest.mark.parametrize(
    "change, args, message",
    [
        (None, ["--repo-id", "not a repo"], "repo"),
        (None, ["--repo-id", "lab/x"], "no token, or one without write access"),
        ("unfinished", ["--repo-id", "lab/x", "--token", "write-token"], "unfinished run"),
        ("no-eval", ["--repo-id", "lab/x", "--token", "write-token"], "has no evaluation"),
        ("not-a-run", ["--repo-id", "lab/x", "--token", "write-token"], "is not a robnetzoo run"),
        ("tampered", ["--repo-id", "lab/x", "--token", "write-token"], "do not reproduce eval.json"),
    ],
)
def test_publish_refuses_in_one_line(run_copy, hub, capsys, change, args, message):
    if change == "unfinished":
        run = json.loads((run_copy / "run.json").read_text())
        (run_copy / "run.json").write_text(json.dumps({**run, "status": "training"}))
    elif change == "no-eval":
        (run_copy / "eval.json").unlink()
    elif change == "not-a-run":
        (run_copy / "run.json").unlink()
    elif change == "tampered":  # results that the weights do not give: the first clean mark flipped
        from robnetzoo.evaluation.store import read_results_file

        clean = read_results_file(run_copy / "eval_results.json")["results"]["clean"]
        with open(run_copy / "eval_results.json", "a") as results:  # a later line wins, as for an appended batch
            results.write(json.dumps({"marks": {"clean": {"i": [0], "m": "0" if clean[0] == "1" else "1"}}}) + "\n")
    code = main(["publish", str(run_copy), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], err  # one line (after any progress note)
    assert "lab/x" not in hub.store


def test_publish_without_a_network_is_one_line(run_copy, monkeypatch, capsys):
    """A Hub that cannot be reached (a closed loopback port): the transport error is the
    environment's, named in one line with the fix, not an internal error."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{port}")
    code = main(["publish", str(run_copy), "--repo-id", "lab/x", "--token", "write-token"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "cannot reach the Hub" in errors[0] and "HF_ENDPOINT" in errors[0], err
