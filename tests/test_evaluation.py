import copy
import json
import subprocess
import sys

import pytest
import torch

import robnetzoo
from robnetzoo.data import load_dataset
from robnetzoo.errors import InvalidInput
from robnetzoo.evaluation.store import read_results_file
from robnetzoo.stats import wilson_interval

N = 96


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "test")


def test_the_attacks_behave_as_attacks_must(digits_model, digits):
    zero = robnetzoo.evaluate(digits_model, digits, attacks=["pgd20"], eps=0.0, n_examples=N, batch_size=48)
    assert zero.robust_accuracy["pgd20"] == zero.clean_accuracy > 50
    by_eps = [
        robnetzoo.evaluate(digits_model, digits, attacks=["fgsm", "pgd20"], eps=e, n_examples=N, batch_size=48)
        for e in (1 / 255, 2 / 255, 4 / 255)
    ]
    for lower, higher in zip(by_eps, by_eps[1:]):
        assert higher.robust_accuracy["pgd20"] <= lower.robust_accuracy["pgd20"]
    for report in by_eps:
        assert report.robust_accuracy["pgd20"] <= report.robust_accuracy["fgsm"] + 3  # iterating helps; noise: 3 points
    # the attack really moves the input: at 4/255 PGD-20 breaks a share of what stood clean
    # (a sign error, a zero step or a lost gradient leaves robust == clean)
    assert by_eps[-1].robust_accuracy["pgd20"] <= by_eps[-1].clean_accuracy - 10
    # more steps never help the model (once, at the middle eps: 100 steps are the cost of this test)
    longer = robnetzoo.evaluate(digits_model, digits, attacks=["pgd100"], eps=2 / 255, n_examples=N, batch_size=48)
    assert longer.robust_accuracy["pgd100"] <= by_eps[1].robust_accuracy["pgd20"] + 3
    large = robnetzoo.evaluate(digits_model, digits, attacks=["pgd20"], eps=64 / 255, n_examples=N, batch_size=48)
    assert large.robust_accuracy["pgd20"] <= 5


def test_same_seed_same_numbers(digits_model, digits):
    a, b = (
        robnetzoo.evaluate(digits_model, digits, attacks=["pgd7"], eps=2 / 255, n_examples=N, seed=5) for _ in range(2)
    )
    assert a.counts == b.counts


def test_resume_after_an_interrupted_run_gives_the_same_numbers(digits_model, digits, tmp_path):
    kwargs = dict(attacks=["fgsm", "pgd7"], eps=2 / 255, n_examples=N, batch_size=16, seed=1)
    whole = robnetzoo.evaluate(digits_model, digits, **kwargs)

    seen = []

    def interrupt(event):
        seen.append(event)
        if event.phase == "pgd7" and event.done >= 48:
            raise KeyboardInterrupt

    path = tmp_path / "results.json"
    with pytest.raises(KeyboardInterrupt):
        robnetzoo.evaluate(digits_model, digits, output=path, progress=interrupt, **kwargs)
    saved = read_results_file(path)
    assert saved["results"]["pgd7"].count("-") == N - 48 and saved["report"] is None
    resumed = robnetzoo.evaluate(digits_model, digits, output=path, resume=True, **kwargs)
    assert resumed.counts == whole.counts
    # each example's passes depend on it alone, so the killed-and-resumed run spent exactly the
    # uninterrupted run's passes (the first part's were saved with its marks, none counted twice)
    passes = lambda report: {k: (v["forward"], v["backward"]) for k, v in report.cost["phases"].items()}  # noqa: E731
    assert passes(resumed) == passes(whole)
    assert read_results_file(path)["report"]["counts"] == whole.counts
    with pytest.raises(InvalidInput, match="different threat_model"):
        robnetzoo.evaluate(digits_model, digits, output=path, resume=True, **{**kwargs, "eps": 3 / 255})


def test_cascade_only_attacks_survivors(digits_model, digits):
    kwargs = dict(attacks=["fgsm", "pgd7"], eps=2 / 255, n_examples=N)
    cascade = robnetzoo.evaluate(digits_model, digits, cascade=True, **kwargs)
    plain = robnetzoo.evaluate(digits_model, digits, **kwargs)
    # every attack skips clean-misclassified examples; with cascade, pgd7 runs only on fgsm's survivors
    assert plain.counts["attacked"] == {"fgsm": plain.counts["clean"], "pgd7": plain.counts["clean"]}
    assert cascade.counts["attacked"] == {"fgsm": cascade.counts["clean"], "pgd7": cascade.counts["robust"]["fgsm"]}
    assert cascade.counts["robust"]["fgsm"] < cascade.counts["clean"]  # so the two differ
    assert cascade.robust_accuracy["pgd7"] <= cascade.robust_accuracy["fgsm"]
    assert cascade.worst_case_accuracy == cascade.robust_accuracy["pgd7"]


