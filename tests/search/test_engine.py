"""The training engine's parts, one by one (the end-to-end runs are in test_training.py)."""

from __future__ import annotations

import pytest
import torch

from robnetzoo import attacks
from robnetzoo.config import build_model
from robnetzoo.data import TensorImageDataset, load_dataset, train_validation_split
from robnetzoo.errors import CorruptFile
from robnetzoo.search.recipes import PRESETS
from robnetzoo.search.training import Trainer, _augment, _optimizer, read_training_checkpoint
from tests.support import tiny_config


def _digits(n: int = 64) -> TensorImageDataset:
    return load_dataset("digits", "train").head(n)


def test_weight_decay_skips_batchnorm_and_biases_unless_the_recipe_decays_them():
    model = build_model(tiny_config())
    paper = _optimizer(model, PRESETS["paper"])
    decayed, exempt = paper.param_groups
    assert decayed["weight_decay"] == 1e-4 and exempt["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decayed["params"]) and all(p.ndim == 1 for p in exempt["params"])
    assert len(_optimizer(model, PRESETS["fast"]).param_groups) == 1  # Wong et al. decay everything


def test_augmentation_is_seeded_and_is_a_crop_and_flip_of_the_padded_image():
    images = torch.rand(6, 3, 32, 32)
    recipe = PRESETS["paper"].with_overrides(cutout=0)
    a = _augment(images, recipe, torch.Generator().manual_seed(1))
    b = _augment(images, recipe, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == images.shape
    # recompute the draws: each output is a 32x32 window of the zero-padded image, maybe mirrored
    g = torch.Generator().manual_seed(1)
    offsets, flips = torch.randint(0, 9, (6, 2), generator=g), torch.rand(6, generator=g) < 0.5
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(6):
        window = padded[i, :, offsets[i, 0] : offsets[i, 0] + 32, offsets[i, 1] : offsets[i, 1] + 32]
        assert torch.equal(a[i], window.flip(2) if flips[i] else window)
    cut = _augment(
        torch.ones(4, 3, 32, 32),
        PRESETS["paper"].with_overrides(augment="none", cutout=16),
        torch.Generator().manual_seed(0),
    )
    zeros = (cut[:, 0] == 0).sum(dim=(1, 2))
    assert ((zeros > 0) & (zeros <= 256)).all()  # a 16x16 square, clipped at the border


def test_the_hook_runs_before_every_batch_with_its_own_seeded_generator():
    seen = []

    def hook(model, generator):
        seen.append(torch.rand(1, generator=generator).item())

    recipe = PRESETS["demo"].with_overrides(epochs=1, batch_size=16, attack="fgsm", attack_params={})
    Trainer(build_model(tiny_config()), recipe, _digits(48), before_batch=hook, seed=2).fit()
    again = []
    Trainer(
        build_model(tiny_config()),
        recipe,
        _digits(48),
        before_batch=lambda m, g: again.append(torch.rand(1, generator=g).item()),
        seed=2,
    ).fit()
    assert len(seen) == 3 and seen == again and len(set(seen)) == 3


def test_the_schedule_sets_the_lr_of_every_step():
    recipe = PRESETS["demo"].with_overrides(epochs=2, batch_size=16, attack="none")
    trainer = Trainer(build_model(tiny_config()), recipe, _digits(48))
    trainer.fit()
    last = trainer.optimizer.param_groups[0]["lr"]
    assert last == pytest.approx(recipe.lr_at(1 + 2 / 3))  # the last step of the second epoch


def test_the_overfitting_guard_stops_a_collapse_and_says_so():
    train, validation = train_validation_split(_digits(200), 40, seed=0)
    recipe = PRESETS["fast"].with_overrides(dataset="digits", batch_size=16, validation_size=40, augment="none")
    trainer = Trainer(build_model(tiny_config()), recipe, train, validation)
    assert trainer._overfit_guard() is False  # an untrained model has nothing to collapse from
    trainer.guard_best = 90.0  # as if PGD accuracy had been 90% on this batch before
    assert trainer._overfit_guard() is True
    assert trainer.stopped == "catastrophic overfitting"
    assert "catastrophic overfitting" in trainer.notes[0] and "fell from 90.0%" in trainer.notes[0]


def test_a_supernet_guard_checks_one_fixed_sub_network_on_its_own_images():
    """Path dropout changes the sub-network every batch: the guard must attack the same one
    each time (every path on), on the hold-out images it is given, or noise reads as collapse."""
    from robnetzoo.search.sampling import PathDropout
    from robnetzoo.search.supernet import Supernet

    train, guard = train_validation_split(_digits(200), 40, seed=0)
    recipe = PRESETS["fast"].with_overrides(dataset="digits", batch_size=16, validation_size=40, augment="none")
    hook = PathDropout(space="both", layers=3, by="density")
    supernet = Supernet(C=2, layers=3, space="both")
    trainer = Trainer(supernet, recipe, train, None, before_batch=hook, guard=guard)
    hook(supernet, torch.Generator().manual_seed(0))
    drawn = supernet.genotype
    first = trainer._overfit_guard()
    assert supernet.genotype != drawn and supernet.genotype.density() == 1.0 and first is False
    results = set()
    for seed in range(3):  # whatever the last batch drew, the check reads the same number
        hook(supernet, torch.Generator().manual_seed(seed))
        trainer._overfit_guard()
        results.add(trainer._validate(n_examples=40, attack="pgd3", data=guard)["robust"])
    assert len(results) == 1


def test_the_trades_attack_moves_away_from_the_clean_prediction():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    images = _digits(16).take(list(range(16)))[0]
    labels = torch.zeros(16, dtype=torch.long)  # unused by the KL loss
    attack = attacks.build("trades", model, steps=5, random_start=True)
    adversarial = attack(images, labels)
    assert (adversarial - images).abs().max() <= 8 / 255 + 1e-6
    with torch.no_grad():
        clean = torch.softmax(model(images), 1)

        def kl(x):
            return torch.nn.functional.kl_div(torch.log_softmax(model(x), 1), clean, reduction="sum")

        start = attack.random_point(images, attacks.Noise(images.device, torch.Generator().manual_seed(0)))
        assert kl(adversarial) > kl(start)


class _Payload:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_a_checkpoint_that_pickles_code_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": "robnetzoo-train-checkpoint", "payload": _Payload()}, path)
    with pytest.raises(CorruptFile, match="not a readable robnetzoo training checkpoint .*Unsupported global"):
        read_training_checkpoint(path)
    torch.save({"format": "something-else"}, path)
    with pytest.raises(CorruptFile, match="its format is not 'robnetzoo-train-checkpoint'"):
        read_training_checkpoint(path)


def test_trades_trains_on_its_own_examples_and_measures_clean_accuracy_every_batch():
    recipe = PRESETS["trades"].with_overrides(
        dataset="digits",
        epochs=1,
        batch_size=16,
        augment="none",
        attack_params={"alpha": 2 / 255, "steps": 2, "random_start": True},
    )
    trainer = Trainer(build_model(tiny_config()), recipe, _digits(32))
    assert type(trainer.attack).__name__ == "TradesKL"
    before = {k: v.clone() for k, v in trainer.module.state_dict().items()}
    result = trainer.fit()
    entry = result.history[0]
    assert entry["loss"] == entry["loss"] and entry["train_clean_accuracy"] is not None  # finite; measured
    assert any(not torch.equal(before[k], v) for k, v in trainer.module.state_dict().items())


def test_the_guard_checks_four_times_an_epoch_unless_a_check_would_cost_more_than_a_quarter():
    def trainer(n_train: int, n_guard: int, batch: int) -> Trainer:
        images = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)

        def data(n):
            return TensorImageDataset(images.expand(n, -1, -1, -1), torch.zeros(n, dtype=torch.long), 10, "x")

        recipe = PRESETS["fast"].with_overrides(batch_size=batch)
        return Trainer(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(10)),
            recipe,
            data(n_train),
            None,
            guard=data(n_guard),
        )

    # the digits: 20 steps of 64 images, 2 FGSM passes each (128 a step), against PGD-10 on 144 images (1,584)
    assert trainer(1293, 144, 64).guard_every() == 50  # ceil(1584 / (0.25 * 128))
    # a large data set: four checks an epoch cost less than a quarter of it
    assert trainer(25600, 1000, 128).guard_every() == 200 // 4


