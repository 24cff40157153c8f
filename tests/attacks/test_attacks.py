import sys

import pytest
import torch
import torchattacks

from robnetzoo import attacks
from robnetzoo.errors import InvalidInput, MissingDependency

EPS = 4 / 255


def test_fgsm_equals_torchattacks(digits_model, digits_batch):
    x, y = digits_batch
    ours = attacks.build("fgsm", digits_model, eps=EPS)(x, y)
    theirs = torchattacks.FGSM(digits_model, eps=EPS)(x, y)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_pgd_without_random_start_equals_torchattacks(digits_model, digits_batch):
    x, y = digits_batch
    ours = attacks.build("pgd", digits_model, eps=EPS, alpha=1 / 255, steps=7, random_start=False)(x, y)
    theirs = torchattacks.PGD(digits_model, eps=EPS, alpha=1 / 255, steps=7, random_start=False)(x, y)
    assert torch.allclose(ours, theirs, atol=1e-6)


def _robust(model, x, adv, y) -> int:
    with torch.no_grad():
        return int((model(adv).argmax(1) == y).sum())


@pytest.mark.parametrize(
    "name, reference",
    [
        ("pgd20", lambda m: torchattacks.PGD(m, eps=EPS, alpha=2 / 255, steps=20, random_start=True)),
        ("mifgsm", lambda m: torchattacks.MIFGSM(m, eps=EPS, alpha=2 / 255, steps=10, decay=1.0)),
    ],
)
def test_at_least_as_strong_as_torchattacks(digits_model, digits_batch, name, reference):
    x, y = digits_batch
    result = attacks.build(name, digits_model, eps=EPS).run(x, y)
    ours = int((~result.broken).sum())
    torch.manual_seed(0)
    theirs = _robust(digits_model, x, reference(digits_model)(x, y), y)
    assert ours <= theirs
    # and the returned images really are adversarial where we say so
    assert _robust(digits_model, x, result.adversarial, y) == ours


ALL = ["fgsm", "pgd", "pgd7", "pgdl2", "mifgsm", "cw", "deepfool"]


@pytest.mark.parametrize("name", ALL)
def test_stays_in_the_eps_ball_and_the_unit_box(digits_model, digits_batch, name):
    x, y = digits_batch
    eps = 0.5 if name == "pgdl2" else EPS
    adv = attacks.build(name, digits_model, eps=eps)(x, y)
    assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    if name == "pgdl2":
        assert (adv - x).flatten(1).norm(dim=1).max() <= eps + 1e-5
    else:
        assert (adv - x).abs().max() <= eps + 1e-6


@pytest.mark.parametrize("name", ["pgd20", "deepfool", "cw"])
def test_restores_the_callers_mode_and_leaves_bn_statistics_alone(digits_model, digits_batch, name):
    x, y = digits_batch
    digits_model.train()
    before = {k: v.clone() for k, v in digits_model.state_dict().items()}
    try:
        attacks.build(name, digits_model, eps=EPS)(x[:8], y[:8])
        assert digits_model.training
        after = digits_model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
    finally:
        digits_model.eval()


def test_same_seed_same_result(digits_model, digits_batch):
    x, y = (t[:24] for t in digits_batch)  # 24 images: the property, at half the cost
    a = attacks.build("pgd7", digits_model, eps=EPS, seed=3)(x, y)
    b = attacks.build("pgd7", digits_model, eps=EPS, seed=3)(x, y)
    c = attacks.build("pgd7", digits_model, eps=EPS, seed=4)(x, y)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_deepfool_breaks_a_non_robust_model_at_large_eps(digits_model, digits_batch):
    x, y = (t[:24] for t in digits_batch)  # 24 images: the property, at half the cost
    result = attacks.build("deepfool", digits_model, eps=32 / 255).run(x, y)
    assert result.broken.float().mean() > 0.9