def test_more_examples_than_the_data_set_has(digits_model, digits):
    report = robnetzoo.evaluate(digits_model, digits, attacks=["fgsm"], n_examples=10_000, batch_size=200)
    assert report.n_examples == 360 and "has 360; evaluated 360" in report.notes[0]


def test_bad_inputs(digits_model, digits):
    with pytest.raises(InvalidInput, match="unknown attack 'nope'"):
        robnetzoo.evaluate(digits_model, digits, attacks=["nope"])
    with pytest.raises(InvalidInput, match=r"eps must be in \[0, 1\] for Linf"):
        robnetzoo.evaluate(digits_model, digits, eps=2)
    with pytest.raises(InvalidInput, match="unknown device 'tpu'"):
        robnetzoo.evaluate(digits_model, digits, device="tpu")
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


# ---------------------------------------------------------------- module name, threat model


def test_evaluate_stays_a_function_after_importing_the_evaluation_module():
    # robnetzoo.evaluate used to be a function *and* a submodule: importing the submodule
    # replaced the function, and robnetzoo.evaluate(...) raised "'module' object is not callable"
    code = (
        "import importlib.util, robnetzoo\n"
        "from robnetzoo.evaluation import EvalReport\n"
        "assert importlib.util.find_spec('robnetzoo.evaluate') is None\n"
        "import torch\n"
        "m = robnetzoo.create_model('robnet-large', C=4, layers=3, num_classes=10)\n"
        "d = robnetzoo.load_dataset('digits', n_examples=4)\n"
        "r = robnetzoo.evaluate(m, d, attacks='fgsm', batch_size=4)\n"
        "print(isinstance(r, EvalReport))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_l2_threat_model_end_to_end(digits_model, digits, tmp_path):
    path = tmp_path / "l2.json"
    report = robnetzoo.evaluate(digits_model, digits, norm="L2", eps=0.5, attacks=["pgdl2"], n_examples=48, output=path)
    assert report.threat_model == {"norm": "L2", "eps": 0.5}
    assert report.settings["attack_params"]["pgdl2"]["eps"] == 0.5
    assert report.settings["attack_params"]["pgdl2"]["alpha"] == pytest.approx(0.1)
    saved = read_results_file(path)
    assert saved["header"]["threat_model"] == {"norm": "L2", "eps": 0.5}
    assert saved["report"]["threat_model"] == {"norm": "L2", "eps": 0.5}
    # an L2 radius above 1 is a radius like any other; a bigger one breaks more
    large = robnetzoo.evaluate(digits_model, digits, norm="L2", eps=1.5, attacks=["pgdl2"], n_examples=48)
    assert large.robust_accuracy["pgdl2"] <= report.robust_accuracy["pgdl2"]
    # the default attack follows the norm
    assert robnetzoo.evaluate(digits_model, digits, norm="L2", n_examples=8).attacks == ["pgdl2"]
    with pytest.raises(
        InvalidInput,
        match="cannot serve the L2 threat model; for L2 use apgd-cascade, apgd-ce, apgd-dlr, apgd-t, autoattack, pgdl2",
    ):
        robnetzoo.evaluate(digits_model, digits, norm="L2", eps=0.5, attacks=["pgd20"])


def test_threat_model_defaults_to_the_models_config(digits_model, digits):
    import dataclasses

    from robnetzoo.threat import ThreatModel

    model = copy.deepcopy(digits_model)
    model.zoo_config = dataclasses.replace(model.zoo_config, threat_model=ThreatModel("L2", 0.25))
    report = robnetzoo.evaluate(model, digits, n_examples=8)
    assert report.threat_model == {"norm": "L2", "eps": 0.25} and report.attacks == ["pgdl2"]
    assert robnetzoo.evaluate(model, digits, eps=0.5, n_examples=8).threat_model == {"norm": "L2", "eps": 0.5}


# ---------------------------------------------------------------- what happened, not what was asked


class _Untraceable(torch.nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so BN folding must fall back."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 10)

    def forward(self, x):
        h = self.bn(self.conv(x))
        if h.mean() > 100:  # never true; fx cannot trace the branch
            h = h * 2
        return self.head(h.mean((2, 3)))


def test_report_says_when_batchnorm_folding_fell_back(digits):
    torch.manual_seed(0)
    report = robnetzoo.evaluate(_Untraceable().eval(), digits, attacks=["fgsm"], n_examples=8)
    assert report.settings["fold_bn"] is False
    assert any("BatchNorm not folded" in note and "_Untraceable" in note for note in report.notes)
    folded = robnetzoo.evaluate(_traceable(), digits, attacks=["fgsm"], n_examples=8)
    assert folded.settings["fold_bn"] is True and folded.settings["batchnorm_folded"] == "1 of 1"
    assert not folded.notes


def _traceable():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 10),
    )
    return model.eval()


