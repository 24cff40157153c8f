"""The one adversarial-training engine: final training now, the supernet and candidate
finetuning of the search later.

``Trainer(model, recipe, train_data, validation)`` runs a ``Recipe``: each batch is augmented
on the fly (seeded), a caller's ``before_batch`` hook may change the architecture (the
supernet's path sampling), the training attack from ``robnetzoo.attacks`` crafts the examples
(in the recipe's mode: the authors crafted in train mode), and one optimiser step is taken on
the recipe's loss (cross-entropy or TRADES). At every epoch end the model is judged on the
held-out validation part of the training split with ``robnetzoo.evaluate`` (never the test
split) and the best weights are kept.

Checkpoints (``checkpoint.pt`` in the run folder, written atomically at every epoch end and
every ``checkpoint_interval`` seconds within an epoch) hold the weights, optimiser state, every
RNG stream of every rank (attack noise, augmentation, hook, torch's global ones), the position
in the epoch and the metrics so far. The data order of an epoch is a pure function of (seed,
epoch), so ``resume`` continues at the next batch and, on CPU, ends with weights bitwise equal
to an uninterrupted run's. Checkpoints hold only tensors and plain values and are read with
``torch.load(weights_only=True)``: nothing is unpickled.

Distributed (``torchrun``): the model is wrapped in ``DistributedDataParallel`` for the
training step only; the attack runs on the unwrapped module, so its steps never all-reduce
gradients. Each rank takes its share of the epoch's seeded order; buffers (BatchNorm
statistics) are broadcast from rank 0 at every epoch end so the replicas stay identical, and
rank 0 alone writes files.

Precision: bf16 autocast on CUDA (no loss scaling is needed for bf16, so there is no grad
scaler to save), fp32 on CPU. Memory: channels_last on CUDA and, by default, on a CPU process
computing with one torch thread (``default_channels_last``), which changes float rounding, not
the model; the search keeps NCHW on the CPU (``search_channels_last``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from robnetzoo import attacks as attack_suite
from robnetzoo import distributed
from robnetzoo._io import atomic_write, read_torch_file
from robnetzoo.data import take
from robnetzoo.errors import InvalidInput, option
from robnetzoo.evaluation import evaluate
from robnetzoo.events import Checkpointed, EpochFinished, Note, ProgressFn, TrainingStep, ignore
from robnetzoo.seeding import derive_seed
from robnetzoo.weights import weights_fingerprint

from .recipes import Recipe

CHECKPOINT_FORMAT = "robnetzoo-train-checkpoint"
CHECKPOINT_VERSION = 1
GUARD_EXAMPLES = 256  # the fixed held-out batch the catastrophic-overfitting guard attacks
GUARD_COLLAPSE = 0.5  # a guard check below this fraction of the best robust accuracy is a collapse
GUARD_SHARE = 0.25  # the guard's checks cost at most this share of the training passes between them
GUARD_ATTACK = "pgd10"  # what a guard check attacks the held-out batch with
CLEAN_MONITOR_EVERY = 10  # clean training accuracy is sampled on every 10th batch (one eval-mode forward)

BatchHook = Callable[[nn.Module, torch.Generator], None]


def default_channels_last(device: str | torch.device, threads: int | None = None) -> bool:
    """The engine's memory format unless told: channels_last on CUDA, and on the CPU only where
    the process computes with one torch thread (the search's and the benchmarks' workers);
    ``threads`` asks about another thread count than this process's.

    Measured with ``benchmarks/train_memory_format.py`` (the demo recipe's FGSM-RS step, batch
    64, same weights, same run): with one thread channels_last takes a width-4 RobNet's step
    x1.34-1.37 faster and WRN-10-1's x1.26; with two threads NCHW is the faster for the RobNets
    (channels_last x0.83-0.88 at width 4, x0.89-1.06 at width 8: its kernels gained nothing
    from the second thread there, NCHW's did), WRN-10-1 still gains (x1.21-1.24)."""
    threads = torch.get_num_threads() if threads is None else threads
    return torch.device(device).type == "cuda" or threads == 1


def search_channels_last(device: str | torch.device) -> bool:
    """Whether the search's supernet and finetuning train channels_last: on CUDA only.

    Why not on the CPU, where its one-thread workers' step is faster too: the search's picks
    move with the float path. The demo search (seed 0) trained channels_last picked another
    cell in every band than the NCHW one, with the same seed and data; the search's published
    results (its picks, the proxy study, the picks retrained against random cells) were all
    measured NCHW, so moving the search is a re-measurement of all of them, not a speed-up.
    From-scratch training (``robnetzoo train``, the benchmarks' arms) has no such ties."""
    return torch.device(device).type == "cuda"


@dataclass
class TrainResult:
    """What a finished ``fit`` returns: per-epoch history, the best epoch and why it stopped."""

    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    stopped: str  # "finished" or the reason training stopped early
    notes: list[str] = field(default_factory=list)
    replicas: list[str] = field(default_factory=list)  # each rank's weights fingerprint: equal, or a bug


@dataclass
class _Running:
    """Sums over the current epoch's batches (saved in mid-epoch checkpoints)."""

    loss: float = 0.0
    clean_correct: int = 0
    clean_seen: int = 0
    adv_correct: int = 0
    images: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def attack_passes(attack: str, params: dict[str, Any] | None = None) -> int:
    """Forward+backward passes per image of one adversarial example and its training step
    (the attack's own count, ``robnetzoo.attacks.planned_passes``, plus one)."""
    if attack == "none":
        return 1
    passes = attack_suite.planned_passes(attack, params) if _known(attack) else None
    if passes is None or passes.backward == 0:  # not a gradient attack a training step runs
        raise InvalidInput(f"cannot plan the attack {attack!r}: use a pgd<k> or fgsm recipe")
    return passes.backward + 1


def _known(attack: str) -> bool:
    try:
        return attack_suite.expand([attack]) == [attack]  # one attack, not a suite such as ``paper``
    except InvalidInput:
        return False


class Trainer:
    """Adversarial training of ``model`` by ``recipe``; see the module docstring.

    ``validation`` selects the best epoch (robust accuracy under ``recipe.validation_attack``
    at the recipe's threat model; clean accuracy for a recipe without attack). ``checkpoint``
    is the checkpoint file (None: no checkpoints, no resume). ``best_weights`` receives the
    best epoch's weights (a safetensors file) when given; ``compile`` wraps the training
    forward in ``torch.compile``.
    """

    def __init__(
        self,
        model: nn.Module,
        recipe: Recipe,
        train_data: Dataset,
        validation: Dataset | None = None,
        *,
        device: str | torch.device = "cpu",
        seed: int = 0,
        checkpoint: str | Path | None = None,
        best_weights: str | Path | None = None,
        checkpoint_interval: float = 600.0,
        before_batch: BatchHook | None = None,
        channels_last: bool | None = None,
        compile: bool = False,
        sync_batchnorm: bool = False,
        validation_batch_size: int = 256,
        progress: ProgressFn | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        guard: Dataset | None = None,
    ) -> None:
        self.context = distributed.current()
        self.device = torch.device(device)
        self.recipe = recipe
        self.seed = int(seed)
        self.train_data, self.validation = train_data, validation
        # the overfitting guard's held-out images: the validation split unless given apart (a
        # supernet has no validation of its own: the search's hold-out part serves)
        self.guard_data = guard if guard is not None else validation
        self.local_batch, self.steps_per_epoch = self._batches(len(train_data))  # type: ignore[arg-type]
        self.channels_last = default_channels_last(self.device) if channels_last is None else channels_last
        self.autocast = self.device.type == "cuda"
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.best_weights = Path(best_weights) if best_weights is not None else None
        self.checkpoint_interval = float(checkpoint_interval)
        self.before_batch = before_batch
        self.validation_batch_size = validation_batch_size
        self.progress = (progress if self.context.is_main else None) or ignore
        self.on_epoch = on_epoch if self.context.is_main else None

        self.module, self.forward_module = self._placed(model, sync_batchnorm, compile)
        self.optimizer = _optimizer(self.module, recipe)
        self.attack = self._build_attack()

        rank = self.context.rank
        self.augment_generator = torch.Generator().manual_seed(derive_seed(self.seed, "augment", rank))
        # the same on every rank: every replica samples the same paths
        self.hook_generator = torch.Generator().manual_seed(derive_seed(self.seed, "architecture-hook"))
        if self.attack is not None:
            self.attack.generator = torch.Generator(device=self.device).manual_seed(
                derive_seed(self.seed, "attack", rank)
            )
        self.epoch, self.step = 0, 0
        self.running = _Running()
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.stopped = "finished"
        self.guard_best = 0.0
        self.notes: list[str] = []

    # ------------------------------------------------------------------ pieces

    def _batches(self, n: int) -> tuple[int, int]:
        """(images per process and step, steps per epoch): the global batch split over the
        processes, every process taking whole batches of its share of the ``n`` images."""
        world_size, batch = self.context.world_size, self.recipe.batch_size
        if batch % world_size:
            raise InvalidInput(
                f"the global batch {batch} does not split over {world_size} processes; "
                "choose a batch size divisible by the number of processes"
            )
        local = batch // world_size
        steps = (n // world_size) // local
        if steps < 1:
            raise InvalidInput(f"{n} training examples do not fill one batch of {batch}; lower {option('batch_size')}")
        return local, steps

    def _placed(self, model: nn.Module, sync_batchnorm: bool, compile: bool) -> tuple[nn.Module, nn.Module]:
        """(the model on its device, what the training step calls): channels_last where asked,
        SyncBatchNorm and DistributedDataParallel under torchrun, ``torch.compile`` where asked.
        Checkpoints and the optimizer hold the first; the second only runs the forward."""
        if sync_batchnorm and self.device.type != "cuda":
            raise InvalidInput(
                f"{option('sync_bn', True)} needs CUDA (torch's SyncBatchNorm runs on GPUs only)", fix="drop it on CPU"
            )
        if sync_batchnorm and self.context.distributed:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        module = model.to(self.device)
        lazy = any(nn.parameter.is_lazy(p) for p in module.parameters())  # shapes unknown until a forward
        if self.channels_last and not lazy:
            module = module.to(memory_format=torch.channels_last)
        forward_module: nn.Module = module
        if self.context.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # A hook that changes the architecture per batch (path dropout) leaves some
            # parameters out of a step's graph: DDP must be told to look for them.
            forward_module = DistributedDataParallel(
                module, device_ids=ids, find_unused_parameters=self.before_batch is not None
            )
        if compile:
            forward_module = torch.compile(forward_module)  # type: ignore[assignment]
        return module, forward_module

    def _build_attack(self) -> attack_suite.Attack | None:
        recipe = self.recipe
        if recipe.attack == "none":
            return None
        return attack_suite.build(
            recipe.attack,
            self.module,
            threat_model=recipe.threat_model,
            mode=recipe.attack_mode,
            validate=False,
            precision="bf16" if self.autocast else "fp32",
            **recipe.attack_params,
        )

    def lr_at(self, epoch: int, step: int) -> float:
        return self.recipe.lr_at(epoch + step / self.steps_per_epoch)

    def _batch(self, order: list[int], step: int) -> tuple[torch.Tensor, torch.Tensor]:
        indices = order[step * self.local_batch : (step + 1) * self.local_batch]
        images, labels = take(self.train_data, indices)
        images = _augment(images, self.recipe, self.augment_generator)
        images, labels = images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, clean_logits: torch.Tensor | None) -> torch.Tensor:
        recipe = self.recipe
        if recipe.loss == "trades":
            assert clean_logits is not None
            natural = nn.functional.cross_entropy(clean_logits, labels, label_smoothing=recipe.label_smoothing)
            robust = nn.functional.kl_div(
                torch.log_softmax(logits.float(), 1), torch.softmax(clean_logits.float(), 1), reduction="batchmean"
            )
            return natural + recipe.trades_beta * robust
        return nn.functional.cross_entropy(logits, labels, label_smoothing=recipe.label_smoothing)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """One optimiser step on adversarial examples of one batch (the hot loop)."""
        if self.before_batch is not None:
            self.before_batch(self.module, self.hook_generator)
        adversarial = images if self.attack is None else self.attack(images, labels)
        self.forward_module.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            if self.recipe.loss == "trades":
                # Two forwards, as TRADES' reference code: each batch gets its own BatchNorm
                # statistics. The clean one bypasses DDP; its gradients join the same backward.
                clean_logits = self.module(images)
                logits = self.forward_module(adversarial)
            else:
                clean_logits, logits = None, self.forward_module(adversarial)
            loss = self._loss(logits.float(), labels, None if clean_logits is None else clean_logits.float())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            adv_correct = int((logits.argmax(1) == labels).sum())
            if clean_logits is None and self.attack is None:
                clean_logits = logits
            if clean_logits is None and self.step % CLEAN_MONITOR_EVERY == 0:
                # A sample, in eval mode so BatchNorm statistics (and so training) are untouched.
                self.module.eval()
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                    clean_logits = self.module(images)
                self.module.train()
            clean_correct = -1 if clean_logits is None else int((clean_logits.argmax(1) == labels).sum())
        return {"loss": float(loss.detach()) * len(labels), "adv_correct": adv_correct, "clean_correct": clean_correct}

    # ------------------------------------------------------------------ the loop

    def guard_every(self) -> int:
        """Training steps between overfitting-guard checks: four an epoch, or fewer where a check
        (PGD-10 on the guard images) would cost more than ``GUARD_SHARE`` of the training passes
        since the last one. On a small data set four checks of 256 images cost more than the
        epoch they watch (the digits' fast recipe: 2.4 times its FGSM training)."""
        guard_images = min(GUARD_EXAMPLES, len(self.guard_data)) if self.guard_data is not None else 0  # type: ignore[arg-type]
        step_passes = self.recipe.batch_size * attack_passes(self.recipe.attack, self.recipe.attack_params)
        by_cost = -(-guard_images * attack_passes(GUARD_ATTACK) // max(1, int(GUARD_SHARE * step_passes)))
        return max(1, self.steps_per_epoch // 4, by_cost)

    def request_stop(self, reason: str) -> None:
        """End ``fit`` after the current epoch, recording ``reason`` as how it stopped: for a
        caller's own criterion (a benchmark's target accuracy) through ``on_epoch``."""
        self.stopped = reason

    def fit(self, resume: bool = False) -> TrainResult:
        if resume and self.checkpoint is not None and self.checkpoint.is_file():
            self.load_checkpoint(self.checkpoint)
        last_save = time.monotonic()
        guard_every = self.guard_every() if self.recipe.overfit_guard else 0
        while self.epoch < self.recipe.epochs and self.stopped == "finished":
            order = distributed.epoch_order(
                len(self.train_data),
                self.seed,
                self.epoch,
                self.context,
                drop_last=True,  # type: ignore[arg-type]
            )
            while self.step < self.steps_per_epoch:
                begin = time.perf_counter()
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr_at(self.epoch, self.step)
                images, labels = self._batch(order, self.step)
                metrics = self.train_step(images, labels)
                self.step += 1
                due = time.monotonic() - last_save >= self.checkpoint_interval
                due = self._accumulate(metrics, len(labels), time.perf_counter() - begin, due)
                global_step = self.epoch * self.steps_per_epoch + self.step
                if self.recipe.overfit_guard and global_step % guard_every == 0 and self.step < self.steps_per_epoch:
                    if self._overfit_guard():
                        break
                if due and self.step < self.steps_per_epoch:
                    self.save_checkpoint()
                    last_save = time.monotonic()
            self._end_epoch()
            self.save_checkpoint()
            last_save = time.monotonic()
        replicas = distributed.all_gather_objects(weights_fingerprint(self.module))
        if len(set(replicas)) > 1:
            raise RuntimeError(f"the replicas' weights differ after training ({replicas}): a bug in the engine")
        return TrainResult(self.history, self.best, self.stopped, self.notes, replicas)

    def _accumulate(self, metrics: dict[str, float], batch: int, seconds: float, checkpoint_due: bool) -> bool:
        """Add every rank's batch metrics to the epoch's sums (one gather per step, which also
        carries rank 0's clock: whether a mid-epoch checkpoint is due, the same on every rank)."""
        gathered = distributed.all_gather_objects((metrics, batch, checkpoint_due))
        r = self.running
        for m, b, _ in gathered:
            r.loss += m["loss"]
            r.adv_correct += int(m["adv_correct"])
            if m["clean_correct"] >= 0:
                r.clean_correct += int(m["clean_correct"])
                r.clean_seen += b
            r.images += b
        r.seconds += seconds
        self.progress(
            TrainingStep(
                epoch=self.epoch + 1,
                epochs=self.recipe.epochs,
                step=self.step,
                steps=self.steps_per_epoch,
                lr=self.lr_at(self.epoch, self.step - 1),
                loss=r.loss / max(r.images, 1),
                adv_accuracy=None if self.attack is None else 100 * r.adv_correct / max(r.images, 1),
                clean_accuracy=self._clean_train_accuracy(),
                images=r.images,
                images_per_second=r.images / r.seconds if r.seconds > 0 else None,
            )
        )
        return bool(gathered[0][2])

    def _clean_train_accuracy(self) -> float | None:
        r = self.running
        return 100 * r.clean_correct / r.clean_seen if r.clean_seen else None

    def _sync_buffers(self) -> None:
        if self.context.distributed:
            for buffer in self.module.buffers():
                torch.distributed.broadcast(buffer.data, src=0)

    def _validate(
        self, n_examples: int | None = None, attack: str | None = None, data: Dataset | None = None
    ) -> dict[str, float] | None:
        data = data if data is not None else self.validation
        if data is None:
            return None
        attack = attack or self.recipe.validation_attack
        report = evaluate(
            self.module,
            data,
            attacks=[attack],
            norm=self.recipe.threat_model.norm,
            eps=self.recipe.threat_model.eps,
            n_examples=n_examples,
            batch_size=self.validation_batch_size,
            device=self.device,
            seed=self.seed,
            warn=False,  # the first epochs are near chance by design; the run's final evaluation warns
        )
        return {"clean": report.clean_accuracy, "robust": report.robust_accuracy[attack], "attack": attack}

    def _overfit_guard(self) -> bool:
        """Fast-AT's catastrophic overfitting: PGD accuracy on a fixed held-out batch falling to
        a fraction of its best within an epoch. Stops training (the best epoch is kept)."""
        self._sync_buffers()
        steady = getattr(self.before_batch, "steady", None)  # a hook that changes the model per batch
        if steady is not None:
            steady(self.module)  # names the fixed model to check; the next batch draws anew
        check = self._validate(n_examples=GUARD_EXAMPLES, attack=GUARD_ATTACK, data=self.guard_data)
        if check is None:
            return False
        self.guard_best = max(self.guard_best, check["robust"])
        if self.guard_best >= 10 and check["robust"] < GUARD_COLLAPSE * self.guard_best:
            # without a validation split no best epoch is tracked: what stays is what is there now
            kept = "the best epoch is kept" if self.validation is not None else "its weights at this step are kept"
            message = (
                f"catastrophic overfitting at epoch {self.epoch + 1}, step {self.step}: PGD-10 accuracy on "
                f"{GUARD_EXAMPLES} held-out images fell from {self.guard_best:.1f}% to {check['robust']:.1f}%; "
                f"training stopped and {kept} (lower the lr or the FGSM step, or use the paper recipe)"
            )
            self.notes.append(message)
            self.stopped = "catastrophic overfitting"
            self.progress(Note(message))
            return True
        return False

    def _end_epoch(self) -> None:
        self._sync_buffers()
        r = self.running
        valid = self._validate()
        entry: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "lr": self.lr_at(self.epoch, max(self.step - 1, 0)),
            "loss": r.loss / max(r.images, 1),
            # clean training has no adversarial accuracy; its batch accuracy is the clean one
            "train_adv_accuracy": None if self.attack is None else 100 * r.adv_correct / max(r.images, 1),
            "train_clean_accuracy": self._clean_train_accuracy(),
            "images": r.images,
            "seconds": r.seconds,
            "images_per_second": r.images / r.seconds if r.seconds > 0 else None,
        }
        if valid is not None:
            entry.update(
                {
                    "val_clean_accuracy": valid["clean"],
                    "val_robust_accuracy": valid["robust"],
                    "val_attack": valid["attack"],
                }
            )
            if self.recipe.overfit_guard:
                self.guard_best = max(self.guard_best, valid["robust"])
            key = (
                (valid["robust"], valid["clean"]) if self.recipe.attack != "none" else (valid["clean"], valid["robust"])
            )
            best_key = None if self.best is None else self.best["key"]
            if best_key is None or tuple(key) > tuple(best_key):
                self.best = {"epoch": self.epoch + 1, "key": list(key), **valid}
                self._save_best()
        elif self.best_weights is not None:  # no validation: the last epoch is the one kept
            self.best = {"epoch": self.epoch + 1, "key": [], "clean": None, "robust": None}
            self._save_best()
        entry["best_epoch"] = None if self.best is None else self.best["epoch"]
        self.history.append(entry)
        self.progress(
            EpochFinished(
                epoch=entry["epoch"],
                epochs=self.recipe.epochs,
                metrics={k: v for k, v in entry.items() if k != "epoch"},
            )
        )
        if self.on_epoch is not None:
            self.on_epoch(entry)
        self.epoch += 1
        self.step = 0
        self.running = _Running()

    def _save_best(self) -> None:
        if self.best_weights is None or not self.context.is_main:
            return
        from robnetzoo.weights import write_safetensors

        write_safetensors(self.module, self.best_weights, {"epoch": str(self.epoch + 1)})

    # ------------------------------------------------------------------ checkpoints

    def _rng_state(self) -> dict[str, Any]:
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "attack": None if self.attack is None else self.attack.generator.get_state(),
            "augment": self.augment_generator.get_state(),
            "hook": self.hook_generator.get_state(),
        }

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if state["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)
        if self.attack is not None and state["attack"] is not None:
            self.attack.generator.set_state(state["attack"])
        self.augment_generator.set_state(state["augment"])
        self.hook_generator.set_state(state["hook"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "world_size": self.context.world_size,
            "position": {"epoch": self.epoch, "step": self.step},
            "model": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": distributed.all_gather_objects(_cpu(self._rng_state())),
            "running": self.running.as_dict(),
            "history": self.history,
            "best": self.best,
            "stopped": self.stopped,
            "guard_best": self.guard_best,
            "notes": self.notes,
        }

    def save_checkpoint(self) -> None:
        if self.checkpoint is None:
            return
        state = self.state_dict()  # a collective: every rank takes part
        if self.context.is_main:
            atomic_write(self.checkpoint, lambda tmp: torch.save(state, tmp))
            self.progress(Checkpointed(self.epoch, self.step, str(self.checkpoint)))
        distributed.barrier()

    def load_checkpoint(self, path: Path) -> None:
        state = read_training_checkpoint(path)
        if state["world_size"] != self.context.world_size:
            raise InvalidInput(
                f"cannot resume: {path} was written by {state['world_size']} process(es), this run has "
                f"{self.context.world_size}; resume with the same number of processes (torchrun --nproc_per_node)"
            )
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._set_rng_state(state["rng"][self.context.rank])
        self.epoch, self.step = int(state["position"]["epoch"]), int(state["position"]["step"])
        self.running = _Running(**state["running"])
        self.history, self.best = list(state["history"]), state["best"]
        self.stopped, self.guard_best, self.notes = state["stopped"], float(state["guard_best"]), list(state["notes"])


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint, read without unpickling code (``weights_only=True``)."""
    state = read_torch_file(
        path,
        "robnetzoo training checkpoint",
        format=CHECKPOINT_FORMAT,
        fix=f"start a new run with another {option('output')}",
    )
    if state.get("version") != CHECKPOINT_VERSION:
        raise InvalidInput(
            f"cannot resume: {path} has checkpoint version {state.get('version')}, "
            f"this robnetzoo reads {CHECKPOINT_VERSION}",
            fix=f"start a new run with another {option('output')}",
            path=path,
        )
    return state


def _cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    return value


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (or Adam) with weight decay only on weights of rank > 1 unless the recipe decays
    BatchNorm and biases too (the authors' script exempted them)."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        (decay if parameter.ndim > 1 or recipe.decay_bn_and_bias else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    lr = recipe.lr_at(0)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, nesterov=False)


def _augment(images: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """Seeded batch augmentation: random crop (pad 4), a horizontal flip unless the recipe's
    augmentation for its data set is crop only, then cutout."""
    augment = recipe.augment_for()
    if augment in ("crop", "crop-flip"):
        n, _, h, w = images.shape
        padded = nn.functional.pad(images, (4, 4, 4, 4))
        offsets = torch.randint(0, 9, (n, 2), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5  # drawn for crop too: one random stream per recipe
        rows = offsets[:, 0, None] + torch.arange(h)  # n, h
        cols = offsets[:, 1, None] + torch.arange(w)  # n, w
        if augment == "crop-flip":
            cols = torch.where(flips[:, None], cols.flip(1), cols)
        images = padded[
            torch.arange(n)[:, None, None, None],
            torch.arange(images.shape[1])[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]
    if recipe.cutout:
        n, _, h, w = images.shape
        centres = torch.stack(
            [torch.randint(0, h, (n,), generator=generator), torch.randint(0, w, (n,), generator=generator)], 1
        )
        half = recipe.cutout // 2
        ys, xs = torch.arange(h), torch.arange(w)
        inside_y = (ys[None, :] >= centres[:, :1] - half) & (ys[None, :] < centres[:, :1] - half + recipe.cutout)
        inside_x = (xs[None, :] >= centres[:, 1:] - half) & (xs[None, :] < centres[:, 1:] - half + recipe.cutout)
        mask = inside_y[:, :, None] & inside_x[:, None, :]
        images = images.masked_fill(mask[:, None], 0.0)
    return images
