"""``apgd-cascade``: AutoAttack's verdict for a fraction of its passes.

Standard AutoAttack runs APGD-CE, APGD-T (9 targets), FAB-T (9 targets) and Square (5,000
queries) on every example still standing, and within each attack keeps attacking an example
it has already broken until the attack's iterations end. Most of that budget buys nothing on
a model whose gradients are informative: Croce & Hein report that APGD-CE and APGD-T alone
match the full ensemble on almost every RobustBench entry, and FAB-T and Square exist to catch
gradient masking. The cascade runs

1. APGD-CE (``steps`` iterations) on every example;
2. APGD-T against the ``targets`` most likely wrong classes (3 by default, where AutoAttack
   takes 9) on the examples still standing (skipped for a model of fewer than 4 classes, whose
   targeted DLR loss is undefined);
3. Square (``square_queries``, AutoAttack's 5,000 by default) only on the examples still
   standing whose input gradient was never usable (zero or not finite at every iterate of
   both APGD stages): the points where a gradient attack had nothing to follow, which is what
   masking by quantised inputs or saturated outputs looks like. Where every point is masked,
   Square is nearly all of both attacks' cost, so the cascade cannot cost a fifth of
   AutoAttack there at this budget; a fifth of it (1,000 queries) was measured weaker than
   AutoAttack on such a model (``benchmarks/autoattack_budget.py``), and an attack that
   overstates robustness is the worse failure, so the default stays AutoAttack's;

and every stage drops an example the moment it is broken (APGD also drops one it can never
move again: a masked point costs each APGD run two passes, not 101). What it does not catch: gradients
that are non-zero but useless (shattered by a non-differentiable layer approximated badly, or
randomised), which AutoAttack's Square over every standing point would. The evaluator's
``black_box`` check (run ``square`` beside it) and ``autoattack`` itself remain the remedy;
``benchmarks/autoattack_budget.py`` measures where the cascade meets AutoAttack and where not.

``stages`` holds the passes each stage spent over every call so far.
"""

from __future__ import annotations

import torch

from ..errors import InvalidInput
from .apgd import APGD, APGDTargeted
from .base import Attack, Passes
from .square import Square


class APGDCascade(Attack):
    name = "apgd-cascade"
    norms = ("Linf", "L2")

    def __init__(self, model, *, steps: int = 100, targets: int = 3, square_queries: int = 5000, **kwargs):
        super().__init__(model, **kwargs)
        if steps < 1 or targets < 0 or square_queries < 0:
            raise InvalidInput(
                f"apgd-cascade needs steps >= 1, targets >= 0 and square_queries >= 0, "
                f"got {steps}, {targets}, {square_queries}"
            )
        self.steps, self.targets, self.square_queries = int(steps), int(targets), int(square_queries)
        shared = {
            "eps": self.eps,
            "norm": self.norm,
            "seed": self.seed,
            "precision": self.precision,
            "mode": "keep",
            "validate": False,
        }
        self.ce = APGD(model, steps=self.steps, loss="ce", **shared)
        self.targeted = APGDTargeted(model, steps=self.steps, targets=max(self.targets, 1), **shared)
        # Square is an L-inf attack: under L2 the masked points have no score-based fallback here
        self.square = Square(model, queries=max(self.square_queries, 1), **shared) if self.norm == "Linf" else None
        for stage in (self.ce, self.targeted, self.square):
            if stage is not None:
                stage.passes = self.passes  # one count: every model call of a stage is the cascade's
        self.stages: dict[str, Passes] = {"apgd-ce": Passes(), "apgd-t": Passes(), "square": Passes()}

    @property
    def on_forward(self):
        return self._on_forward

    @on_forward.setter
    def on_forward(self, hook):
        """The stages' model calls are the cascade's: they tell the cascade's watcher."""
        self._on_forward = hook
        for stage in (getattr(self, name, None) for name in ("ce", "targeted", "square")):
            if stage is not None:
                stage.on_forward = hook

    def planned_passes(self):
        total = self.ce.planned_passes()
        if self.targets:
            total = total + self.targeted.planned_passes()
        if self.square is not None and self.square_queries:
            total = total + self.square.planned_passes()  # only masked points pay it
        return total

    def _stage(
        self, name: str, attack: Attack, images, labels, early_stop, noise, index, adversarial, broken, judge
    ) -> torch.Tensor:
        """Run ``attack`` on the examples at ``index``; record what it broke and spent."""
        before = self.passes.copy()
        part, part_broken = attack._perturb(images[index], labels[index], early_stop, noise.subset(index), judge)
        adversarial[index] = part
        broken[index] |= part_broken
        self.stages[name] = self.stages[name] + (self.passes - before)
        return part_broken

    def _perturb(self, images, labels, early_stop, noise, judge=True):
        adversarial = images.clone()
        broken = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        everyone = torch.arange(len(images), device=images.device)
        self._stage("apgd-ce", self.ce, images, labels, True, noise, everyone, adversarial, broken, judge)
        stuck = torch.zeros_like(broken)
        stuck[everyone] = self.ce.stuck if self.ce.stuck is not None else False
        standing = (~broken).nonzero().squeeze(1)
        if self.targets and len(standing) and (self.ce.classes or 0) >= 4:  # APGD-T's loss needs 4 classes
            self._stage("apgd-t", self.targeted, images, labels, True, noise, standing, adversarial, broken, judge)
            if self.targeted.stuck is not None:
                stuck[standing] &= self.targeted.stuck
        masked = (stuck & ~broken).nonzero().squeeze(1)
        if self.square is not None and self.square_queries and len(masked):
            self._stage("square", self.square, images, labels, True, noise, masked, adversarial, broken, judge)
        return adversarial, broken