# ---------------------------------------------------------------- any classifier: targets


class NoGradTarget:
    """Not an nn.Module: a torch model's forward behind no_grad, as a runtime session would be."""

    def __init__(self, model):
        self._model = copy.deepcopy(model).eval()
        self.num_classes = 10
        self.fingerprint = "no-grad-target"
        self.name = "no-grad-target"

    def logits(self, images):
        with torch.no_grad():
            return self._model(images)


def test_a_target_without_gradients_is_judged_on_transfer_examples(digits_model, digits):
    kwargs = dict(attacks=["pgd7"], eps=4 / 255, n_examples=N, batch_size=48, seed=3)
    white_box = robnetzoo.evaluate(digits_model, digits, **kwargs)
    target = NoGradTarget(digits_model)
    transfer = robnetzoo.evaluate(target, digits, source=digits_model, **kwargs)
    assert transfer.counts["clean"] == white_box.counts["clean"]
    assert transfer.robust_accuracy["pgd7"] >= white_box.robust_accuracy["pgd7"]
    assert transfer.robust_accuracy["pgd7"] < transfer.clean_accuracy  # the transfer examples do bite
    assert transfer.settings["transfer"] == ["pgd7"] and transfer.model == "no-grad-target"
    assert transfer.settings["source"]["model"] == "digits-robnet"
    with pytest.raises(InvalidInput, match="needs gradients and no-grad-target has none; pass a torch source"):
        robnetzoo.evaluate(target, digits, **kwargs)
    with pytest.raises(InvalidInput, match="neither a torch nn.Module nor a target"):
        robnetzoo.evaluate(object(), digits, **kwargs)


def test_score_based_attacks_query_a_target_without_gradients(digits_model, digits, monkeypatch):
    from robnetzoo import attacks
    from robnetzoo.attacks.base import Attack

    class RandomCorners(Attack):
        """A toy score-based attack: try a few random corners of the L-inf ball."""

        name = "corners"
        needs_gradients = False

        def _perturb(self, images, labels, early_stop, noise, judge=True):
            best, broken = images.clone(), torch.zeros(len(images), dtype=torch.bool)
            for _ in range(4):
                candidate = self.project(images + self.eps * torch.sign(noise.rand(images.shape) - 0.5), images)
                fooled = self.is_fooled(candidate, labels)
                best[fooled & ~broken] = candidate[fooled & ~broken]
                broken |= fooled
            return best, broken

    monkeypatch.setitem(attacks.ATTACKS, "corners", RandomCorners)
    target = NoGradTarget(digits_model)
    on_target = robnetzoo.evaluate(target, digits, attacks=["corners"], eps=16 / 255, n_examples=N)
    on_module = robnetzoo.evaluate(digits_model, digits, attacks=["corners"], eps=16 / 255, n_examples=N)
    assert on_target.settings["transfer"] == []
    assert on_target.counts == on_module.counts  # same model, same per-example noise
    assert on_target.counts["robust"]["corners"] < on_target.counts["clean"]


# ---------------------------------------------------------------- batch-size independence


