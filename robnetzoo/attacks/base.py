"""The one attack interface: ``attack(images, labels) -> adversarial images``.

Every attack takes NCHW float images in [0, 1] and integer labels, and returns images in
[0, 1] within the eps-ball. It puts the model in eval mode for the attack and restores the
caller's mode afterwards (torchattacks leaves that to a flag; forgetting it attacks BatchNorm
in training mode). Random starts draw from a generator seeded by ``seed``, so a run repeats.

``run(...)`` is what the evaluator uses: it also returns which examples were *broken*, i.e.
misclassified at any iterate (the AutoAttack convention), and with ``early_stop=True`` an
example stops being attacked, and stops costing forward/backward passes, once it is broken;
its returned image is the iterate that broke it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InvalidInput


@dataclass
class AttackResult:
    adversarial: torch.Tensor  # same shape as the input, in [0, 1], within eps
    broken: torch.Tensor  # bool per example: misclassified at some iterate


def check_images(images: torch.Tensor, labels: torch.Tensor, model: nn.Module | None = None) -> None:
    """Reject input an attack would silently mis-handle; the message names the fix."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InvalidInput(f"images must be an NCHW tensor, got shape {shape}")
    if not images.is_floating_point():
        raise InvalidInput(f"images must be float in [0, 1], got {images.dtype}; divide uint8 by 255")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise InvalidInput(
            f"images must be in [0, 1], got values in [{low:.3g}, {high:.3g}]; models here take "
            "unnormalised pixels (normalisation lives inside the model): drop Normalize from your transform"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise InvalidInput(f"labels must be 1-D with one label per image, got shape {tuple(labels.shape)}")
    config = getattr(model, "zoo_config", None)
    if config is not None:
        # Every zoo architecture pools adaptively, so only the channel count is binding.
        expected = tuple(config.input_size)
        if images.shape[1] != expected[0]:
            raise InvalidInput(
                f"images of shape {tuple(images.shape[1:])} do not fit {config.name}, which takes "
                f"{'x'.join(map(str, expected))}"
            )


class Attack:
    """Base class. Subclasses implement ``_perturb``; they never touch the model's mode."""

    name = "attack"
    norm = "Linf"
    max_eps = 1.0  # an L-inf radius beyond 1 is meaningless for pixels in [0, 1]

    def __init__(
        self,
        model: nn.Module,
        *,
        eps: float = 8 / 255,
        seed: int = 0,
        precision: str = "fp32",
    ) -> None:
        if not 0 <= float(eps) <= self.max_eps:
            raise InvalidInput(
                f"eps must be in [0, {self.max_eps:g}] for {self.norm} (pixels are in [0, 1]), got {eps}; "
                "write 8/255 for 8 levels"
            )
        if precision not in ("fp32", "bf16"):
            raise InvalidInput(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.model = model
        self.eps = float(eps)
        self.seed = seed
        self.precision = precision

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    def params(self) -> dict:
        return {"eps": self.eps}

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Adversarial images, running every step for every example (torchattacks semantics)."""
        return self.run(images, labels, early_stop=False).adversarial

    def run(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        early_stop: bool = True,
        generator: torch.Generator | None = None,
    ) -> AttackResult:
        check_images(images, labels, self.model)
        if generator is None:
            generator = torch.Generator(device=images.device).manual_seed(self.seed)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(False), torch.enable_grad():
                adversarial, broken = self._perturb(
                    images.detach().clone(), labels.detach().clone(), early_stop, generator
                )
        finally:
            self.model.train(was_training)
        return AttackResult(adversarial.detach(), broken)

    # -- helpers for subclasses --------------------------------------------------------

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.precision == "bf16":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self.model(x).float()
        return self.model(x)

    def project(self, adversarial: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        delta = torch.clamp(adversarial - images, -self.eps, self.eps)
        return torch.clamp(images + delta, 0, 1)

    def random_start(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.rand(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        return torch.clamp(images + (noise * 2 - 1) * self.eps, 0, 1)

    @torch.no_grad()
    def is_fooled(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1) != labels

    def _perturb(
        self, images: torch.Tensor, labels: torch.Tensor, early_stop: bool, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class IterativeAttack(Attack):
    """Gradient steps on a loss, shrinking the batch to the examples still standing.

    Subclasses give ``loss(logits, labels)`` (to maximise) and ``step(x, grad, images, index,
    state)``. Per-example losses are summed, so each example's gradient is its own: with
    BatchNorm in eval mode, dropping broken examples cannot change the others' iterates.
    """

    steps = 1
    use_random_start = False

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, labels, reduction="sum")

    def init_state(self, images: torch.Tensor) -> dict:
        return {}

    def step(self, x, grad, images, index, state) -> torch.Tensor:
        raise NotImplementedError

    def start(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.random_start(images, generator) if self.use_random_start else images.clone()

    def _perturb(self, images, labels, early_stop, generator):
        adversarial = self.start(images, generator)
        broken = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        active = torch.arange(len(images), device=images.device)
        state = self.init_state(images)
        for _ in range(self.steps):
            if len(active) == 0:
                break
            x = adversarial[active].requires_grad_(True)
            logits = self.logits(x)
            fooled = logits.detach().argmax(1) != labels[active]
            broken[active[fooled]] = True
            (grad,) = torch.autograd.grad(self.loss(logits, labels[active]), x)
            updated = self.step(x.detach(), grad, images[active], active, state)
            if early_stop:  # keep the iterate that fooled the model; attack only the rest
                keep = ~fooled
                adversarial[active[keep]] = updated[keep]
                active = active[keep]
            else:
                adversarial[active] = updated
        if len(active):
            broken[active] |= self.is_fooled(adversarial[active], labels[active])
        return adversarial, broken

