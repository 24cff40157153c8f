"""The sanity checks every evaluation runs: a model with masked gradients is flagged, a
randomised one and one returning probabilities are too, and the trained digits model passes
every check; a failed check warns and is recorded, never stops the evaluation."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from robnetzoo import evaluate
from robnetzoo.data import load_dataset
from robnetzoo.evaluation.checks import RobustnessCheckWarning, eps_monotone, monotone_check


class Quantised(nn.Module):
    """An input quantisation step in front of a model: its gradient is zero everywhere."""

    def __init__(self, model: nn.Module, levels: int = 8) -> None:
        super().__init__()
        self.model, self.levels = model, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * self.levels) / self.levels)


class Noisy(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x + 0.05 * torch.randn_like(x))


class Softmaxed(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).softmax(1)


def by_name(report) -> dict:
    return {check["name"]: check for check in report.checks}


def test_masked_gradients_are_flagged_and_the_evaluation_still_completes(digits_model):
    data = load_dataset("digits", "test")
    with pytest.warns(RobustnessCheckWarning) as warned:
        report = evaluate(Quantised(digits_model), data, attacks=["fgsm", "pgd7", "square200"], n_examples=64, seed=0)
    said = " ".join(str(w.message) for w in warned)
    assert "'gradients' failed" in said and "'black_box' failed" in said
    checks = by_name(report)
    assert checks["gradients"]["passed"] is False
    assert checks["gradients"]["evidence"]["zero"] == checks["gradients"]["evidence"]["n"] > 0
    assert checks["black_box"]["passed"] is False, checks["black_box"]
    assert checks["black_box"]["evidence"]["broken_only_by_black_box"] >= 2
    assert (
        report.robust_accuracy["square200"] < report.robust_accuracy["pgd7"]
    )  # the evaluation's numbers are all there
    assert {c["name"] for c in report.failed_checks()} >= {"gradients", "black_box"}
    assert report.to_dict()["checks"] == report.checks  # in --json and the results files


def test_the_trained_digits_model_passes_every_check(digits_model):
    data = load_dataset("digits", "test")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RobustnessCheckWarning)  # any failed check fails this test
        report = evaluate(digits_model, data, attacks=["fgsm", "pgd7", "square200"], n_examples=64, seed=0, sanity=True)
    checks = by_name(report)
    assert set(checks) == {"deterministic", "logits", "predictions", "gradients", "monotone", "black_box", "unbounded"}
    assert all(check["passed"] is True for check in checks.values()), report.checks


def test_a_randomised_forward_and_probabilities_are_flagged(digits_model):
    data = load_dataset("digits", "test")
    with pytest.warns(RobustnessCheckWarning):
        noisy = by_name(evaluate(Noisy(digits_model), data, attacks=["fgsm"], n_examples=16))
        probabilities = by_name(evaluate(Softmaxed(digits_model), data, attacks=["fgsm"], n_examples=16))
    assert noisy["deterministic"]["passed"] is False and noisy["logits"]["passed"] is True
    assert probabilities["logits"]["passed"] is False and probabilities["deterministic"]["passed"] is True
    assert probabilities["logits"]["evidence"]["probability_rows"] == 16


class OneClass(nn.Module):
    """An untrained model's worst habit: the same class for every input, with input-dependent
    logits (so the gradient checks still see gradients)."""

    def __init__(self, model: nn.Module, always: int = 5) -> None:
        super().__init__()
        self.model, self.always = model, always

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = 0.01 * self.model(x)
        return logits + 10.0 * nn.functional.one_hot(torch.tensor(self.always), logits.shape[1]).to(logits)


def test_a_model_that_predicts_one_class_fails_a_check_with_its_evidence(digits_model):
    data = load_dataset("digits", "test")
    with pytest.warns(RobustnessCheckWarning, match="'predictions' failed"):
        report = evaluate(OneClass(digits_model), data, attacks=["fgsm", "pgd7"], n_examples=64, seed=0)
    check = by_name(report)["predictions"]
    assert check["passed"] is False and "collapsed to one class" in check["summary"]
    assert check["evidence"]["most_predicted_class"] == 5 and check["evidence"]["most_predicted_share"] == 1.0
    assert all(c["passed"] is not False for c in report.checks if c["name"] != "predictions")  # the others pass it
    with warnings.catch_warnings():
        warnings.simplefilter("error", RobustnessCheckWarning)  # warn=False: recorded, not warned (a search's scoring)
        quiet = evaluate(OneClass(digits_model), data, attacks=["fgsm"], n_examples=16, seed=0, warn=False)
    assert by_name(quiet)["predictions"]["passed"] is False


def test_a_model_at_chance_fails_the_predictions_check():
    from robnetzoo.evaluation.checks import prediction_check

    varied = torch.arange(64) % 10
    at_chance = prediction_check(varied, varied.roll(1), 10, correct=7, n=64)  # 10.9%, interval reaching 10%
    assert at_chance.passed is False and "no better than chance" in at_chance.summary
    assert prediction_check(varied, varied, 10, correct=60, n=64).passed is True


def test_a_stronger_attack_or_a_larger_radius_leaving_more_robust_fails():
    check = monotone_check({"fgsm": 10, "pgd20": 8, "pgd100": 9}, ["pgd100", "fgsm", "pgd20"], cascade=False)
    assert check.passed is False and check.evidence["violations"][0]["stronger"] == "pgd100"
    assert monotone_check({"fgsm": 10, "pgd20": 8, "pgd100": 8}, ["fgsm", "pgd20", "pgd100"], cascade=False).passed
    assert monotone_check({"pgd20": 8, "square": 9}, ["pgd20", "square"], cascade=False).passed is None
    assert eps_monotone({1 / 255: 50, 2 / 255: 40, 4 / 255: 41}).passed is False
    assert eps_monotone({1 / 255: 50, 2 / 255: 40, 4 / 255: 40}).passed is True