def test_results_do_not_depend_on_the_batch_size(digits_model, digits, tmp_path):
    # one short PGD step (0.5/255) from a random start in the 4/255 ball: the start dominates,
    # so which examples survive hangs on each example's own noise (about 5 of 88 flip per seed)
    kwargs = dict(attacks=["pgd1"], eps=4 / 255, n_examples=N, seed=4, attack_params={"pgd1": {"alpha": 0.5 / 255}})
    big = robnetzoo.evaluate(digits_model, digits, batch_size=48, output=tmp_path / "big.json", **kwargs)
    small = robnetzoo.evaluate(digits_model, digits, batch_size=20, output=tmp_path / "small.json", **kwargs)
    per_example = [read_results_file(tmp_path / f)["results"]["pgd1"] for f in ("big.json", "small.json")]
    assert per_example[0] == per_example[1] and big.counts == small.counts
    # and the noise really matters here: another seed changes some examples' outcome
    robnetzoo.evaluate(digits_model, digits, batch_size=48, output=tmp_path / "other.json", **{**kwargs, "seed": 5})
    assert read_results_file(tmp_path / "other.json")["results"]["pgd1"] != per_example[0]


def test_resume_with_a_smaller_batch_size_gives_the_same_numbers(digits_model, digits, tmp_path):
    kwargs = dict(attacks=["pgd7"], eps=3 / 255, n_examples=N, seed=6)
    whole = robnetzoo.evaluate(digits_model, digits, batch_size=40, **kwargs)

    def interrupt(event):
        if event.phase == "pgd7" and event.done >= 40:
            raise KeyboardInterrupt

    path = tmp_path / "results.json"
    with pytest.raises(KeyboardInterrupt):
        robnetzoo.evaluate(digits_model, digits, batch_size=40, output=path, progress=interrupt, **kwargs)
    assert read_results_file(path)["results"]["pgd7"].count("-") == N - 40
    resumed = robnetzoo.evaluate(digits_model, digits, batch_size=20, output=path, resume=True, **kwargs)
    assert resumed.counts == whole.counts


def test_every_report_says_what_each_phase_cost_in_passes_and_seconds(digits_model, digits):
    report = robnetzoo.evaluate(digits_model, digits, attacks=["fgsm", "pgd7"], eps=2 / 255, n_examples=N)
    phases, total = report.cost["phases"], report.cost["total"]
    assert phases["clean"]["forward"] == N and phases["clean"]["backward"] == 0  # one forward per example
    attacked = report.counts["attacked"]
    for name, planned in (
        ("fgsm", robnetzoo.attacks.planned_passes("fgsm")),
        ("pgd7", robnetzoo.attacks.planned_passes("pgd7")),
    ):
        assert 0 < phases[name]["backward"] <= planned.backward * attacked[name]
        assert attacked[name] <= phases[name]["forward"] <= planned.forward * attacked[name]
    # early exit: PGD-7 stops attacking what it broke, so it spends less than its full budget
    assert phases["pgd7"]["backward"] < 7 * attacked["pgd7"]
    assert total["forward"] == sum(p["forward"] for p in phases.values()) and report.cost["device"] == "cpu"
    rows = report.eval_results()
    assert rows[2]["metric"] == "pgd7" and rows[2]["backward_passes"] == phases["pgd7"]["backward"]
    assert report.to_dict()["cost"] == report.cost


def test_apgd_cascade_through_the_evaluator_breaks_at_least_what_pgd20_breaks(digits_model, digits):
    report = robnetzoo.evaluate(
        digits_model,
        digits,
        attacks=["pgd20", "apgd-cascade"],
        eps=2 / 255,
        n_examples=48,
        attack_params={"apgd-cascade": {"steps": 20, "targets": 1}},
    )
    assert report.robust_accuracy["apgd-cascade"] <= report.robust_accuracy["pgd20"] + 100 / 48  # one example of noise
    assert report.cost["phases"]["apgd-cascade"]["backward"] > 0


@pytest.mark.parametrize("attack", ["pgd20", "apgd-cascade"])
def test_one_batch_reports_progress_per_attack_step(digits_model, digits, attack):
    """A run of one batch moves between its start and its end (the cascade's stages report too),
    never past the batch, and the numbers are those of a run nobody watched."""
    events = []
    params = {"apgd-cascade": {"steps": 10, "targets": 0, "square_queries": 0}}  # its first stage's calls
    kwargs = dict(attacks=[attack], eps=1 / 255, n_examples=32, batch_size=200, attack_params=params)
    watched = robnetzoo.evaluate(digits_model, digits, progress=events.append, **kwargs)
    phase = [e for e in events if e.phase == attack]
    inside = [e.partial for e in phase if e.done == 0 and e.partial > 0]
    assert len(inside) >= 5, phase
    assert inside == sorted(inside) and max(inside) < 32
    assert phase[-1].done == 32 and phase[-1].partial == 0
    assert watched.counts == robnetzoo.evaluate(digits_model, digits, **kwargs).counts