def test_early_stop_keeps_the_breaking_iterate(digits_model, digits_batch):
    x, y = (t[:24] for t in digits_batch)  # 24 images: the property, at half the cost
    full = attacks.build("pgd20", digits_model, eps=EPS).run(x, y, early_stop=False)
    early = attacks.build("pgd20", digits_model, eps=EPS).run(x, y, early_stop=True)
    assert torch.equal(full.broken, early.broken)  # same iterates until each example breaks
    assert _robust(digits_model, x, early.adversarial, y) == int((~early.broken).sum())


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(2, 3, 32, 32) * 2 - 0.5, r"in \[0, 1\]"),
        (torch.rand(3, 32, 32), "NCHW"),
        (torch.rand(2, 1, 32, 32), "do not fit"),
        (torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8), "float"),
    ],
)
def test_bad_images(digits_model, images, message):
    with pytest.raises(InvalidInput, match=message):
        attacks.build("fgsm", digits_model)(images, torch.zeros(len(images), dtype=torch.long))


def test_bad_names_and_eps(digits_model):
    with pytest.raises(InvalidInput, match="valid: apgd-cascade, apgd-ce, apgd-dlr, apgd-t, autoattack, cw, deepfool"):
        attacks.build("pgdd", digits_model)
    with pytest.raises(InvalidInput, match=r"eps must be in \[0, 1\] for Linf.*did you mean 8/255"):
        attacks.build("pgd20", digits_model, eps=8)
    with pytest.raises(InvalidInput, match="bad parameters for attack 'fgsm': steps"):
        attacks.build("fgsm", digits_model, steps=3)
    with pytest.raises(InvalidInput, match="mode must be one of eval, train, keep"):
        attacks.build("fgsm", digits_model, mode="test")
    assert attacks.expand(["paper", "fgsm"]) == ["fgsm", "pgd20", "pgd100", "deepfool", "mifgsm"]
    assert attacks.expand(["pgd20", "worst-case"]) == ["pgd20", "apgd-cascade"]
    assert attacks.build("worst-case", digits_model).name == "apgd-cascade"
    with pytest.raises(InvalidInput, match="'paper' stands for 5 attacks .*, not one"):
        attacks.build("paper", digits_model)


def test_autoattack_without_the_extra_says_how_to_install(digits_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    with pytest.raises(MissingDependency, match=r"pip install 'robnetzoo\[autoattack\]'"):
        attacks.build("autoattack", digits_model)


@pytest.mark.slow
def test_autoattack_reference_runs(digits_model, digits_batch):
    pytest.importorskip("pyautoattack")
    x, y = digits_batch
    result = attacks.build("autoattack", digits_model, eps=EPS).run(x[:16], y[:16])
    assert (result.adversarial - x[:16]).abs().max() <= EPS + 1e-6
    pgd = attacks.build("pgd20", digits_model, eps=EPS).run(x[:16], y[:16])
    assert int(result.broken.sum()) >= int(pgd.broken.sum()) - 1


# ---------------------------------------------------------------- threat models


def test_pgdl2_defaults_to_an_l2_radius_and_a_step_that_scales_with_it(digits_model):
    default = attacks.build("pgdl2", digits_model)
    assert (default.norm, default.eps, default.alpha) == ("L2", 0.5, pytest.approx(0.1))
    wide = attacks.build("pgdl2", digits_model, eps=1.5)  # an L2 radius may exceed 1
    assert wide.eps == 1.5 and wide.alpha == pytest.approx(0.3)
    assert attacks.build("pgd20", digits_model).threat_model.norm == "Linf"


def test_an_attack_refuses_a_norm_it_does_not_serve(digits_model):
    from robnetzoo.threat import ThreatModel

    with pytest.raises(InvalidInput, match="'pgd20' is a Linf attack and cannot serve the L2 threat model"):
        attacks.build("pgd20", digits_model, threat_model=ThreatModel("L2", 0.5))
    with pytest.raises(InvalidInput, match="'pgdl2' is a L2 attack and cannot serve the Linf"):
        attacks.build("pgdl2", digits_model, norm="Linf")
    assert attacks.norms_of("autoattack") == ("Linf", "L2")


def test_autoattack_accepts_l2_and_fails_only_for_the_missing_extra(digits_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    with pytest.raises(MissingDependency, match=r"robnetzoo\[autoattack\]"):  # not a Linf complaint
        attacks.build("autoattack", digits_model, norm="L2", eps=1.5)


# ---------------------------------------------------------------- complete params


@pytest.mark.parametrize("name", ["fgsm", "pgd", "pgd7", "pgdl2", "mifgsm", "cw", "deepfool"])
def test_params_name_every_setting_and_rebuild_the_attack(digits_model, name):
    attack = attacks.build(name, digits_model, seed=7)
    params = attack.params()
    cls = attacks.attack_class(name)
    assert set(params) == set(cls.keywords()) - {"validate", "verbose"}
    rebuilt = cls(digits_model, **params)
    assert rebuilt.params() == params


def test_cw_params_include_kappa(digits_model):
    assert attacks.build("cw", digits_model, kappa=5.0).params()["kappa"] == 5.0


# ---------------------------------------------------------------- usable in training


def _bn_stats(model):
    return [b.clone() for name, b in model.named_buffers() if "running_mean" in name]


def test_train_mode_attacks_with_batch_statistics_and_restores_the_mode(digits_model, digits_batch):
    import copy

    model = copy.deepcopy(digits_model).eval()
    x, y = digits_batch
    before = _bn_stats(model)
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(m.training))
    attacks.build("pgd", model, steps=2, mode="train")(x[:8], y[:8])
    assert seen and all(seen) and not model.training  # ran in train mode, restored to eval
    assert any(not torch.equal(a, b) for a, b in zip(before, _bn_stats(model)))  # as the authors' training


def test_keep_mode_leaves_the_mode_alone(digits_model, digits_batch):
    import copy

    model = copy.deepcopy(digits_model).train()
    x, y = digits_batch
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(m.training))
    attacks.build("fgsm", model, mode="keep")(x[:8], y[:8])
    assert seen == [True] and model.training  # one step in train mode; __call__ skips the judging pass


