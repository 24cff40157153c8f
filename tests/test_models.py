import pytest
import torch

from robnetzoo.config import build_model
from robnetzoo.factory import create_model
from robnetzoo.models import RobNet
from robnetzoo.profile import count_parameters
from robnetzoo.registry import REGISTRY, buildable_config, list_models

EXPECTED_PARAMS = {
    "robnet-large": 6_842_710,
    "robnet-free": 5_439_790,
    "robnet-free-svhn": 5_439_790,
    "robnet-large-v2": 33_326_666,
    "robnet-large-imagenet": 12_756_448,
    "resnet18": 11_173_962,
    "resnet50": 23_520_842,
    "wrn-28-10": 36_479_194,
    "densenet121": 6_956_298,
}


def _on_meta(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(buildable_config(name))


def test_every_buildable_registry_model_has_its_exact_parameter_count():
    buildable = [n for n in list_models() if REGISTRY[n].buildable]
    assert sorted(buildable) == sorted(EXPECTED_PARAMS)
    for name in buildable:
        assert count_parameters(_on_meta(name)) == EXPECTED_PARAMS[name], name


@pytest.mark.parametrize(
    "name, layout_key",
    [
        ("robnet-large", "RobNet_large_v1_cifar10"),
        ("robnet-free", "RobNet_free_cifar10"),
        ("robnet-large-imagenet", "RobNet_large_v1_imgnet"),
    ],
)
def test_state_dict_keys_and_shapes_match_the_authors_checkpoints(layout, name, layout_key):
    ours = {k: list(v.shape) for k, v in _on_meta(name).state_dict().items()}
    assert ours == layout[layout_key]
    assert list(ours) == list(layout[layout_key])  # same order, too


@pytest.mark.parametrize("name, authors", [
    ("robnet-large", "RobNet_large_v1_cifar10"),
    ("robnet-free", "RobNet_free_cifar10"),
    ("robnet-large-v2", "RobNet_large_v2_cifar10"),
    ("robnet-large-imagenet", "RobNet_large_v1_imgnet"),
])
def test_parameter_count_equals_the_authors_published_count(layout, name, authors):
    # the registry entry names the authors' config, and our count of the model it builds
    # equals the count published with their checkpoints
    assert REGISTRY[name].authors_config == authors
    assert count_parameters(_on_meta(name)) == layout["counts"][authors]


def test_count_parameters_counts_frozen_parameters_too():
    model = create_model("robnet-large", C=8, layers=3)
    trainable = count_parameters(model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    assert count_parameters(model) == trainable > 0


def test_forward_shapes_cifar_and_imagenet_stems():
    torch.manual_seed(0)
    cifar = RobNet(["01" * 14], C=8, layers=3, num_classes=7).eval()
    assert cifar(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    imagenet = RobNet(["11" * 14], C=8, layers=3, num_classes=5, stem="imagenet").eval()
    assert imagenet(torch.rand(1, 3, 64, 64)).shape == (1, 5)


def test_all_zero_node_still_produces_output():
    # node 0 has both edges '00': its state must be zeros of the right shape, not a crash
    cell = ["00", "00"] + ["01"] * 12
    model = RobNet([ "".join(cell) ], C=8, layers=3).eval()
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_create_model_overrides_and_errors():
    model = create_model("resnet18", num_classes=100)
    assert model.linear.out_features == 100 and model.zoo_config.num_classes == 100
    with pytest.raises(LookupError, match="did you mean robnet-large"):
        create_model("robnet-larg")
    with pytest.raises(LookupError, match="never published"):
        create_model("robnet-small")
    with pytest.raises(ValueError, match="bad arguments"):
        create_model("resnet18", depth=3)
