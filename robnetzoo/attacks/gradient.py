"""Gradient attacks: FGSM, N-FGSM, PGD (L-inf and L2), MI-FGSM, and PGD on the CW margin and on TRADES' KL.

Parameter names and defaults follow torchattacks (``alpha``, ``steps``, ``random_start``,
``decay``), so results can be compared one to one. Each keyword is stored under its own name:
``Attack.params()`` reads them back from the signatures.
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


class NFGSM(IterativeAttack):
    """N-FGSM (de Jorge et al., 2022), a training attack: one signed-gradient step of ``alpha``
    (eps by default) from a point drawn uniformly within ``noise`` x eps (2 by default), never
    projected back to the eps-ball. The larger noise and the missing projection are what keep
    single-step adversarial training free of catastrophic overfitting at FGSM's cost, so its
    examples lie up to (noise + 1) x eps away: it trains models, it does not measure them
    (``bounded`` is False, and the evaluator refuses it)."""

    name = "nfgsm"
    bounded = False
    random_start = True

    def __init__(self, model, *, alpha=None, noise=2.0, **kwargs):
        super().__init__(model, **kwargs)
        if self.norm != "Linf":
            raise InvalidInput("N-FGSM is an L-inf attack")
        if noise < 0 or (alpha is not None and alpha <= 0):
            raise InvalidInput(f"N-FGSM needs noise >= 0 and alpha > 0, got noise={noise}, alpha={alpha}")
        self.alpha = self.eps if alpha is None else float(alpha)
        self.noise = float(noise)

    def start(self, images, noise):
        uniform = noise.rand(images.shape, images.dtype)
        return torch.clamp(images + (uniform * 2 - 1) * self.noise * self.eps, 0, 1)

    def step(self, x, grad, images, index, state):
        return torch.clamp(x + self.alpha * grad.sign(), 0, 1)


class PGD(IterativeAttack):
    """L-inf projected gradient descent on the cross-entropy (Madry et al., 2018)."""

    name = "pgd"

    def __init__(self, model, *, alpha=2 / 255, steps=10, random_start=True, **kwargs):
        super().__init__(model, **kwargs)
        if steps < 1 or alpha <= 0:
            raise InvalidInput(f"PGD needs steps >= 1 and alpha > 0, got steps={steps}, alpha={alpha}")
        self.alpha, self.steps, self.random_start = float(alpha), int(steps), bool(random_start)

    def step(self, x, grad, images, index, state):
        return self.project(x + self.alpha * grad.sign(), images)


class TradesKL(PGD):
    """PGD on the KL divergence from the clean prediction: TRADES' inner maximisation
    (Zhang et al., 2019), the examples its training loss is computed on. The labels are not
    used; the clean prediction is taken once, before the first step, in the attack's mode."""

    name = "trades"

    def init_state(self, images):
        with torch.no_grad():
            return {"clean": torch.softmax(self.logits(images).float(), dim=1)}

    def loss_of(self, logits, labels, index, state):
        return torch.nn.functional.kl_div(
            torch.log_softmax(logits.float(), dim=1), state["clean"][index], reduction="none"
        ).sum(1)


class CW(PGD):
    """PGD on the Carlini-Wagner margin ``max_{j != y} z_j - z_y`` (L-inf, as in TRADES/MART)."""

    name = "cw"

    def __init__(self, model, *, steps=20, kappa=50.0, **kwargs):
        super().__init__(model, steps=steps, **kwargs)
        self.kappa = float(kappa)

    def loss(self, logits, labels):
        true = logits.gather(1, labels[:, None]).squeeze(1)
        other = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
        return torch.clamp(other.max(1).values - true, max=self.kappa)


class MIFGSM(PGD):
    """Momentum iterative FGSM (Dong et al., 2018); gradients L1-normalised per example."""

    name = "mifgsm"

    def __init__(self, model, *, decay=1.0, random_start=False, **kwargs):
        super().__init__(model, random_start=random_start, **kwargs)
        self.decay = float(decay)

    def init_state(self, images):
        return {"momentum": torch.zeros_like(images)}

    def step(self, x, grad, images, index, state):
        grad = grad / grad.abs().mean(dim=(1, 2, 3), keepdim=True)
        grad = grad + state["momentum"][index] * self.decay
        state["momentum"][index] = grad
        return self.project(x + self.alpha * grad.sign(), images)


class PGDL2(PGD):
    """L2 projected gradient descent; eps is the L2 radius (default 0.5 for 32x32 images).

    The step ``alpha`` defaults to eps / 5 (torchattacks: eps 1.0, alpha 0.2), so it scales
    with the radius instead of staying fixed.
    """

    name = "pgdl2"
    norms = ("L2",)

    def __init__(self, model, *, alpha=None, **kwargs):
        super().__init__(model, alpha=1.0 if alpha is None else alpha, **kwargs)
        if alpha is None:
            self.alpha = self.eps / 5 if self.eps > 0 else 1e-3

    def step(self, x, grad, images, index, state):
        flat = grad.flatten(1)
        grad = (flat / (flat.norm(dim=1, keepdim=True) + 1e-10)).view_as(grad)
        return self.project(x + self.alpha * grad, images)
