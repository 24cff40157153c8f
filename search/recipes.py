"""Training recipes as data: what adversarial training does, printed, saved with a run, reloaded.

A ``Recipe`` is plain values (optimiser, learning-rate schedule, epochs, batch, training attack
and threat model, loss, augmentation); ``lr_at(epoch)`` is its schedule as a pure function, so
the engine and the tests read the same numbers. ``to_dict``/``from_dict`` round-trip through
JSON (``recipe.json`` of a run) and refuse unknown keys and impossible values in one line.

Presets (facts from the authors' published training script and paper; choices the authors never stated
are marked so):

* ``paper``: the authors' public script. SGD momentum 0.9, weight decay 1e-4 (none on BatchNorm
  and biases), 20 warm-up epochs from lr 0.02, then cosine over 150 epochs to 1e-3; peak lr 1.2
  at a global batch of 1536, scaled linearly with the batch. PGD-7, eps 8/255, step 2/255,
  random start, crafted in train mode as their script did. Cutout 16 for RobNet-large (the
  length is our choice: DARTS' default, whose code RobNets builds on).
* ``fast``: FGSM with random start, step 1.25 eps, cyclic lr (Wong et al. 2020, "Fast is better
  than free"), with the catastrophic-overfitting guard on.
* ``n-fgsm``: N-FGSM (de Jorge et al. 2022, "Make some noise"): one step of eps from noise
  uniform within 2 eps, never projected back to the ball; cyclic lr peaking at 0.2, 30 epochs at
  batch 128, weight decay 5e-4 (their CIFAR-10 settings). FGSM's cost without catastrophic
  overfitting; the guard stays on to say so if it happens.
* ``trades``: the TRADES loss (beta 6) on PGD-10 examples (Zhang et al. 2019: SGD lr 0.1,
  momentum 0.9, wd 2e-4).
* ``demo``: ``fast`` on the built-in digits, 8 epochs at batch 64 (lr 0.1 after scaling): about
  5 minutes on 2 CPU cores, chosen by ``benchmarks/demo_choice.py`` over shorter FGSM schedules
  and 2 or 3 PGD-7 epochs.

Every preset states its learning rate at the batch it was set for (``lr_batch``) and scales it
linearly to another ``batch_size``; the held-out part as a fraction of the training split with a
cap (``validation_fraction``, ``validation_cap``: 10%, at most 1,000) unless ``validation_size``
fixes a count; and ``augment="auto"``, which reads the data set: crop+flip for natural images;
where a mirror image is another class, crop only (house numbers) or nothing (the built-in
digits, centred 8x8 scans).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from robnetzoo._io import read_json
from robnetzoo.errors import InvalidInput, NotFound
from robnetzoo.naming import is_name
from robnetzoo.threat import ThreatModel

SCHEDULES = ("cosine", "cyclic", "constant")
OPTIMIZERS = ("sgd", "adam")
LOSSES = ("ce", "trades")
AUGMENTS = ("auto", "none", "crop", "crop-flip")
# ``auto`` where a mirror image is another class (or no class): house numbers are cropped only;
# the built-in digits (centred 8x8 scans) are left as they are, as the recipes measured on them were
AUTO_AUGMENT = {"digits": "none", "svhn": "crop"}
MAX_VALIDATION_FRACTION = 0.5
ATTACK_MODES = ("eval", "train", "keep")


@dataclass(frozen=True)
class Recipe:
    """One way to train a model adversarially. ``lr`` is the peak learning rate at a global
    batch of ``lr_batch`` (scaled linearly to ``batch_size``; no scaling when ``lr_batch`` is
    None). ``epochs`` counts the warm-up too. ``attack`` is a ``robnetzoo.attacks`` name
    (``"none"`` trains on clean images), built with ``attack_params`` under ``threat_model``.
    The held-out part is ``validation_size`` images when set, else ``validation_fraction`` of the
    training split, at most ``validation_cap`` (``held_out``); ``augment`` is resolved for the
    data set by ``augment_for``."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    dataset: str = "cifar10"
    lr_batch: int | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    decay_bn_and_bias: bool = False
    schedule: str = "cosine"
    warmup_epochs: int = 0
    warmup_start_lr: float = 0.0
    final_lr: float = 0.0
    attack: str = "pgd7"
    attack_params: dict[str, Any] = field(default_factory=lambda: {"alpha": 2 / 255, "random_start": True})
    attack_mode: str = "train"
    threat_model: ThreatModel = field(default_factory=ThreatModel)
    loss: str = "ce"
    trades_beta: float = 6.0
    label_smoothing: float = 0.0
    cutout: int = 0
    augment: str = "auto"
    train_examples: int | None = None
    validation_size: int | None = None
    validation_fraction: float = 0.1
    validation_cap: int = 1000
    validation_attack: str = "pgd20"
    overfit_guard: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "threat_model", ThreatModel.from_dict(self.threat_model))
        problems = self._problems()
        if problems:
            raise InvalidInput(f"recipe {self.name!r}: {'; '.join(problems)}")

    def _problems(self) -> list[str]:
        whole = [
            f"{f.name} must be a whole number, got {getattr(self, f.name)!r}"
            for f in fields(self)
            if f.type in ("int", "int | None")
            and not (getattr(self, f.name) is None and f.type == "int | None")
            and (isinstance(getattr(self, f.name), bool) or not isinstance(getattr(self, f.name), int))
        ]
        if whole:  # epochs 1.5 would run 2, and 1e999 forever; the checks below compare numbers
            return whole
        checks = [
            (
                is_name(self.name),
                "name must be letters, digits, '.', '_' and '-' (it reaches file names and model cards)",
            ),
            (is_name(self.dataset), "dataset must be a data set's name"),
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (
                isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0,
                f"lr must be a positive finite number, got {self.lr}",
            ),
            (self.lr_batch is None or self.lr_batch >= 1, f"lr_batch must be at least 1, got {self.lr_batch}"),
            (self.final_lr >= 0 and self.warmup_start_lr >= 0, "final_lr and warmup_start_lr must be >= 0"),
            (
                0 <= self.warmup_epochs < self.epochs,
                f"warmup_epochs must be in [0, epochs), got {self.warmup_epochs} of {self.epochs}",
            ),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"),
            (self.attack_mode in ATTACK_MODES, f"attack_mode must be one of {', '.join(ATTACK_MODES)}"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}"),
            (self.cutout >= 0, f"cutout must be >= 0 pixels, got {self.cutout}"),
            (
                self.validation_size is None or self.validation_size >= 1,
                f"validation_size must be at least 1 (or null for the fraction), got {self.validation_size}",
            ),
            (
                0 < self.validation_fraction <= MAX_VALIDATION_FRACTION,
                f"validation_fraction must be in (0, {MAX_VALIDATION_FRACTION}], got {self.validation_fraction}",
            ),
            (self.validation_cap >= 1, f"validation_cap must be at least 1, got {self.validation_cap}"),
            (self.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}"),
            (
                self.train_examples is None or self.train_examples >= 1,
                f"train_examples must be at least 1 (or null for all), got {self.train_examples}",
            ),
            (
                self.loss != "trades" or self.attack == "trades",
                "the trades loss needs the trades attack (PGD on the KL divergence) to craft its examples",
            ),
            (self.trades_beta > 0, f"trades_beta must be positive, got {self.trades_beta}"),
        ]
        problems = [message for ok, message in checks if not ok]
        if self.attack != "none":
            from robnetzoo import attacks

            try:
                cls = attacks.attack_class(self.attack)
                if self.threat_model.norm not in cls.norms:
                    problems.append(f"attack {self.attack!r} cannot serve the {self.threat_model.norm} threat model")
                unknown = sorted(set(self.attack_params) - set(cls.keywords()))
                if unknown:
                    problems.append(f"attack_params {', '.join(unknown)} are not keywords of {self.attack!r}")
            except InvalidInput as exc:
                problems.append(str(exc))
        try:
            from robnetzoo import attacks

            attacks.attack_class(self.validation_attack)
        except InvalidInput as exc:
            problems.append(f"validation_attack: {exc}")
        return problems

    # ------------------------------------------------------------------ the schedule

    def peak_lr(self, batch_size: int | None = None) -> float:
        """The peak lr for a global batch (the recipe's own by default), scaled linearly."""
        batch = self.batch_size if batch_size is None else batch_size
        return self.lr if self.lr_batch is None else self.lr * batch / self.lr_batch

    def lr_at(self, epoch: float, batch_size: int | None = None) -> float:
        """The learning rate at a (fractional) epoch in [0, epochs].

        Warm-up: linear from ``min(warmup_start_lr, peak)`` to the peak over ``warmup_epochs``.
        Then ``cosine`` from the peak to ``final_lr`` over the remaining epochs; ``cyclic``
        rises from 0 to the peak at 2/5 of the run and falls back to 0 at the end (Wong et al.);
        ``constant`` stays at the peak.
        """
        peak = self.peak_lr(batch_size)
        epoch = min(max(float(epoch), 0.0), float(self.epochs))
        if self.schedule == "cyclic":
            turn = self.epochs * 2 / 5
            return peak * (epoch / turn if epoch <= turn else (self.epochs - epoch) / (self.epochs - turn))
        if epoch < self.warmup_epochs:
            start = min(self.warmup_start_lr, peak)
            return start + (peak - start) * epoch / self.warmup_epochs
        if self.schedule == "constant":
            return peak
        progress = (epoch - self.warmup_epochs) / (self.epochs - self.warmup_epochs)
        return self.final_lr + 0.5 * (peak - self.final_lr) * (1 + math.cos(math.pi * progress))

    def lr_scaling(self) -> str | None:
        """One sentence when the peak lr was scaled from the recipe's batch, else None."""
        if self.lr_batch is None or self.lr_batch == self.batch_size:
            return None
        return (
            f"lr {self.peak_lr():.4g}: the recipe's {self.lr:g} at batch {self.lr_batch}, scaled linearly "
            f"to batch {self.batch_size}"
        )

    # ------------------------------------------------------------------ data

    def held_out(self, n_train: int) -> int:
        """Images of a training split of ``n_train`` held out for model selection."""
        if self.validation_size is not None:
            return self.validation_size
        return max(1, min(self.validation_cap, round(self.validation_fraction * n_train)))

    def held_out_rule(self) -> str:
        if self.validation_size is not None:
            return f"{self.validation_size} held-out training images"
        return f"{self.validation_fraction:.0%} of the training images held out (at most {self.validation_cap:,})"

    def augment_for(self, dataset: str | None = None) -> str:
        """The augmentation applied on ``dataset`` (the recipe's own by default): ``auto`` is
        ``AUTO_AUGMENT``'s where a mirror image is another class, crop+flip elsewhere."""
        if self.augment != "auto":
            return self.augment
        return AUTO_AUGMENT.get(dataset or self.dataset, "crop-flip")

    def with_overrides(self, **changes: Any) -> "Recipe":
        """A copy with fields replaced (``None`` values are ignored: unset command-line options)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        _check_keys(changes, f"overrides of recipe {self.name!r}")
        return replace(self, **changes)

    def at_threat(self, threat: ThreatModel) -> "Recipe":
        """This recipe against ``threat``, its attack's step sizes scaled with the radius (a
        PGD-7 step of 2/255 at 8/255 becomes 0.075 at MNIST's 0.3), so changing the radius never
        leaves an attack that cannot reach it."""
        if threat == self.threat_model:
            return self
        params = dict(self.attack_params)
        old = self.threat_model.eps
        if "alpha" in params and threat.norm == self.threat_model.norm and old > 0:
            params["alpha"] = params["alpha"] * threat.eps / old
        return replace(self, threat_model=threat, attack_params=params)

    def for_dataset(self, dataset: str) -> "Recipe":
        """This recipe on ``dataset``: a recipe at its own data set's usual radius moves to the
        new data set's (``robnetzoo.data.default_threat``: 0.3 for MNIST, 0.1 for
        Fashion-MNIST), with its steps scaled; a radius chosen on purpose is kept."""
        from robnetzoo.data import default_threat

        if dataset == self.dataset:
            return self
        moved = replace(self, dataset=dataset)
        if self.threat_model == default_threat(self.dataset):
            moved = moved.at_threat(default_threat(dataset))
        return moved

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["threat_model"] = self.threat_model.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "recipe") -> "Recipe":
        if not isinstance(data, dict):
            raise InvalidInput(f"{source} is not a JSON object of recipe fields")
        _check_keys(data, source)
        missing = [
            f.name for f in fields(cls) if f.name in ("name", "epochs", "batch_size", "lr") and f.name not in data
        ]
        if missing:
            raise InvalidInput(f"{source} lacks {', '.join(missing)}")
        try:
            return cls(**data)
        except TypeError as exc:  # a value of the wrong type (a list for epochs, say)
            raise InvalidInput(f"{source}: {exc}") from None

    def save(self, path: str | Path) -> None:
        from robnetzoo._io import write_json

        write_json(Path(path), self.to_dict())

    def describe(self) -> str:
        """One paragraph for people: what this recipe does."""
        attack = (
            "clean images"
            if self.attack == "none"
            else (f"{self.attack} examples ({self.threat_model}, {self.attack_mode} mode)")
        )
        lr = f"lr {self.peak_lr():.4g}" + (f" (= {self.lr:g} x batch/{self.lr_batch})" if self.lr_batch else "")
        warm = f", {self.warmup_epochs} warm-up epochs" if self.warmup_epochs else ""
        return (
            f"{self.name}: {self.epochs} epochs on {self.dataset}, batch {self.batch_size}, {self.optimizer} "
            f"{lr}, {self.schedule} schedule{warm}; {self.loss} loss on {attack}"
            + f"; augment {self.augment_for()}"
            + (f" (auto for {self.dataset})" if self.augment == "auto" else "")
            + (f", cutout {self.cutout}" if self.cutout else "")
            + f"; best checkpoint chosen on {self.held_out_rule()}"
        )


def _check_keys(data: dict[str, Any], source: str) -> None:
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"{source} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


PRESETS: dict[str, Recipe] = {
    "paper": Recipe(
        name="paper",
        dataset="cifar10",
        epochs=170,
        batch_size=1536,
        lr=1.2,
        lr_batch=1536,
        weight_decay=1e-4,
        warmup_epochs=20,
        warmup_start_lr=0.02,
        final_lr=1e-3,
        attack="pgd7",
        attack_params={"alpha": 2 / 255, "random_start": True},
        attack_mode="train",
        cutout=16,
        augment="auto",
    ),
    "fast": Recipe(
        name="fast",
        dataset="cifar10",
        epochs=15,
        batch_size=128,
        lr=0.2,
        lr_batch=128,
        schedule="cyclic",
        weight_decay=5e-4,
        decay_bn_and_bias=True,
        attack="pgd1",
        attack_params={"alpha": 1.25 * 8 / 255, "random_start": True},
        attack_mode="train",
        augment="auto",
        overfit_guard=True,
    ),
    "n-fgsm": Recipe(
        name="n-fgsm",
        dataset="cifar10",
        epochs=30,
        batch_size=128,
        lr=0.2,
        lr_batch=128,
        schedule="cyclic",
        weight_decay=5e-4,
        decay_bn_and_bias=True,
        attack="nfgsm",
        attack_params={"noise": 2.0},
        attack_mode="train",
        augment="auto",
        overfit_guard=True,
    ),
    "trades": Recipe(
        name="trades",
        dataset="cifar10",
        epochs=76,
        batch_size=128,
        lr=0.1,
        lr_batch=128,
        weight_decay=2e-4,
        decay_bn_and_bias=True,
        final_lr=1e-3,
        attack="trades",
        attack_params={"alpha": 2 / 255, "steps": 10, "random_start": True},
        attack_mode="eval",
        loss="trades",
        trades_beta=6.0,
        augment="auto",
    ),
    # chosen by benchmarks/demo_choice.py: the highest held-out PGD-20 of the candidates whose
    # whole run takes about 5 minutes on 2 cores (robnet-large at width 8, 5 cells)
    "demo": Recipe(
        name="demo",
        dataset="digits",
        epochs=8,
        batch_size=64,
        lr=0.2,
        lr_batch=128,
        schedule="cyclic",
        weight_decay=5e-4,
        decay_bn_and_bias=True,
        attack="pgd1",
        attack_params={"alpha": 1.25 * 8 / 255, "random_start": True},
        attack_mode="train",
        augment="auto",
        overfit_guard=True,
    ),
}


def resolve_recipe(
    preset: str | Path,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    attack: str | None = None,
    eps: float | None = None,
    train_examples: int | None = None,
    validation_size: int | None = None,
    dataset: str | None = None,
) -> Recipe:
    """A preset (or recipe file) with the usual overrides applied; ``None`` leaves a field as
    the recipe has it. ``dataset`` moves the recipe to that data set (and its usual radius,
    ``Recipe.for_dataset``); ``eps`` then changes the radius of the recipe's threat model, with
    the attack's steps scaled (``Recipe.at_threat``)."""
    recipe = get_recipe(preset)
    if dataset is not None:
        recipe = recipe.for_dataset(dataset)
    if eps is not None:
        recipe = recipe.at_threat(recipe.threat_model.with_overrides(eps=eps))
    return recipe.with_overrides(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        attack=attack,
        train_examples=train_examples,
        validation_size=validation_size,
    )


def get_recipe(name_or_path: str | Path) -> Recipe:
    """A preset by name, or a recipe JSON file (``recipe.json`` of an earlier run)."""
    text = str(name_or_path)
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    if not path.suffix == ".json" and not path.exists():
        raise NotFound(f"unknown preset {text!r}; presets: {', '.join(PRESETS)} (or a recipe .json file)")
    return Recipe.from_dict(
        read_json(
            path, "recipe file", expect=dict, missing=f"no recipe file at {path}", fix="fix the JSON, or name a preset"
        ),
        source=str(path),
    )
