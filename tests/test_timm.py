"""timm's model interface on every architecture, and the zoo through the real
``timm.create_model``."""

from __future__ import annotations

import pytest
import torch

import robnetzoo


def small(name: str) -> torch.nn.Module:
    from robnetzoo.models.densenet import DenseNet
    from robnetzoo.models.resnet import ResNet
    from robnetzoo.models.wide_resnet import WideResNet

    return {
        "robnet-large": lambda: robnetzoo.create_model("robnet-large", C=4, layers=3),
        "resnet18": lambda: ResNet("basic", [1, 1, 1, 1]),
        "wrn-28-10": lambda: WideResNet(10, 2),
        "densenet121": lambda: DenseNet((2, 2, 2, 2), growth=8),
    }[name]()


@pytest.mark.parametrize("name", ["robnet-large", "resnet18", "wrn-28-10", "densenet121"])
def test_every_architecture_has_timms_feature_interface(name):
    torch.manual_seed(0)
    model = small(name).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.dim() == 4 and features.shape[1] == model.num_features  # unpooled
        pooled = model.forward_head(features, pre_logits=True)
        assert pooled.shape == (2, model.num_features)
        assert torch.equal(model.forward_head(features), model(x))  # forward = head(features)
    keys = set(model.state_dict())
    model.reset_classifier(3)
    assert model.num_classes == 3 and model(x).shape == (2, 3) and set(model.state_dict()) == keys
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)


def test_the_zoo_through_timm_create_model():
    timm = pytest.importorskip("timm")
    from robnetzoo.timm_models import TIMM_NAMES

    model = timm.create_model("robnet_large", C=4, layers=3, num_classes=7)
    assert type(model).__name__ == "RobNet" and model.num_classes == 7
    from robnetzoo.config import config_of

    assert config_of(model).derived_from["name"] == "robnet-large"  # a derived robnet-large, saying so
    assert timm.create_model("robnetzoo_resnet18").__module__.startswith("robnetzoo")
    assert type(timm.create_model("resnet18")).__module__.startswith("timm")  # timm's own name keeps its meaning
    assert set(TIMM_NAMES.values()) == set(robnetzoo.list_models())
    assert "robnet_large" in timm.list_models("robnet*")
    with pytest.raises(RuntimeError, match="Unknown model"):
        timm.create_model("robnet_huge")
