"""Gradient attacks: FGSM, PGD (L-inf and L2), MI-FGSM and the CW margin loss under PGD.

Parameter names and defaults follow torchattacks (``alpha``, ``steps``, ``random_start``,
``decay``), so results can be compared one to one.
"""

from __future__ import annotations

import torch

from ..errors import InvalidInput
from .base import IterativeAttack


class FGSM(IterativeAttack):
    """One signed-gradient step of size eps (Goodfellow et al., 2015)."""

    name = "fgsm"

    def step(self, x, grad, images, index, state):
        return torch.clamp(x + self.eps * grad.sign(), 0, 1)


class PGD(IterativeAttack):
    """L-inf projected gradient descent on the cross-entropy (Madry et al., 2018)."""

    name = "pgd"

    def __init__(self, model, *, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True, **kwargs):
        super().__init__(model, eps=eps, **kwargs)
        if steps < 1 or alpha <= 0:
            raise InvalidInput(f"PGD needs steps >= 1 and alpha > 0, got steps={steps}, alpha={alpha}")
        self.alpha, self.steps, self.use_random_start = float(alpha), int(steps), bool(random_start)

    def params(self) -> dict:
        return {"eps": self.eps, "alpha": self.alpha, "steps": self.steps, "random_start": self.use_random_start}

    def step(self, x, grad, images, index, state):
        return self.project(x + self.alpha * grad.sign(), images)


class CW(PGD):
    """PGD on the Carlini-Wagner margin ``max_{j != y} z_j - z_y`` (L-inf, as in TRADES/MART)."""

    name = "cw"

    def __init__(self, model, *, eps=8 / 255, alpha=2 / 255, steps=20, random_start=True, kappa=50.0, **kwargs):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start, **kwargs)
        self.kappa = float(kappa)

    def loss(self, logits, labels):
        true = logits.gather(1, labels[:, None]).squeeze(1)
        other = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
        return torch.clamp(other.max(1).values - true, max=self.kappa).sum()


class MIFGSM(PGD):
    """Momentum iterative FGSM (Dong et al., 2018); gradients L1-normalised per example."""

    name = "mifgsm"

    def __init__(self, model, *, eps=8 / 255, alpha=2 / 255, steps=10, decay=1.0, random_start=False, **kwargs):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start, **kwargs)
        self.decay = float(decay)

    def params(self) -> dict:
        return {**super().params(), "decay": self.decay}

    def init_state(self, images):
        return {"momentum": torch.zeros_like(images)}

    def step(self, x, grad, images, index, state):
        grad = grad / grad.abs().mean(dim=(1, 2, 3), keepdim=True)
        grad = grad + state["momentum"][index] * self.decay
        state["momentum"][index] = grad
        return self.project(x + self.alpha * grad.sign(), images)


class PGDL2(PGD):
    """L2 projected gradient descent; eps is the L2 radius (default 0.5 for 32x32 images)."""

    name = "pgdl2"
    norm = "L2"
    max_eps = float("inf")  # an L2 radius can exceed 1 (a 3x32x32 image's diagonal is ~55)

    def __init__(self, model, *, eps=0.5, alpha=0.1, steps=10, random_start=True, **kwargs):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start, **kwargs)

    def start(self, images, generator):
        if not self.use_random_start:
            return images.clone()
        flat = images.flatten(1)
        direction = torch.randn(flat.shape, generator=generator, device=images.device)
        direction = direction / direction.norm(dim=1, keepdim=True)
        radius = torch.rand(len(images), 1, generator=generator, device=images.device) * self.eps
        return torch.clamp(images + (direction * radius).view_as(images), 0, 1)

    def project(self, adversarial, images):
        delta = (adversarial - images).flatten(1)
        factor = torch.clamp(self.eps / (delta.norm(dim=1, keepdim=True) + 1e-12), max=1.0)
        return torch.clamp(images + (delta * factor).view_as(images), 0, 1)

    def step(self, x, grad, images, index, state):
        flat = grad.flatten(1)
        grad = (flat / (flat.norm(dim=1, keepdim=True) + 1e-10)).view_as(grad)
        return self.project(x + self.alpha * grad, images)
