"""Checkpoints in the authors' format, built from the published layout, convert exactly."""

import pytest
import torch

import robnetzoo
from robnetzoo.convert import convert_checkpoint
from robnetzoo.errors import IntegrityError, InvalidInput, NotFound
from tests.support import authors_checkpoint


@pytest.mark.parametrize("prefix", ["", "module."])
def test_authors_checkpoint_converts_and_reloads_to_identical_logits(layout, tmp_path, prefix):
    checkpoint = authors_checkpoint(layout, "RobNet_large_v1_cifar10", prefix)
    path = tmp_path / "RobNet_large_cifar.pth.tar"
    torch.save(checkpoint, path)
    summary = convert_checkpoint(path, "robnet-large", tmp_path / "out")
    assert summary["parameters"] == 6_842_710 and summary["epoch"] == 170

    reference = robnetzoo.create_model("robnet-large").eval()
    reference.load_state_dict({k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items()})
    converted = robnetzoo.from_pretrained(tmp_path / "out")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(reference(x), converted(x))
    assert "best_acc 52.1" in (tmp_path / "out" / "README.md").read_text()


def test_checkpoint_for_the_wrong_architecture(layout, tmp_path):
    path = tmp_path / "free.pth.tar"
    torch.save(authors_checkpoint(layout, "RobNet_free_cifar10"), path)
    with pytest.raises(IntegrityError, match=r"missing .*unexpected|unexpected|missing"):
        convert_checkpoint(path, "robnet-large", tmp_path / "out")
    assert not (tmp_path / "out" / "model.safetensors").exists()


class _Bookkeeping:  # a pickled object that weights_only loading refuses
    pass


def test_pickled_objects_need_the_explicit_opt_in(tmp_path, layout):
    checkpoint = authors_checkpoint(layout, "RobNet_large_v1_cifar10")
    checkpoint["args"] = _Bookkeeping()
    path = tmp_path / "pickled.pth.tar"
    torch.save(checkpoint, path)
    with pytest.raises(InvalidInput, match=r"pass trust_pickle=True$"):  # a Python caller reads its keyword
        convert_checkpoint(path, "robnet-large", tmp_path / "out")
    convert_checkpoint(path, "robnet-large", tmp_path / "out", trust_pickle=True)
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_truncated_and_missing_checkpoints(tmp_path, layout):
    path = tmp_path / "cut.pth.tar"
    torch.save(authors_checkpoint(layout, "RobNet_large_v1_cifar10"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(IntegrityError, match="truncated"):
        convert_checkpoint(path, "robnet-large", tmp_path / "out")
    with pytest.raises(NotFound, match="no PyTorch checkpoint at"):
        convert_checkpoint(tmp_path / "nope.pth.tar", "robnet-large", tmp_path / "out")
    torch.save({"state_dict": {}}, path)
    with pytest.raises(IntegrityError, match="no state_dict"):
        convert_checkpoint(path, "robnet-large", tmp_path / "out")


def test_a_python_user_loads_and_converts_a_checkpoint_with_python_calls(layout, tmp_path, monkeypatch):
    """``from_pretrained(name, weights=FILE)`` and ``robnetzoo.convert_checkpoint``: the calls
    the unpublished model's error names to a Python user, in Python terms, not flags."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NotFound) as caught:
        robnetzoo.from_pretrained("robnet-large")
    said = str(caught.value)
    assert "weights='RobNet_large_v1_cifar10.pth.tar'" in said and "robnetzoo.convert_checkpoint(" in said
    assert "--weights" not in said
    checkpoint = authors_checkpoint(layout, "RobNet_large_v1_cifar10", "module.")
    path = tmp_path / "RobNet_large_v1_cifar10.pth.tar"
    torch.save(checkpoint, path)
    loaded = robnetzoo.from_pretrained("robnet-large", weights=path)
    reference = robnetzoo.create_model("robnet-large").eval()
    reference.load_state_dict({k[len("module.") :]: v for k, v in checkpoint["state_dict"].items()})
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert not loaded.training and torch.equal(loaded(x), reference(x))
    robnetzoo.convert_checkpoint(path, "robnet-large", tmp_path / "folder")
    with pytest.raises(InvalidInput, match="weights takes an authors' checkpoint for a registry model"):
        robnetzoo.from_pretrained(tmp_path / "folder", weights=path)