def test_validate_false_skips_the_input_checks(digits_model):
    images = torch.rand(2, 3, 32, 32) * 2  # outside [0, 1]: refused when validating
    labels = torch.zeros(2, dtype=torch.long)
    with pytest.raises(InvalidInput):
        attacks.build("fgsm", digits_model)(images, labels)
    assert attacks.build("fgsm", digits_model, validate=False)(images, labels).shape == images.shape


def test_per_example_seeds_make_random_starts_independent_of_the_batch(digits_model, digits_batch):
    x, y = digits_batch
    attack = attacks.build("pgd", digits_model, steps=1, eps=4 / 255)
    whole = attack.run(x[:6], y[:6], early_stop=False, example_seeds=range(6)).adversarial
    part = attack.run(x[3:6], y[3:6], early_stop=False, example_seeds=range(3, 6)).adversarial
    assert torch.allclose(whole[3:], part, atol=1e-6)


def test_successive_calls_draw_fresh_noise_and_the_sequence_repeats(digits_model, digits_batch):
    x, y = digits_batch
    first = attacks.build("pgd", digits_model, steps=1, seed=2)
    a1, a2 = first(x[:4], y[:4]), first(x[:4], y[:4])
    second = attacks.build("pgd", digits_model, steps=1, seed=2)
    b1, b2 = second(x[:4], y[:4]), second(x[:4], y[:4])
    assert not torch.equal(a1, a2)  # a training loop gets a new random start every batch
    assert torch.equal(a1, b1) and torch.equal(a2, b2)


def test_a_model_that_ignores_its_input_is_attacked_without_crashing():
    """A searched architecture can be degenerate (every edge into the output is zero): its
    logits do not depend on the image. The attack has no gradient to follow and must say the
    images stay put, not raise."""

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.tensor([1.0, 0.0, 0.0]))

        def forward(self, x):
            return self.bias.expand(len(x), 3) + 0 * x.flatten(1)[:, :1].detach()

    images, labels = torch.rand(4, 3, 8, 8), torch.zeros(4, dtype=torch.long)
    adversarial = attacks.build("pgd7", Constant(), random_start=False)(images, labels)
    assert torch.equal(adversarial, images)


def test_square_is_seeded_stays_in_the_ball_and_breaks_examples_with_logits_only(digits_model, digits_batch):
    """Square reads logits only: wrapped so no gradient can reach the model, it still works."""
    from robnetzoo.evaluation.targets import TargetModule, TorchTarget

    images, labels = (t[:24] for t in digits_batch)
    runtime_like = TargetModule(TorchTarget(digits_model, torch.device("cpu")))  # forward under inference_mode
    attack = attacks.build("square", runtime_like, eps=8 / 255, queries=200, seed=1)
    result = attack.run(images, labels)
    again = attacks.build("square", runtime_like, eps=8 / 255, queries=200, seed=1).run(images, labels)
    assert torch.equal(result.adversarial, again.adversarial)
    assert (result.adversarial - images).abs().max() <= 8 / 255 + 1e-6
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    with torch.no_grad():
        clean_wrong = digits_model(images).argmax(1) != labels
        fooled = digits_model(result.adversarial).argmax(1) != labels
    assert torch.equal(fooled, result.broken)
    assert fooled.sum() > clean_wrong.sum()  # it breaks examples the model got right
    fewer = attacks.build("square", runtime_like, eps=8 / 255, queries=2, seed=1).run(images, labels)
    assert fewer.broken.sum() <= result.broken.sum()  # more queries, at least as strong


@pytest.mark.slow
def test_square_is_at_least_as_strong_as_the_reference(digits_model, digits_batch):
    """Against pyautoattack's SquareAttack (the reference code) on the same model, examples
    and query budget: we must break at least as many (one example of slack for the seeds)."""
    pytest.importorskip("pyautoattack")
    try:
        from pyautoattack.square import SquareAttack
    except ImportError:
        from pyautoattack.attacks.square import SquareAttack  # type: ignore[no-redef]
    x, y = digits_batch
    ours = attacks.build("square", digits_model, eps=EPS, queries=500, seed=0).run(x, y)
    digits_model.eval()
    reference = SquareAttack(
        digits_model, p_init=0.8, n_queries=500, eps=EPS, norm="Linf", n_restarts=1, seed=0, loss="margin", device="cpu"
    )
    adversarial = reference.perturb(x, y)
    with torch.no_grad():
        theirs = digits_model(adversarial).argmax(1) != y
    assert int(ours.broken.sum()) >= int(theirs.sum()) - 1, (int(ours.broken.sum()), int(theirs.sum()))


def test_nfgsm_steps_eps_from_noise_of_twice_eps_and_is_never_projected(digits_model, digits_batch):
    """de Jorge et al.'s algorithm written out: x + U(-2 eps, 2 eps), clipped to the image, then
    one signed-gradient step of eps, clipped to the image only."""
    x, y = digits_batch
    eps = 8 / 255
    ours = attacks.build("nfgsm", digits_model, eps=eps, seed=3)(x, y)
    uniform = torch.rand(x.shape, generator=torch.Generator().manual_seed(3))
    start = torch.clamp(x + (uniform * 2 - 1) * 2 * eps, 0, 1).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(digits_model(start), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, start)
    expected = torch.clamp(start.detach() + eps * grad.sign(), 0, 1)
    assert torch.allclose(ours, expected, atol=1e-6)
    distance = (ours - x).abs().amax()
    assert eps * 1.5 < distance <= 3 * eps + 1e-6  # outside the ball, as the method intends
    no_noise = attacks.build("nfgsm", digits_model, eps=eps, noise=0.0)(x, y)
    assert torch.allclose(no_noise, attacks.build("fgsm", digits_model, eps=eps)(x, y), atol=1e-6)


def test_an_unbounded_attack_measures_nothing(digits_model):
    from robnetzoo import evaluate
    from robnetzoo.data import load_dataset

    assert not attacks.attack_class("nfgsm").bounded and attacks.attack_class("pgd20").bounded
    with pytest.raises(InvalidInput, match="'nfgsm' trains models"):
        evaluate(digits_model, load_dataset("digits"), attacks=["pgd20", "nfgsm"], n_examples=8)
    with pytest.raises(InvalidInput, match="N-FGSM needs noise >= 0"):
        attacks.build("nfgsm", digits_model, noise=-1)
