import pytest
import torch

from robnetzoo.config import build_model
from robnetzoo.factory import create_model
from robnetzoo.models import RobNet
from robnetzoo.profile import count_parameters
from robnetzoo.registry import REGISTRY, buildable_config, list_models

EXPECTED_PARAMS = {
    "wrn-10-1": 77_850,
    "robnet-digits": 115_282,  # the packaged demo model: C=8, 5 cells
    "robnet-large": 6_842_710,
    "robnet-free": 5_439_790,
    "robnet-free-svhn": 5_439_790,
    "robnet-large-v2": 33_326_666,
    "robnet-large-imagenet": 12_756_448,
    "resnet18": 11_173_962,
    "resnet50": 23_520_842,
    "wrn-28-10": 36_479_194,
    "densenet121": 6_956_298,
    # feature denoising (three RobNet blocks, four ResNet ones, each theta, phi and a 1x1 projection)
    "resnet18-denoise": 11_870_282,
    "robnet-large-denoise": 7_713_622,
    # the ImageNet table (torchvision's counts, the test below checks)
    "resnet50-imagenet": 25_557_032,
    "resnet101-imagenet": 44_549_160,
    "resnet152-imagenet": 60_192_808,
    # the other data sets' table: classifiers of 100 and 200 classes
    "resnet18-svhn": 11_173_962,
    "resnet18-cifar100": 11_220_132,
    "resnet18-tiny-imagenet": 11_271_432,
    "resnet50-svhn": 23_520_842,
    "resnet50-cifar100": 23_705_252,
    "resnet50-tiny-imagenet": 23_910_152,
    "robnet-large-svhn": 6_842_710,
    "robnet-large-cifar100": 6_894_640,
    "robnet-large-tiny-imagenet": 6_952_340,
    "robnet-free-cifar100": 5_491_720,
    "robnet-free-tiny-imagenet": 5_549_420,
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


@pytest.mark.parametrize(
    "name, authors",
    [
        ("robnet-large", "RobNet_large_v1_cifar10"),
        ("robnet-free", "RobNet_free_cifar10"),
        ("robnet-large-v2", "RobNet_large_v2_cifar10"),
        ("robnet-large-imagenet", "RobNet_large_v1_imgnet"),
    ],
)
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
    model = RobNet(["".join(cell)], C=8, layers=3).eval()
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


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_the_imagenet_resnets_are_the_standard_ones_and_the_paper_counts_their_backbones(depth):
    import torchvision

    ours = _on_meta(f"resnet{depth}-imagenet")
    with torch.device("meta"):
        reference = getattr(torchvision.models, f"resnet{depth}")()
    assert count_parameters(ours) == count_parameters(reference)
    backbone = count_parameters(ours) - count_parameters(ours.get_classifier())
    paper = REGISTRY[f"resnet{depth}-imagenet"].paper_params
    assert abs(backbone - paper) / paper < 0.001  # 23.52M / 42.52M / 58.16M: without the 1000-way classifier


def test_denoising_blocks_start_as_the_identity_and_refuse_what_does_not_exist():
    from robnetzoo.errors import InvalidInput

    torch.manual_seed(0)
    plain = create_model("robnet-large", C=4, layers=3).eval()
    for mode in ("gaussian", "dot", "mean"):
        denoised = create_model("robnet-large", C=4, layers=3, denoise=mode).eval()
        state = {k: v for k, v in denoised.state_dict().items() if not k.startswith("denoise.")}
        plain.load_state_dict(state)
        x = torch.rand(2, 3, 32, 32)
        with torch.no_grad():
            assert torch.equal(plain(x), denoised(x)), mode  # zero-initialised projection: identity at start
            torch.nn.init.normal_(denoised.denoise["stage2"].project.weight, std=0.1)
            assert not torch.equal(plain(x), denoised(x)), mode  # and a real operation once trained
    with pytest.raises(InvalidInput, match="no stage 'layer9' to denoise after; its stages are layer1"):
        create_model("resnet18", denoise={"mode": "gaussian", "stages": ["layer9"]})
    with pytest.raises(InvalidInput, match="unknown denoising operation 'median'"):
        create_model("robnet-large", C=4, layers=3, denoise="median")


def test_a_denoising_robnet_trains_on_digits(tmp_path):
    """Training moves the blocks off the identity (their export parity: tests/export/test_zoo_parity.py)."""
    from robnetzoo.hub import load_folder
    from robnetzoo.search.runs import train_run
    from tests.support import tiny_recipe

    recipe = tiny_recipe().with_overrides(epochs=1, train_examples=32, validation_size=16, validation_attack="pgd2")
    train_run(
        "robnet-large-denoise",
        dataset="digits",
        recipe=recipe,
        output=tmp_path / "run",
        width=4,
        layers=3,
        seed=0,
        eval_n=8,
    )
    model = load_folder(tmp_path / "run")
    assert model.zoo_config.arch_args["denoise"] == "gaussian" and set(model.denoise) == {"stage1", "stage2", "stage3"}
    assert all(block.project.weight.abs().sum() > 0 for block in model.denoise.values())  # trained off the identity


@pytest.mark.parametrize(
    "name", ["robnet-large", "robnet-free", "resnet18", "densenet121", "robnet-large-tiny-imagenet"]
)
def test_macs_from_torchs_flop_counter_equal_the_convolution_and_linear_count(name):
    """The published MAC figures were first made by counting Conv2d and Linear with hooks;
    ``count_macs`` now asks torch's FlopCounterMode, and must give the same figure."""
    from torch import nn

    import robnetzoo
    from robnetzoo.config import config_of
    from robnetzoo.profile import count_macs

    model = robnetzoo.create_model(name).eval()
    size = tuple(config_of(model).input_size)
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += (
                output.numel() * module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            )
        else:
            total += output.numel() * module.in_features

    handles = [
        module.register_forward_hook(hook) for module in model.modules() if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(torch.zeros(1, *size))
    for handle in handles:
        handle.remove()
    assert count_macs(model, size) == total > 0
