"""APGD (Croce & Hein, ICML 2020): PGD whose step size adapts, so it needs no tuning.

The schedule is the reference code's (``autopgd_base.py`` of AutoAttack): a first step of
2 * eps, momentum 0.75 from the second step on, and checkpoints after 22% of the iterations,
then at intervals shrinking by 3% of the iterations down to 6%, where an example whose loss
rose in at most ``rho`` (75%) of the steps since the last checkpoint, or whose best loss has
not improved since a checkpoint that did not already halve it, halves its step size and
restarts from its best point. The random start is the reference's too (a uniform draw scaled
so its largest coordinate is eps, for L-inf). ``steps`` gradient steps cost ``steps + 1``
forward-and-backward passes for an example that stands to the end, as in the reference; an
example at a point the schedule can never leave (a zero gradient, no momentum, its best point)
leaves the batch under early stopping, with the result the full run would give.

Losses: ``ce`` (cross-entropy) and ``dlr`` (the difference of logits ratio, invariant to the
logits' scale, so a model whose softmax saturates does not hide from it). ``APGDTargeted``
runs the targeted DLR loss against each of the ``targets`` most likely wrong classes in turn,
on the examples still standing: AutoAttack's APGD-T.

Both run inside the suite's one attack loop (``IterativeAttack``): the checkpoints are its
``observe`` seam, the momentum step its ``step``; early stopping and pass counting come with it.
"""

from __future__ import annotations

import torch

from ..errors import InvalidInput
from .base import IterativeAttack, Noise, Passes

LOSSES = ("ce", "dlr")


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)``, per example (needs 3 classes or more)."""
    ordered, order = logits.sort(dim=1)
    top_is_true = (order[:, -1] == labels).to(logits.dtype)
    true = logits.gather(1, labels[:, None]).squeeze(1)
    best_other = ordered[:, -2] * top_is_true + ordered[:, -1] * (1 - top_is_true)
    return -(true - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def targeted_dlr_loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``, per example (needs 4 classes or more)."""
    ordered = logits.sort(dim=1).values
    true = logits.gather(1, labels[:, None]).squeeze(1)
    target = logits.gather(1, targets[:, None]).squeeze(1)
    return -(true - target) / (ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12)


