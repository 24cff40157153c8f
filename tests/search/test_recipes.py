import json
import math

import pytest

from robnetzoo.errors import InvalidInput, NotFound
from robnetzoo.search.recipes import PRESETS, Recipe, get_recipe
from robnetzoo.threat import ThreatModel


def test_paper_schedule_hand_computed():
    paper = get_recipe("paper")
    assert paper.lr_at(0) == pytest.approx(0.02)  # warm-up starts at 0.02
    assert paper.lr_at(10) == pytest.approx(0.02 + (1.2 - 0.02) * 10 / 20)  # 0.61, half way
    assert paper.lr_at(20) == pytest.approx(1.2)  # the peak at batch 1536
    assert paper.lr_at(95) == pytest.approx(0.001 + 0.5 * (1.2 - 0.001))  # cosine at half: 0.6005
    assert paper.lr_at(170) == pytest.approx(0.001)
    # lr scales linearly with the global batch, as the authors' README says
    assert paper.peak_lr(512) == pytest.approx(0.4) and paper.lr_at(20, batch_size=512) == pytest.approx(0.4)


def test_cyclic_schedule_of_fast_training_hand_computed():
    fast = get_recipe("fast")
    turn = 15 * 2 / 5  # 6 epochs up, 9 down
    assert fast.lr_at(0) == 0 and fast.lr_at(turn) == pytest.approx(0.2)
    assert fast.lr_at(3) == pytest.approx(0.1) and fast.lr_at(10.5) == pytest.approx(0.1)
    assert fast.lr_at(15) == pytest.approx(0.0)


def test_presets_hold_the_published_facts():
    paper = PRESETS["paper"]
    assert (paper.attack, paper.attack_params["alpha"], paper.threat_model) == (
        "pgd7",
        2 / 255,
        ThreatModel("Linf", 8 / 255),
    )
    assert paper.attack_mode == "train" and not paper.decay_bn_and_bias and paper.weight_decay == 1e-4
    assert paper.epochs == 170 and paper.warmup_epochs == 20
    assert PRESETS["fast"].attack_params["alpha"] == pytest.approx(1.25 * 8 / 255) and PRESETS["fast"].overfit_guard
    assert PRESETS["trades"].loss == "trades" and PRESETS["trades"].trades_beta == 6.0
    demo, fast = PRESETS["demo"], PRESETS["fast"]
    assert (
        demo.dataset == "digits" and demo.epochs == 8 and demo.batch_size == 64 and demo.peak_lr() == pytest.approx(0.1)
    )
    # the fast recipe on the digits: its attack, schedule and guard, no field of its own
    assert demo.with_overrides(name="fast", dataset="cifar10", epochs=15, batch_size=128) == fast
    assert all(name in PRESETS["paper"].describe() for name in ("pgd7", "Linf eps=8/255", "170 epochs"))