def test_one_thread_trains_channels_last_on_the_cpu_more_threads_nchw_and_the_search_keeps_nchw():
    from robnetzoo.search.training import search_channels_last

    recipe = PRESETS["demo"].with_overrides(epochs=1, batch_size=16)

    def conv_weights(trainer: Trainer) -> list[torch.Tensor]:
        return [p for p in trainer.module.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[-1] > 1]

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # a worker's setting: channels_last measured faster there
        fast = Trainer(build_model(tiny_config()), recipe, _digits(32), device="cpu")
        assert fast.channels_last and conv_weights(fast)
        assert all(
            w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in conv_weights(fast)
        )
        images, _ = fast._batch(list(range(32)), 0)
        assert images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
        # the search's supernet and finetuning: NCHW on the CPU (their published picks were measured so)
        assert search_channels_last("cpu") is False and search_channels_last("cuda") is True
        kept = Trainer(
            build_model(tiny_config()), recipe, _digits(32), device="cpu", channels_last=search_channels_last("cpu")
        )
        assert all(w.is_contiguous() for w in conv_weights(kept))
        # a model whose shapes a forward decides (lazy) still trains: it is left as it is
        lazy = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(10))
        Trainer(lazy, recipe, _digits(32), device="cpu").fit()
        assert not torch.nn.parameter.is_lazy(lazy[1].weight)
        torch.set_num_threads(2)  # NCHW measured faster for RobNets with two threads
        assert not Trainer(build_model(tiny_config()), recipe, _digits(32), device="cpu").channels_last
    finally:
        torch.set_num_threads(threads)


def test_n_fgsm_trains_through_the_engine_at_the_recipes_radius():
    recipe = PRESETS["n-fgsm"].for_dataset("digits").with_overrides(epochs=1, batch_size=16, augment="none")
    assert recipe.threat_model.eps == pytest.approx(8 / 255)
    trainer = Trainer(build_model(tiny_config()), recipe, _digits(32))
    assert type(trainer.attack).__name__ == "NFGSM" and trainer.attack.alpha == pytest.approx(8 / 255)
    wider_recipe = recipe.at_threat(recipe.threat_model.with_overrides(eps=16 / 255))
    wider = Trainer(build_model(tiny_config()), wider_recipe, _digits(32))
    assert wider.attack.alpha == pytest.approx(16 / 255) and wider.attack.noise == 2.0
    before = {k: v.clone() for k, v in trainer.module.state_dict().items()}
    result = trainer.fit()
    assert result.history[0]["loss"] == result.history[0]["loss"]  # finite
    assert any(not torch.equal(before[k], v) for k, v in trainer.module.state_dict().items())