class APGD(IterativeAttack):
    """APGD on the cross-entropy (``apgd-ce``) or the DLR loss (``apgd-dlr``), L-inf or L2."""

    name = "apgd-ce"
    norms = ("Linf", "L2")
    final_step_moves = False

    def __init__(self, model, *, steps: int = 100, loss: str = "ce", rho: float = 0.75, **kwargs):
        super().__init__(model, **kwargs)
        if steps < 1 or loss not in LOSSES or not 0 < rho <= 1:
            raise InvalidInput(
                f"APGD needs steps >= 1, loss in {', '.join(LOSSES)} and rho in (0, 1], "
                f"got steps={steps}, loss={loss!r}, rho={rho}"
            )
        self.steps, self.loss_name, self.rho = int(steps), loss, float(rho)
        # the reference's checkpoint schedule, in iterations
        self.first_check = max(int(0.22 * self.steps), 1)
        self.shortest_check = max(int(0.06 * self.steps), 1)
        self.check_shrink = max(int(0.03 * self.steps), 1)
        self.stuck: torch.Tensor | None = None  # per example of the last call: no usable gradient ever
        self.classes: int | None = None  # the model's classes, once it has been called

    def params(self):
        return {**super().params(), "loss": self.loss_name}  # ``loss`` is also the method's name

    def gradient_evaluations(self) -> int:
        return self.steps + 1

    def loss(self, logits, labels):
        self.classes = int(logits.shape[1])  # for a caller choosing what can run next (the cascade's APGD-T)
        if self.loss_name == "dlr":
            _check_classes(self, logits, 3)
            return dlr_loss(_widened(logits), labels)
        return super().loss(logits, labels)

    def start(self, images: torch.Tensor, noise: Noise) -> torch.Tensor:
        if self.norm == "L2":
            direction = noise.randn(images.shape, images.dtype)
        else:
            direction = noise.rand(images.shape, images.dtype) * 2 - 1
        return torch.clamp(images + self.eps * self._normalise(direction), 0, 1)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        size = flat.norm(dim=1) if self.norm == "L2" else flat.abs().amax(1)
        return x / (size.view(-1, *[1] * (x.ndim - 1)) + 1e-12)

    def init_state(self, images: torch.Tensor) -> dict:
        n = len(images)
        zeros = torch.zeros(
            n, device=images.device, dtype=torch.float64
        )  # losses, kept exactly whatever the model's dtype
        return {
            "step_size": torch.full((n,), 2 * self.eps, device=images.device, dtype=images.dtype),
            "best_point": images.clone(),
            "best_grad": torch.zeros_like(images),
            "best_loss": zeros.clone(),
            "best_at_check": zeros.clone(),
            "halved_at_check": torch.ones(n, device=images.device),
            "losses": torch.zeros(
                self.steps, n, device=images.device, dtype=torch.float64
            ),  # the reference's loss_steps
            "previous": images.clone(),
            "usable": torch.zeros(n, dtype=torch.bool, device=images.device),
            "since_check": 0,
            "check_every": self.first_check,
            "iteration": 0,
        }

    def observe(self, iteration, x, losses, grad, index, state):
        state["iteration"] = iteration
        losses = losses.to(torch.float64)
        flat = grad.flatten(1)
        state["usable"][index] |= torch.isfinite(flat).all(1) & (flat != 0).any(1)
        if iteration == 0:
            state["best_loss"][index] = losses
            state["best_at_check"][index] = losses
            state["best_point"][index] = x
            state["best_grad"][index] = grad
            return x, grad
        i = iteration - 1  # the reference's iteration index: the step that reached x
        history = state["losses"]
        history[i, index] = losses
        improved = losses > state["best_loss"][index]
        state["best_point"][index[improved]] = x[improved]
        state["best_grad"][index[improved]] = grad[improved]
        state["best_loss"][index[improved]] = losses[improved]
        state["since_check"] += 1
        if state["since_check"] < state["check_every"]:
            return x, grad
        k = state["check_every"]
        rises = sum((history[i - c, index] > history[(i - c - 1) % self.steps, index]).float() for c in range(k))
        oscillating = rises <= k * self.rho
        stalled = (1 - state["halved_at_check"][index]).bool() & (
            state["best_at_check"][index] >= state["best_loss"][index]
        )
        halve = oscillating | stalled
        state["halved_at_check"][index] = halve.float()
        state["best_at_check"][index] = state["best_loss"][index]
        state["step_size"][index[halve]] /= 2
        x = torch.where(halve.view(-1, *[1] * (x.ndim - 1)), state["best_point"][index], x)
        grad = torch.where(halve.view(-1, *[1] * (x.ndim - 1)), state["best_grad"][index], grad)
        state["check_every"] = max(k - self.check_shrink, self.shortest_check)
        state["since_check"] = 0
        return x, grad

    def step(self, x, grad, images, index, state):
        first_step = state["iteration"] == 0
        momentum = 1.0 if first_step else 0.75
        previous_move = x - state["previous"][index]
        state["previous"][index] = x
        size = state["step_size"][index].view(-1, *[1] * (x.ndim - 1))
        if self.norm == "L2":
            first = self.project(x + size * self._normalise(grad), images)
        else:
            first = self.project(x + size * grad.sign(), images)
        updated = self.project(x + (first - x) * momentum + previous_move * (1 - momentum), images)
        state["at_rest"] = self._at_rest(x, grad, updated, previous_move, first_step, index, state)
        return updated

    @staticmethod
    def _at_rest(x, grad, updated, previous_move, first_step, index, state) -> torch.Tensor:
        """Examples APGD can never move again, so the loop may drop them without changing any
        result: a zero gradient, a step that left the point where it was (bitwise), no momentum
        left, and the point is the best one (a checkpoint's restart lands on it again). From
        there every later iteration repeats this one exactly. This is what a model with masked
        gradients (quantised inputs) looks like; it costs the attack two passes instead of 101."""

        def same(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return (a == b).flatten(1).all(1)

        rest = (grad.flatten(1) == 0).all(1) & same(updated, x) & same(x, state["best_point"][index])
        if not first_step:  # the first step carries no momentum
            rest &= (previous_move.flatten(1) == 0).all(1)
        return rest

    def _perturb(self, images, labels, early_stop, noise, judge=True):
        adversarial, broken, state = self.iterate(images, labels, early_stop, noise, judge)
        self.stuck = ~state["usable"] & ~broken
        return adversarial, broken


class APGDTargeted(APGD):
    """APGD on the targeted DLR loss, against the ``targets`` most likely wrong classes of each
    clean image in turn (AutoAttack's APGD-T: 9 targets, 100 steps; needs 4 classes or more).
    Each target runs only on the examples every earlier target left standing."""

    name = "apgd-t"

    def __init__(self, model, *, targets: int = 9, **kwargs):
        if kwargs.pop("loss", "dlr") != "dlr":
            raise InvalidInput("apgd-t runs the targeted DLR loss only; for the cross-entropy use apgd-ce")
        super().__init__(model, loss="dlr", **kwargs)
        if targets < 1:
            raise InvalidInput(f"APGD-T needs targets >= 1, got {targets}")
        self.targets = int(targets)

    def params(self):
        params = super().params()
        params.pop("loss", None)
        return params

    def planned_passes(self):
        evaluations = self.targets * self.gradient_evaluations()
        return Passes(1 + evaluations, evaluations)  # + the clean forward that ranks the targets

    def loss_of(self, logits, labels, index, state):
        return targeted_dlr_loss(_widened(logits), labels, state["target"][index])

    def _perturb(self, images, labels, early_stop, noise, judge=True):
        with torch.no_grad():
            logits = self.logits(images)
        classes = _check_classes(self, logits, 4)
        ranking = logits.sort(dim=1).indices  # ascending: [:, -1] is the top class
        adversarial = images.clone()
        broken = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        usable = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        for rank in range(2, min(self.targets, classes - 1) + 2):
            standing = (~broken).nonzero().squeeze(1)
            if len(standing) == 0:
                break
            part, part_broken, state = self.iterate(
                images[standing],
                labels[standing],
                early_stop,
                noise.subset(standing),
                judge,
                context={"target": ranking[standing, -rank]},
            )
            adversarial[standing] = part
            broken[standing] |= part_broken
            usable[standing] |= state["usable"]
        self.stuck = ~usable & ~broken
        return adversarial, broken


def _widened(logits: torch.Tensor) -> torch.Tensor:
    """Logits in at least single precision (a bf16 step's logits; a float64 model's stay)."""
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def _check_classes(attack: APGD, logits: torch.Tensor, needed: int) -> int:
    classes = int(logits.shape[1])
    if classes < needed:
        raise InvalidInput(
            f"{attack.name} needs a model with at least {needed} classes (its DLR loss reads "
            f"the {needed - 1} largest other logits); this one has {classes}: use apgd-ce"
        )
    return classes