def test_round_trip_through_json(tmp_path):
    recipe = get_recipe("paper").with_overrides(epochs=30, batch_size=128, lr=None)
    recipe.save(tmp_path / "recipe.json")
    assert oct((tmp_path / "recipe.json").stat().st_mode)[-3:] != "600"
    again = get_recipe(tmp_path / "recipe.json")
    assert again == recipe and again.lr_at(25) == pytest.approx(recipe.lr_at(25))
    assert json.loads((tmp_path / "recipe.json").read_text())["threat_model"] == {"norm": "Linf", "eps": 8 / 255}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr": -0.1}, "lr must be a positive finite number"),
        ({"lr": float("inf")}, "lr must be a positive finite number"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"threat_model": {"norm": "Linf", "eps": 8}}, "did you mean 8/255"),
        ({"threat_model": {"norm": "L2", "eps": 0.5}}, "cannot serve the L2 threat model"),
        ({"warmup_epochs": 200}, "warmup_epochs must be in"),
        ({"schedule": "step"}, "schedule must be one of"),
        ({"attack": "pgdx"}, "unknown attack 'pgdx'"),
        ({"attack_params": {"stepsize": 1}}, "stepsize are not keywords of 'pgd"),
        ({"learning_rate": 0.1}, "unknown key(s) learning_rate"),
        ({"validation_fraction": 0.6}, "validation_fraction must be in (0, 0.5], got 0.6"),
        ({"validation_fraction": 0}, "validation_fraction must be in (0, 0.5], got 0"),
        ({"augment": "mirror"}, "augment must be one of auto, none, crop, crop-flip, got 'mirror'"),
    ],
)
def test_impossible_recipes_are_refused_in_one_line(tmp_path, change, message):
    data = {**get_recipe("demo").to_dict(), **change}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInput) as caught:
        get_recipe(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_preset_and_missing_file():
    with pytest.raises(NotFound, match="unknown preset 'papr'; presets: paper, fast, n-fgsm, trades, demo"):
        get_recipe("papr")
    with pytest.raises(NotFound, match="no recipe file"):
        get_recipe("nowhere.json")


def test_an_l2_recipe_is_possible():
    recipe = Recipe(
        name="l2",
        epochs=10,
        batch_size=128,
        lr=0.1,
        attack="pgdl2",
        attack_params={"steps": 7},
        threat_model={"norm": "L2", "eps": 0.5},
    )
    assert recipe.threat_model == ThreatModel("L2", 0.5) and not math.isnan(recipe.lr_at(5))


def test_the_held_out_part_is_a_fraction_of_the_data_set_with_a_cap():
    fast = PRESETS["fast"]
    assert fast.held_out(50_000) == 1000  # CIFAR-10: 10% capped at 1,000, the size the recipes always used
    assert fast.held_out(1437) == 144  # the built-in digits: 10%, not CIFAR's 1,000 of 1,437
    assert fast.with_overrides(validation_size=137).held_out(1437) == 137  # a count overrides the rule
    assert fast.with_overrides(validation_fraction=0.5, validation_cap=10**6).held_out(1437) == 718
    assert "10% of the training images held out (at most 1,000)" in fast.describe()


def test_auto_augmentation_never_mirrors_what_a_mirror_changes():
    for name in ("paper", "fast", "trades"):
        recipe = PRESETS[name]
        assert recipe.augment == "auto" and recipe.augment_for() == "crop-flip"  # CIFAR-10
        assert recipe.augment_for("digits") == "none" and recipe.augment_for("svhn") == "crop"
        assert recipe.augment_for("cifar100") == recipe.augment_for("tiny-imagenet") == "crop-flip"
    assert PRESETS["fast"].with_overrides(augment="crop-flip").augment_for("digits") == "crop-flip"  # asked for


def test_crop_only_shifts_and_never_mirrors():
    import torch

    from robnetzoo.search.training import _augment

    images = torch.rand(64, 3, 32, 32)
    for augment, mirrored in (("crop", False), ("crop-flip", True)):
        out = _augment(images, PRESETS["fast"].with_overrides(augment=augment), torch.Generator().manual_seed(0))
        padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
        flips = 0
        for i in range(len(images)):  # each output is a 32x32 window of the padded image, mirrored or not
            windows = [padded[i, :, r : r + 32, c : c + 32] for r in range(9) for c in range(9)]
            straight = any(torch.equal(out[i], w) for w in windows)
            flips += not straight and any(torch.equal(out[i], w.flip(-1)) for w in windows)
            assert straight or any(torch.equal(out[i], w.flip(-1)) for w in windows)
        assert (flips > 0) == mirrored


def test_the_lr_scales_linearly_from_the_batch_it_was_set_for_and_says_so():
    fast = PRESETS["fast"]
    assert fast.lr_batch == fast.batch_size == 128 and fast.lr_scaling() is None
    half = fast.with_overrides(batch_size=64)
    assert half.peak_lr() == pytest.approx(0.1) and half.lr_at(6, batch_size=64) == pytest.approx(0.1)
    assert half.lr_scaling() == "lr 0.1: the recipe's 0.2 at batch 128, scaled linearly to batch 64"
    assert all(PRESETS[name].lr_batch is not None for name in PRESETS)  # every preset says its lr's batch
    assert PRESETS["demo"].lr_scaling() == "lr 0.1: the recipe's 0.2 at batch 128, scaled linearly to batch 64"


def test_the_demos_summary_says_why_it_trains_as_it_does():
    """The demo's note names the discrimination study's criterion, and only the demo's setting
    carries it: another radius or data set has no such reason on record."""
    from robnetzoo.search.settings import get_preset, radius_note
    from robnetzoo.threat import ThreatModel

    demo = get_preset("demo")
    assert "highest lower bound of the intraclass correlation" in radius_note(demo)
    wider = demo.with_overrides(supernet=demo.supernet.at_threat(ThreatModel("Linf", 16 / 255)))
    assert radius_note(wider) is None
