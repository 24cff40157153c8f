"""The one attack interface: ``attack(images, labels) -> adversarial images``.

Every attack takes NCHW float images in [0, 1] and integer labels, and returns images in
[0, 1] within its threat model's ball (``robnetzoo.threat.ThreatModel``: an L-inf or L2
radius). An attack is built for one threat model and refuses one it cannot serve (an L-inf
attack under an L2 threat model), instead of silently running at the wrong radius.

Mode. ``mode="eval"`` (the default) puts the model in eval mode for the attack and restores
the caller's mode afterwards (torchattacks leaves that to a flag; forgetting it attacks
BatchNorm in training mode). ``mode="train"`` attacks in training mode, as the RobNets
authors' adversarial training did (BatchNorm uses batch statistics, and updates its running
statistics, while the examples are crafted). ``mode="keep"`` leaves the mode alone: for a
training loop that manages it. ``validate=False`` skips the input checks, which read the
images' min and max (a device sync per call): for hot loops whose data is known good.

Randomness. Random starts draw from one stream per attack, seeded by ``seed`` when the attack
is first called: successive calls (a training loop's batches) get fresh noise, and the same
sequence of calls repeats exactly (``generator`` is that stream, for checkpoints). The
evaluator passes ``example_seeds`` instead: one seed per example, so an example's random
start depends on its own index only, never on the batch it lands in or the batch size.

Cost. Every attack counts the image-passes it spends (``passes``: forward and backward, one
per image per pass through the model, whatever the batch), so an evaluation can say what its
verdict cost and two attacks can be compared at equal cost (AutoAttack's count in Croce &
Hein's and A3's papers is the same unit). Counting happens where the model is called
(``logits``), so an attack cannot forget it: a backward pass is counted when a gradient reaches
the model's output, once per ``autograd.grad`` through it.

``run(...)`` is what the evaluator uses: it also returns which examples were *broken*, i.e.
misclassified at any iterate (the AutoAttack convention), and with ``early_stop=True`` an
example stops being attacked, and stops costing forward/backward passes, once it is broken;
its returned image is the iterate that broke it. Early stopping assumes examples do not
interact, so it is meant for eval mode (in train mode BatchNorm mixes the batch).
"""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from ..config import config_of
from ..errors import InvalidInput
from ..threat import DEFAULT_EPS, ThreatModel, canonical_norm

MODES = ("eval", "train", "keep")
# Keywords that change how an attack runs but never what it returns.
_NOT_RESULT_PARAMS = {"validate", "verbose"}


@dataclass
class Passes:
    """Image-passes through the model: ``forward`` and ``backward`` (an input gradient of a
    batch of b images is b backward passes). Adds and subtracts, for per-batch deltas."""

    forward: int = 0
    backward: int = 0

    @property
    def total(self) -> int:
        return self.forward + self.backward

    def __add__(self, other: "Passes") -> "Passes":
        return Passes(self.forward + other.forward, self.backward + other.backward)

    def __sub__(self, other: "Passes") -> "Passes":
        return Passes(self.forward - other.forward, self.backward - other.backward)

    def copy(self) -> "Passes":
        """A snapshot, to take a delta against later (the counter itself keeps counting)."""
        return Passes(self.forward, self.backward)

    def to_dict(self) -> dict[str, int]:
        return {"forward": self.forward, "backward": self.backward}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Passes":
        data = data or {}
        return cls(int(data.get("forward", 0)), int(data.get("backward", 0)))


@dataclass
class AttackResult:
    adversarial: torch.Tensor  # same shape as the input, in [0, 1], within eps
    broken: torch.Tensor  # bool per example: misclassified at some iterate


def check_images(images: torch.Tensor, labels: torch.Tensor, model: Any = None) -> None:
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
    config = config_of(model)
    if config is not None:
        # Every zoo architecture pools adaptively, so only the channel count is binding.
        expected = tuple(config.input_size)
        if images.shape[1] != expected[0]:
            raise InvalidInput(
                f"images of shape {tuple(images.shape[1:])} do not fit {config.name}, which takes "
                f"{'x'.join(map(str, expected))}"
            )


