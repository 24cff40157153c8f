"""Candidate scoring pieces: exact BatchNorm recalibration, sizes, a repeatable inherited score."""

from __future__ import annotations

import torch

from robnetzoo.data import TensorImageDataset, load_dataset, train_validation_split
from robnetzoo.genotype import Genotype
from robnetzoo.search.candidates import describe, recalibrate_batchnorm, screen
from robnetzoo.search.supernet import Supernet


def test_recalibration_gives_the_exact_statistics_of_the_calibration_images():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    model[1].running_mean.fill_(5.0)  # stale statistics, as a supernet's are for one sub-network
    images = torch.rand(10, 3, 8, 8)
    data = TensorImageDataset(images, torch.zeros(10, dtype=torch.long), 10, "toy")
    recalibrate_batchnorm(model, data, list(range(10)), batch_size=3)  # uneven batches on purpose
    with torch.no_grad():
        features = model[0](images)
    assert torch.allclose(model[1].running_mean, features.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(model[1].running_var, features.var(dim=(0, 2, 3), unbiased=True), atol=1e-4)
    assert not model.training and model[1].momentum == 0.1  # eval mode, momentum restored


def test_describe_counts_the_final_size_network():
    facts = describe(Genotype.from_codes(["11"] * 14))
    assert facts["density"] == 1.0 and facts["convs"]["chain"] == {"direct": 4, "skip": 10, "total": 14}
    assert facts["convs"]["inputs"] == {"direct": 8, "skip": 6, "total": 14}
    assert (facts["convs_per_cell"], facts["identity_bits"], facts["cell_densities"]) == (14, 14, [1.0])
    sparser = describe(Genotype.from_codes(["10"] * 14))
    assert sparser["parameters"] < facts["parameters"] and sparser["macs"] < facts["macs"]


def test_screening_shares_its_randomness_between_candidates_and_leaves_the_supernet_alone():
    from tests.support import tiny_settings

    settings = tiny_settings().with_overrides(score_examples=16, fsp_examples=8, calibration_images=32)
    train, validation = train_validation_split(load_dataset("digits", "train"), 24, seed=0)
    torch.manual_seed(0)
    supernet = Supernet(C=2, layers=3)
    genotype = Genotype.from_codes(["01", "11"] * 7)
    a = screen(supernet, genotype, index=4, space="cell", validation=validation, calibration=train, settings=settings)
    b = screen(supernet, genotype, index=4, space="cell", validation=validation, calibration=train, settings=settings)
    assert (a["inherited"]["clean"], a["inherited"]["robust"], a["fsp"]["cells"]) == (
        b["inherited"]["clean"],
        b["inherited"]["robust"],
        b["fsp"]["cells"],
    )
    assert 0 <= a["inherited"]["robust"] <= a["inherited"]["clean"] <= 100
    assert len(a["fsp"]["cells"]) == 3 and all(loss >= 0 for loss in a["fsp"]["cells"])
    # common random numbers: another candidate number gets the same images, recalibration and
    # attack noise, so the same architecture scores exactly the same
    other = screen(
        supernet, genotype, index=5, space="cell", validation=validation, calibration=train, settings=settings
    )
    assert (other["inherited"]["robust"], other["fsp"]["cells"]) == (a["inherited"]["robust"], a["fsp"]["cells"])
    reseeded = screen(
        supernet,
        genotype,
        index=4,
        space="cell",
        validation=validation,
        calibration=train,
        settings=settings.with_overrides(seed=settings.seed + 1),
    )
    assert reseeded["fsp"]["cells"] != a["fsp"]["cells"]  # the search's seed does move it
    low, high = a["inherited"]["robust_interval"]
    assert low <= a["inherited"]["robust"] <= high and a["inherited"]["n"] == 16
    assert supernet.training  # the supernet itself was not touched (the candidate is a copy)


def test_a_finetuned_candidate_is_recalibrated_like_every_other_score():
    from robnetzoo.search.candidates import calibration_indices, finetuned_model
    from tests.support import tiny_settings

    settings = tiny_settings().with_overrides(calibration_images=32)
    settings = settings.with_overrides(finetune=settings.finetune.with_overrides(epochs=1, train_examples=64))
    train, _ = train_validation_split(load_dataset("digits", "train"), 24, seed=0)
    torch.manual_seed(0)
    genotype = Genotype.from_codes(["01", "11"] * 7)
    model = finetuned_model(
        Supernet(C=2, layers=3), genotype, train=train, settings=settings, seed=0, device=torch.device("cpu")
    )
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    recalibrate_batchnorm(model, train, calibration_indices(train, settings))  # again: nothing may change
    after = {k: v for k, v in model.state_dict().items() if "running" in k}
    assert not model.training and all(torch.allclose(before[k], after[k], atol=1e-5) for k in before)
