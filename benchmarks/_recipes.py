"""What the training benchmarks compare against: the PGD-7 recipe on the digits (PGD-7 at 8/255,
step 2/255, random start, crafted in train mode; SGD cosine from lr 0.05 at batch 64 to 1e-3; no
augmentation: the ``demo`` preset until ``demo_choice.py`` chose the fast recipe), and the
textbook loop's training step."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from robnetzoo.search.recipes import Recipe

PGD7_DIGITS = Recipe(
    name="pgd7-digits",
    dataset="digits",
    epochs=3,
    batch_size=64,
    lr=0.05,
    lr_batch=64,
    final_lr=1e-3,
    attack="pgd7",
    attack_params={"alpha": 2 / 255, "random_start": True},
    attack_mode="train",
    augment="none",
)


def textbook_step(
    model: torch.nn.Module,
    attack: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    lr: float,
    images: torch.Tensor,
    labels: torch.Tensor,
) -> None:
    """One step of the textbook loop: set the lr, craft with the attack (torchattacks), train on
    the adversarial batch with cross-entropy and SGD."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    adversarial = attack(images, labels)
    model.train()
    loss = F.cross_entropy(model(adversarial), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
