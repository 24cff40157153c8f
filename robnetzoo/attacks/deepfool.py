"""DeepFool (Moosavi-Dezfooli et al., 2016), batched over images *and* classes.

Each iteration is one forward pass and one backward pass per candidate class for the whole
batch, never a Python loop per image (torchattacks' DeepFool loops per image and takes hours
on CIFAR-10). The L-inf variant steps along sign(w) by |f| / ||w||_1. DeepFool finds a
minimal perturbation; for robust accuracy at eps the result is projected onto the eps-ball
and the projected image is what is judged.
"""

from __future__ import annotations

import torch

from ..errors import InvalidInput
from .base import Attack, Passes


class DeepFool(Attack):
    name = "deepfool"

    def __init__(self, model, *, steps=50, overshoot=0.02, candidates=10, **kwargs):
        super().__init__(model, **kwargs)
        if steps < 1 or candidates < 2:
            raise InvalidInput(f"DeepFool needs steps >= 1 and candidates >= 2, got {steps}, {candidates}")
        self.steps, self.overshoot, self.candidates = int(steps), float(overshoot), int(candidates)

    def planned_passes(self):
        return Passes(self.steps + 1, self.steps * self.candidates)  # one backward per candidate class

    def _perturb(self, images, labels, early_stop, noise, judge=True):
        total = torch.zeros_like(images)
        active = torch.arange(len(images), device=images.device)
        classes = None
        for _ in range(self.steps):
            if len(active) == 0:
                break
            x = torch.clamp(images[active] + (1 + self.overshoot) * total[active], 0, 1).requires_grad_(True)
            logits = self.logits(x)
            if classes is None:  # candidates: the true label first, then the top other classes
                k = min(self.candidates, logits.shape[1])
                others = logits.detach().scatter(1, labels[:, None], float("-inf")).topk(k - 1, dim=1).indices
                classes = torch.cat([labels[:, None], others], dim=1)
            fooled = logits.detach().argmax(1) != labels[active]
            keep = ~fooled
            active_classes = classes[active]
            chosen = logits.gather(1, active_classes)  # (b, k), column 0 is the true class
            grads = [
                torch.autograd.grad(chosen[:, c].sum(), x, retain_graph=c < chosen.shape[1] - 1)[0]
                for c in range(chosen.shape[1])
            ]
            grads = torch.stack(grads, dim=1)  # (b, k, C, H, W)
            w = grads[:, 1:] - grads[:, :1]
            f = (chosen[:, 1:] - chosen[:, :1]).detach()
            distance = f.abs() / (w.flatten(2).abs().sum(2) + 1e-8)
            best = distance.argmin(1)
            w_best = w[torch.arange(len(best)), best]
            step = (distance.gather(1, best[:, None]).squeeze(1) + 1e-4)[:, None, None, None] * w_best.sign()
            total[active[keep]] += step[keep]
            active = active[keep]
        adversarial = torch.clamp(images + torch.clamp((1 + self.overshoot) * total, -self.eps, self.eps), 0, 1)
        return adversarial, self.is_fooled(adversarial, labels)
