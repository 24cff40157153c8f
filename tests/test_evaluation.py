import json

import pytest
import torch

import robnetzoo
from robnetzoo.data import load_dataset
from robnetzoo.errors import InvalidInput
from robnetzoo.stats import wilson_interval

N = 96


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "test")


def test_sanity_checks_that_catch_gradient_masking(digits_model, digits):
    zero = robnetzoo.evaluate(digits_model, digits, attacks=["pgd20"], eps=0.0, n_examples=N, batch_size=48)
    assert zero.robust_accuracy["pgd20"] == zero.clean_accuracy > 50
    by_eps = [
        robnetzoo.evaluate(digits_model, digits, attacks=["fgsm", "pgd20", "pgd100"], eps=e, n_examples=N, batch_size=48)
        for e in (1 / 255, 2 / 255, 4 / 255)
    ]
    for lower, higher in zip(by_eps, by_eps[1:]):
        assert higher.robust_accuracy["pgd20"] <= lower.robust_accuracy["pgd20"]
    for report in by_eps:
        assert report.robust_accuracy["pgd100"] <= report.robust_accuracy["pgd20"] + 3  # noise: 3 points
        assert report.worst_case_accuracy <= min(report.robust_accuracy.values())
        assert max(report.robust_accuracy.values()) <= report.clean_accuracy
    large = robnetzoo.evaluate(digits_model, digits, attacks=["pgd20"], eps=64 / 255, n_examples=N, batch_size=48)
    assert large.robust_accuracy["pgd20"] <= 5


def test_same_seed_same_numbers(digits_model, digits):
    a, b = (robnetzoo.evaluate(digits_model, digits, attacks=["pgd7"], eps=2 / 255, n_examples=N, seed=5) for _ in range(2))
    assert a.counts == b.counts


def test_resume_after_an_interrupted_run_gives_the_same_numbers(digits_model, digits, tmp_path):
    kwargs = dict(attacks=["fgsm", "pgd7"], eps=2 / 255, n_examples=N, batch_size=16, seed=1)
    whole = robnetzoo.evaluate(digits_model, digits, **kwargs)

    seen = []

    def interrupt(event):
        seen.append(event)
        if event["phase"] == "pgd7" and event["done"] >= 48:
            raise KeyboardInterrupt

    path = tmp_path / "results.json"
    with pytest.raises(KeyboardInterrupt):
        robnetzoo.evaluate(digits_model, digits, output=path, progress=interrupt, **kwargs)
    saved = json.loads(path.read_text())
    assert len(saved["robust"]["pgd7"]) == 3 and saved["report"] is None
    resumed = robnetzoo.evaluate(digits_model, digits, output=path, resume=True, **kwargs)
    assert resumed.counts == whole.counts
    assert json.loads(path.read_text())["report"]["counts"] == whole.counts
    with pytest.raises(InvalidInput, match="different eps"):
        robnetzoo.evaluate(digits_model, digits, output=path, resume=True, **{**kwargs, "eps": 3 / 255})


def test_cascade_only_attacks_survivors(digits_model, digits):
    report = robnetzoo.evaluate(digits_model, digits, attacks=["fgsm", "pgd7"], eps=2 / 255, n_examples=N, cascade=True)
    assert report.robust_accuracy["pgd7"] <= report.robust_accuracy["fgsm"]
    assert report.worst_case_accuracy == report.robust_accuracy["pgd7"]


def test_more_examples_than_the_data_set_has(digits_model, digits):
    report = robnetzoo.evaluate(digits_model, digits, attacks=["fgsm"], n_examples=10_000, batch_size=200)
    assert report.n_examples == 360 and "has 360; evaluated 360" in report.notes[0]


def test_bad_inputs(digits_model, digits):
    with pytest.raises(InvalidInput, match="unknown attack 'nope'"):
        robnetzoo.evaluate(digits_model, digits, attacks=["nope"])
    with pytest.raises(InvalidInput, match=r"eps must be in \[0, 1\]"):
        robnetzoo.evaluate(digits_model, digits, eps=2)
    hundred = robnetzoo.data.TensorImageDataset(digits.images[:8], digits.labels[:8], 100, "c100")
    with pytest.raises(InvalidInput, match="has 100 classes but digits-robnet predicts 10"):
        robnetzoo.evaluate(digits_model, hundred)
    scaled = robnetzoo.data.TensorImageDataset(digits.images[:8] * 255, digits.labels[:8], 10, "raw")
    with pytest.raises(InvalidInput, match=r"in \[0, 1\]"):
        robnetzoo.evaluate(digits_model, scaled)


def test_report_intervals_and_dict(digits_model, digits):
    report = robnetzoo.evaluate(digits_model, digits, attacks=["fgsm"], eps=1 / 255, n_examples=40)
    data = report.to_dict()
    low, high = data["intervals_95"]["clean"]
    assert low <= report.clean_accuracy <= high
    assert json.loads(json.dumps(data))["counts"]["clean"] == report.counts["clean"]


def test_wilson_interval_hand_computed():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(40.38, abs=0.01) and high == pytest.approx(59.62, abs=0.01)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(100.0)


def test_folding_does_not_change_the_numbers(digits_model, digits):
    kwargs = dict(attacks=["pgd7"], eps=2 / 255, n_examples=48, seed=2)
    fast = robnetzoo.evaluate(digits_model, digits, **kwargs)
    plain = robnetzoo.evaluate(digits_model, digits, fold_bn=False, channels_last=False, **kwargs)
    assert abs(fast.counts["robust"]["pgd7"] - plain.counts["robust"]["pgd7"]) <= 1  # float ties only
    assert fast.counts["clean"] == plain.counts["clean"]


@pytest.mark.slow
def test_autoattack_through_the_evaluator(digits_model, digits):
    pytest.importorskip("pyautoattack")
    report = robnetzoo.evaluate(digits_model, digits, attacks=["pgd20", "autoattack"], eps=2 / 255, n_examples=32)
    assert report.robust_accuracy["autoattack"] <= report.robust_accuracy["pgd20"] + 100 / 32


def test_bf16_steps_are_confirmed_in_fp32(digits_model, digits):
    kwargs = dict(attacks=["pgd7"], eps=2 / 255, n_examples=48, seed=2)
    fp32 = robnetzoo.evaluate(digits_model, digits, **kwargs)
    bf16 = robnetzoo.evaluate(digits_model, digits, precision="bf16", **kwargs)
    assert bf16.counts["clean"] == fp32.counts["clean"]  # the clean pass is always fp32
    assert abs(bf16.counts["robust"]["pgd7"] - fp32.counts["robust"]["pgd7"]) <= 4
    with pytest.raises(InvalidInput, match="precision"):
        robnetzoo.evaluate(digits_model, digits, precision="fp8", **kwargs)


def test_leaves_a_train_mode_model_without_config_untouched(digits):
    # no zoo_config: the class count is probed with a forward pass, which must not touch BN stats
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.LazyLinear(10)
    )
    model(torch.rand(2, 3, 32, 32))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    robnetzoo.evaluate(model, digits, attacks=["fgsm"], n_examples=8)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