class Noise:
    """Random draws for an attack: from one generator for the whole batch, or from one
    generator per example (``example_seeds``), so an example's draws do not depend on its batch.

    Draws are made on the CPU for per-example generators and moved to the images' device.
    """

    def __init__(
        self,
        device: torch.device,
        generator: torch.Generator | None = None,
        example_seeds: Sequence[int] | torch.Tensor | None = None,
    ) -> None:
        self.device = device
        self.generator = generator
        self.rows: list[torch.Generator] | None = None
        if example_seeds is not None:
            seeds = example_seeds.tolist() if isinstance(example_seeds, torch.Tensor) else list(example_seeds)
            self.rows = [torch.Generator().manual_seed(int(s) % (2**63)) for s in seeds]

    def _draw(self, fn, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        if self.rows is None:
            return fn(tuple(shape), generator=self.generator, device=self.device, dtype=dtype)
        if len(self.rows) != shape[0]:
            raise ValueError(f"{len(self.rows)} example seeds for a batch of {shape[0]}")
        rows = [fn(tuple(shape[1:]), generator=g, dtype=dtype) for g in self.rows]
        return torch.stack(rows).to(self.device) if rows else torch.empty(tuple(shape), dtype=dtype, device=self.device)

    def rand(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self._draw(torch.rand, shape, dtype)

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self._draw(torch.randn, shape, dtype)

    def subset(self, index: torch.Tensor) -> "Noise":
        """The draws of the examples at ``index`` only (an attack that runs again on the ones
        still standing): per-example streams continue where they were, the shared one too."""
        part = Noise(self.device, self.generator)
        if self.rows is not None:
            part.rows = [self.rows[i] for i in index.tolist()]
        return part


class Attack:
    """Base class. Subclasses implement ``_perturb``; they never touch the model's mode.

    ``norms`` lists the threat-model norms an attack serves (the first is its default);
    ``needs_gradients`` is False for score-based attacks, which only read logits and so can
    run against a target without gradients (an exported runtime); ``bounded`` is False for an
    attack whose examples may leave the ball (it can train a model, never measure one).
    """

    name = "attack"
    norms: tuple[str, ...] = ("Linf",)
    needs_gradients = True
    bounded = True  # False: examples may leave the threat model's ball (a training attack such as N-FGSM)

    def __init__(
        self,
        model: nn.Module,
        *,
        eps: float | None = None,
        norm: str | None = None,
        seed: int = 0,
        precision: str = "fp32",
        mode: str = "eval",
        validate: bool = True,
    ) -> None:
        norm = canonical_norm(norm) if norm is not None else self.norms[0]
        if norm not in self.norms:
            raise InvalidInput(
                f"attack {self.name!r} serves {'/'.join(self.norms)} threat models, not {norm}; "
                f"pick an attack for {norm} (e.g. {'pgdl2' if norm == 'L2' else 'pgd20'}, or autoattack)"
            )
        if precision not in ("fp32", "bf16"):
            raise InvalidInput(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.model = model
        self.threat_model = ThreatModel(norm, DEFAULT_EPS[norm] if eps is None else eps)
        self.seed = int(seed)
        self.precision = precision
        self.mode = mode
        self.validate = bool(validate)
        self.generator: torch.Generator | None = None  # the attack's own stream, made on first use
        self.passes = Passes()  # image-passes spent so far, over every call (see the module docstring)
        self.on_forward: Callable[[Passes], None] | None = None  # told the count after each model call

    @property
    def eps(self) -> float:
        return self.threat_model.eps

    @property
    def norm(self) -> str:
        return self.threat_model.norm

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    @classmethod
    def keywords(cls) -> list[str]:
        """Every keyword the constructors of this class and its bases take (but the model)."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for parameter in inspect.signature(init).parameters.values():
                if parameter.name in ("self", "model") or parameter.kind in (
                    parameter.VAR_KEYWORD,
                    parameter.VAR_POSITIONAL,
                ):
                    continue
                if parameter.name not in names:
                    names.append(parameter.name)
        return names

    def params(self) -> dict[str, Any]:
        """Every setting that shapes the result, read back from the attack itself.

        Derived from the constructors' signatures, so a new keyword cannot be left out: each
        one is stored under its own name. ``type(a)(model, **a.params())`` rebuilds ``a``.
        """
        return {name: getattr(self, name) for name in self.keywords() if name not in _NOT_RESULT_PARAMS}

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Adversarial images, running every step for every example (torchattacks semantics).

        Only the images are returned, so the final judging forward pass is skipped (in a
        training loop it would cost a pass and, in train mode, move BatchNorm statistics)."""
        return self.run(images, labels, early_stop=False, judge=False).adversarial

    @contextlib.contextmanager
    def _model_mode(self) -> Iterator[None]:
        if self.mode == "keep":
            yield
            return
        was_training = self.model.training
        self.model.train(self.mode == "train")
        try:
            yield
        finally:
            self.model.train(was_training)

    def run(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        early_stop: bool = True,
        generator: torch.Generator | None = None,
        example_seeds: Sequence[int] | torch.Tensor | None = None,
        judge: bool = True,
    ) -> AttackResult:
        """Attack; ``broken`` marks examples misclassified at any iterate. With ``judge=False``
        the final iterate is not checked, so ``broken`` only covers the iterates seen so far."""
        if self.validate:
            check_images(images, labels, self.model)
        if generator is None and example_seeds is None:
            if self.generator is None or self.generator.device != images.device:
                self.generator = torch.Generator(device=images.device).manual_seed(self.seed)
            generator = self.generator
        noise = Noise(images.device, generator, example_seeds)
        with self._model_mode(), torch.inference_mode(False), torch.enable_grad():
            adversarial, broken = self._perturb(
                images.detach().clone(), labels.detach().clone(), early_stop, noise, judge
            )
        return AttackResult(adversarial.detach(), broken)

    # -- helpers for subclasses --------------------------------------------------------

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits for ``x``, counted: every model call of an attack goes through here."""
        if self.precision == "bf16":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                out = self.model(x).float()
        else:
            out = self.model(x)
        self.passes.forward += len(x)
        if out.requires_grad:  # a gradient that reaches the output is one backward pass per image
            out.register_hook(self._count_backward)
        if self.on_forward is not None:
            self.on_forward(self.passes)
        return out

    def _count_backward(self, grad: torch.Tensor) -> None:
        self.passes.backward += len(grad)

    def planned_passes(self) -> Passes | None:
        """The passes one example costs if it stands to the end, judging included (an upper
        bound: early stopping only lowers it); None where it depends on the model."""
        return None

    def counted_model(self) -> nn.Module:
        """The model as a module whose calls this attack counts (for code that calls a model
        itself, such as the reference AutoAttack)."""
        return _CountedModel(self)

    def project(self, adversarial: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Back into the threat model's ball around ``images``, and into [0, 1]."""
        if self.norm == "L2":
            delta = (adversarial - images).flatten(1)
            factor = torch.clamp(self.eps / (delta.norm(dim=1, keepdim=True) + 1e-12), max=1.0)
            return torch.clamp(images + (delta * factor).view_as(images), 0, 1)
        delta = torch.clamp(adversarial - images, -self.eps, self.eps)
        return torch.clamp(images + delta, 0, 1)

    def random_point(self, images: torch.Tensor, noise: Noise) -> torch.Tensor:
        """A uniform point of the ball: the cube for L-inf; for L2 a random direction at a
        uniform random radius."""
        if self.norm == "L2":
            direction = noise.randn(images.shape, images.dtype).flatten(1)
            direction = direction / (direction.norm(dim=1, keepdim=True) + 1e-12)
            radius = noise.rand((len(images), 1), images.dtype) * self.eps
            return torch.clamp(images + (direction * radius).view_as(images), 0, 1)
        uniform = noise.rand(images.shape, images.dtype)
        return torch.clamp(images + (uniform * 2 - 1) * self.eps, 0, 1)

    @torch.no_grad()
    def is_fooled(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1) != labels

    def _perturb(
        self, images: torch.Tensor, labels: torch.Tensor, early_stop: bool, noise: Noise, judge: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class _CountedModel(nn.Module):
    """``attack.model`` behind ``attack.logits``: calls are counted in ``attack.passes``."""

    def __init__(self, attack: Attack) -> None:
        super().__init__()
        self.inner = attack.model  # registered, so .eval()/.to() reach the real model
        self._attack = [attack]  # a list: not a submodule, no reference cycle through _modules

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._attack[0].logits(x)


class IterativeAttack(Attack):
    """Gradient steps on a loss, shrinking the batch to the examples still standing.

    Subclasses give ``loss(logits, labels)`` (to maximise) and ``step(x, grad, images, index,
    state)``. Per-example losses are summed, so each example's gradient is its own: with
    BatchNorm in eval mode, dropping broken examples cannot change the others' iterates. A step
    may also put ``state["at_rest"]`` (a mask over the examples it stepped): those it proves can
    never move again, which early stopping then drops too, as it drops the broken ones.
    """

    steps = 1
    random_start = False  # PGD and its kin take it as a keyword
    # False: the last gradient evaluation only judges and observes its point (APGD evaluates
    # the point its last step reached); True: one more step follows it, then a judging forward.
    final_step_moves = True

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-example losses to maximise (a vector; the loop sums them for the gradient)."""
        return nn.functional.cross_entropy(logits, labels, reduction="none")

    def loss_of(self, logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, state: dict) -> torch.Tensor:
        """The per-example losses of the examples at ``index`` (of the batch); a loss that
        depends on more than the labels (TRADES' clean prediction, APGD-T's target) reads it
        from ``state``."""
        return self.loss(logits, labels)

    def gradient_evaluations(self) -> int:
        """How many forward-and-backward passes each example standing to the end costs."""
        return self.steps

    def planned_passes(self) -> Passes:
        evaluations = self.gradient_evaluations()
        return Passes(evaluations + int(self.final_step_moves), evaluations)  # + the judging forward

    def init_state(self, images: torch.Tensor) -> dict:
        return {}

    def observe(
        self,
        iteration: int,
        x: torch.Tensor,
        losses: torch.Tensor,
        grad: torch.Tensor,
        index: torch.Tensor,
        state: dict,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """See each evaluated point before the step from it; may move it (and its gradient)
        elsewhere, as APGD's checkpoints restart from the best point so far."""
        return x, grad

    def step(self, x, grad, images, index, state) -> torch.Tensor:
        raise NotImplementedError

    def start(self, images: torch.Tensor, noise: Noise) -> torch.Tensor:
        return self.random_point(images, noise) if self.random_start else images.clone()

    def _perturb(self, images, labels, early_stop, noise, judge=True):
        adversarial, broken, _ = self.iterate(images, labels, early_stop, noise, judge)
        return adversarial, broken

    def iterate(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        early_stop: bool,
        noise: Noise,
        judge: bool = True,
        context: dict | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The attack loop. Returns the adversarial images, which examples were broken, and the
        loop's final state; ``context`` joins the state (per-example data the loss reads, such
        as APGD-T's target classes)."""
        adversarial = self.start(images, noise)
        broken = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        active = torch.arange(len(images), device=images.device)
        state = {**self.init_state(images), **(context or {})}
        evaluations = self.gradient_evaluations()
        for iteration in range(evaluations):
            if len(active) == 0:
                break
            x = adversarial[active].requires_grad_(True)
            logits = self.logits(x)
            fooled = logits.detach().argmax(1) != labels[active]
            broken[active[fooled]] = True
            losses = self.loss_of(logits, labels[active], active, state)
            grad = input_gradient(losses.sum(), x)
            point, grad = self.observe(iteration, x.detach(), losses.detach(), grad, active, state)
            if not self.final_step_moves and iteration == evaluations - 1:
                return adversarial, broken, state  # adversarial holds this last point, judged already
            updated = self.step(point, grad, images[active], active, state)
            at_rest = state.pop("at_rest", None)  # examples the step says can never move again
            if early_stop:  # keep the iterate that fooled the model; attack only the rest
                keep = ~fooled
                adversarial[active[keep]] = updated[keep]
                if at_rest is not None:
                    keep &= ~at_rest
                active = active[keep]
            else:
                adversarial[active] = updated
        if judge and len(active):
            broken[active] |= self.is_fooled(adversarial[active], labels[active])
        return adversarial, broken, state


def input_gradient(loss: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d loss / d x; zeros when the model's output does not depend on its input at all (a
    degenerate architecture whose cells are all-zero edges: the attack then has nothing to
    follow, and the image stays where it is instead of the attack crashing)."""
    if not loss.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad
