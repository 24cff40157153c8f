"""timm's model interface, shared by every architecture of the zoo: ``forward_features(x)``
(the final feature map, before pooling), ``forward_head(features, pre_logits=False)``,
``get_classifier()``, ``reset_classifier(num_classes)``, and the ``num_features`` /
``num_classes`` attributes. ``forward(x)`` is ``forward_head(forward_features(x))`` in every
model, so what timm users do with a backbone (features for detection, a new head for
finetuning) works on a RobNet as on a timm ResNet.

The classifier keeps the attribute name of each architecture's published checkpoints
(``classifier`` in RobNets, ``linear`` in ResNets and DenseNets, ``fc`` in WRNs): the state dict
layout the authors' weights load into is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassifierHead:
    """Mixin for an ``nn.Module`` with global average pooling and one linear classifier held in
    the attribute ``head_name``. Call ``init_head(num_features, num_classes)`` in ``__init__``."""

    head_name = "classifier"
    num_features: int
    num_classes: int

    def init_head(self, num_features: int, num_classes: int) -> None:
        self.num_features, self.num_classes = int(num_features), int(num_classes)
        setattr(self, self.head_name, nn.Linear(num_features, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - each model defines it
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the feature map ``x``; the pooled features with ``pre_logits``, else the logits."""
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return pooled if pre_logits else self.get_classifier()(pooled)

    def get_classifier(self) -> nn.Module:
        return getattr(self, self.head_name)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new, freshly initialised classifier for ``num_classes`` (0: none, the pooled
        features are the output). Only average pooling exists here (``global_pool`` 'avg')."""
        if global_pool not in (None, "avg"):
            raise ValueError(f"only global_pool='avg' is supported, got {global_pool!r}")
        old = self.get_classifier()
        device = old.weight.device if isinstance(old, nn.Linear) else None
        self.num_classes = int(num_classes)
        head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        setattr(self, self.head_name, head.to(device) if device is not None else head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
