"""Every registry architecture exports to ONNX and matches torch (fp32: max |logit difference|
<= 1e-4, 100% top-1 agreement) on clean and adversarial inputs. Small versions of each, built
by the same code: RobNets at C=2 with 3 layers (robnet-free: its first 3 cells), the baselines
with one block per stage (the ImageNet stem, denoising blocks and class counts as their entries
say); BatchNorm statistics are randomised so that folding is really
exercised. Names that share an architecture at this size (robnet-large and -v2 differ only in
width and depth; robnet-free and -free-svhn only in data; the WideResNets only in size) are
exported once. robnet-small and
-medium are whatever genotype the search picks: a sampled one with '00' edges stands in. The
full-size models are the ``slow`` test at the bottom."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import robnetzoo  # noqa: E402
from robnetzoo.registry import ROBNET_FREE_CELLS, get_entry  # noqa: E402


def searched_genotype():
    from robnetzoo.search.sampling import sample_genotype

    genotype = sample_genotype(torch.Generator().manual_seed(3))
    assert "00" in genotype.cells[0]  # zero edges, which must emit no node
    return genotype


def architecture_key(name: str) -> tuple:
    """What decides the small model's graph: names with the same key export the same graph (the
    class count and the image size change shapes, not the graph: one export stands for them)."""
    if get_entry(name).origin == "awaiting-search":
        return ("robnet", "searched genotype")
    config = get_entry(name).config
    args = config.arch_args
    family = {
        "resnet101": "resnet50",
        "resnet152": "resnet50",  # bottleneck ResNets
        "wide-resnet": "wrn-28-10",
    }.get(config.arch, config.arch)  # one WideResNet graph at any size
    return (family, str(args.get("genotype")), args.get("stem"), str(args.get("denoise")), config.input_size[-1] > 64)


def architectures() -> list[list[str]]:
    groups: dict[tuple, list[str]] = {}
    for name in robnetzoo.list_models():
        groups.setdefault(architecture_key(name), []).append(name)
    return list(groups.values())


def small_model(name: str) -> torch.nn.Module:
    from robnetzoo.models.densenet import DenseNet
    from robnetzoo.models.resnet import ResNet
    from robnetzoo.models.wide_resnet import WideResNet

    config = get_entry(name).config
    args = dict(config.arch_args) if config is not None else {}
    classes = args.get("num_classes", 10)
    baselines = {
        "resnet18": lambda: ResNet("basic", [1, 1, 1, 1], classes, args.get("stem", "cifar"), args.get("denoise")),
        "resnet50": lambda: ResNet("bottleneck", [1, 1, 1, 1], classes, args.get("stem", "cifar")),
        "resnet101": lambda: ResNet("bottleneck", [1, 1, 1, 1], classes, "imagenet"),
        "resnet152": lambda: ResNet("bottleneck", [1, 1, 1, 1], classes, "imagenet"),
        "wrn-28-10": lambda: WideResNet(10, 2, classes),
        "wide-resnet": lambda: WideResNet(10, 1, classes),
        "densenet121": lambda: DenseNet((2, 2, 2, 2), growth=8, num_classes=classes),
    }
    if config is not None and config.arch in baselines:
        model = baselines[config.arch]()
        from robnetzoo.config import attach_config

        attach_config(model, config)  # its input size (224 for the ImageNet stem) travels with it
        return model
    overrides: dict = {"C": 2, "layers": 3}
    if get_entry(name).origin == "awaiting-search":
        overrides["genotype"] = searched_genotype()
    elif name.startswith("robnet-free"):
        overrides["genotype"] = ROBNET_FREE_CELLS[:3]
    return robnetzoo.create_model(name, **overrides)


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            if module.affine:
                module.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.data.copy_(0.1 * torch.randn(n, generator=generator))
    return model.eval()


def check_parity(model: torch.nn.Module, folder, n: int = 8) -> dict:
    import onnx

    from robnetzoo.export.onnx import export_onnx
    from robnetzoo.export.parity import parity
    from robnetzoo.export.runtimes import OnnxRuntimeTarget
    from robnetzoo.fast import fold_batchnorm

    size = getattr(getattr(model, "zoo_config", None), "input_size", (3, 32, 32))
    exported = export_onnx(model, folder / "model.onnx", input_size=tuple(size))
    graph = onnx.load(str(exported.path)).graph
    nodes = {node.op_type for node in graph.node}
    # BN after a convolution is folded into it; pre-activation BN (DenseNet, WRN: BN before ReLU
    # and conv) cannot be, and stays: the graph holds exactly those the folded copy kept
    kept = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fold_batchnorm(model)[0].modules())
    assert sum(node.op_type == "BatchNormalization" for node in graph.node) == kept
    images = torch.rand(n, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(images).argmax(1)
    report = parity(model, OnnxRuntimeTarget(exported.path), images, labels, attack="pgd2")
    for side in ("clean", "adversarial"):
        assert report[side]["max_abs_diff"] <= 1e-4, (side, report[side])
        assert report[side]["top1_agreement"] == 100.0, (side, report[side])
    return {
        "nodes": nodes,
        "adds": sum(node.op_type == "Add" for node in graph.node),
        "concats": sum(node.op_type == "Concat" for node in graph.node),
        **report,
    }


@pytest.mark.parametrize("names", architectures(), ids="+".join)
def test_every_registry_architecture_exports_with_fp32_parity(names, tmp_path):
    torch.manual_seed(0)
    model = randomise_batchnorm(small_model(names[0]))
    large_images = getattr(getattr(model, "zoo_config", None), "input_size", (3, 32, 32))[-1] > 32
    result = check_parity(model, tmp_path, n=2 if large_images else 8)  # 224x224 (ImageNet stem): fewer
    if names[0].startswith("robnet"):
        # '00' edges emit no node: the graph's Adds are exactly the cells' sums of non-zero edges
        assert result["adds"] == robnet_sums(model), result["adds"]
        # each FactorizedReduce became one 2x2 stride-2 convolution: the only Concats left are the cells' outputs
        assert result["concats"] == model.zoo_config.arch_args["layers"], result["concats"]


def robnet_sums(model: torch.nn.Module) -> int:
    """Additions a RobNet needs: each node of a cell sums its non-'00' input edges, an '11'
    edge (both operations) sums its two, and a denoising block adds its residual."""
    from robnetzoo.genotype import as_genotype

    args = model.zoo_config.arch_args
    genotype, layers, sums = as_genotype(args["genotype"]), args["layers"], 0
    for layer in range(layers):
        cell, start = genotype.cell_for_layer(layer, layers), 0
        for inputs in (2, 3, 4, 5):  # node k takes the states before it
            edges = cell[start : start + inputs]
            sums += max(sum(code != "00" for code in edges) - 1, 0) + sum(code == "11" for code in edges)
            start += inputs
    return sums + len(model.denoise)  # each denoising block adds its residual


@pytest.mark.slow
@pytest.mark.parametrize("name", ["robnet-large", "robnet-free", "resnet18", "wrn-28-10", "densenet121"])
def test_full_size_exports_with_fp32_parity(name, tmp_path):
    """Full-size exports take about 2 minutes each on 2 cores: slow."""
    torch.manual_seed(0)
    check_parity(randomise_batchnorm(robnetzoo.create_model(name)), tmp_path, n=4)
