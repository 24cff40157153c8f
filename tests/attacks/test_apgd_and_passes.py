"""APGD against the reference code, the cascade's stages, and the passes every attack counts
(compared with what hooks on the model itself saw)."""

import pytest
import torch
from torch import nn

from robnetzoo import attacks
from robnetzoo.attacks.base import Noise
from robnetzoo.errors import InvalidInput


def _toy(dtype=torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)).to(dtype).eval()


class HookCount:
    """Image-passes as the model itself sees them: forward hooks and full backward hooks, a
    mechanism independent of the attacks' own counting."""

    def __init__(self, model: nn.Module) -> None:
        self.forward = self.backward = 0
        model.register_forward_hook(self._forward)
        model.register_full_backward_hook(self._backward)

    def _forward(self, module, inputs, output):
        self.forward += len(inputs[0])

    def _backward(self, module, grad_input, grad_output):
        self.backward += len(grad_output[0])


COUNTED = [
    "fgsm",
    "pgd7",
    "pgdl2",
    "mifgsm",
    "cw",
    "trades",
    "deepfool",
    "square50",
    "apgd-ce",
    "apgd-dlr",
    "apgd-t",
    "apgd-cascade",
]


@pytest.mark.parametrize("name", COUNTED)
def test_every_attack_counts_exactly_the_passes_the_model_saw(name):
    model = _toy()
    seen = HookCount(model)
    x = torch.rand(12, 1, 8, 8)
    y = model(x).argmax(1)
    seen.forward = 0
    attack = (
        attacks.build(name, model, eps=0.5 if name == "pgdl2" else 0.05, steps=5)
        if name.startswith("apgd")
        else attacks.build(name, model, eps=0.5 if name == "pgdl2" else 0.05)
    )
    attack.run(x, y, example_seeds=range(12))
    assert (attack.passes.forward, attack.passes.backward) == (seen.forward, seen.backward)
    assert attack.passes.forward > 0
    planned = attack.planned_passes()
    assert attack.passes.forward <= planned.forward * len(x) and attack.passes.backward <= planned.backward * len(x)


def test_the_reference_autoattack_is_counted_through_the_model_it_calls():
    pytest.importorskip("pyautoattack")
    model = _toy()
    seen = HookCount(model)
    x = torch.rand(6, 1, 8, 8)
    y = model(x).argmax(1)
    seen.forward = 0
    attack = attacks.build("autoattack", model, eps=0.5)  # large: APGD-CE breaks all, the rest is skipped
    attack.run(x, y)
    assert (attack.passes.forward, attack.passes.backward) == (seen.forward, seen.backward)
    assert attack.passes.backward > 0


def test_planned_passes_follow_the_published_budgets():
    assert attacks.planned_passes("pgd20").to_dict() == {"forward": 21, "backward": 20}
    assert attacks.planned_passes("apgd-ce").to_dict() == {"forward": 101, "backward": 101}  # 100 steps, 101 gradients
    assert attacks.planned_passes("apgd-t").to_dict() == {"forward": 1 + 9 * 101, "backward": 9 * 101}
    assert attacks.planned_passes("square").forward == 1001
    assert attacks.planned_passes("autoattack") is None  # depends on the model


@pytest.mark.parametrize("loss, norm, eps", [("ce", "Linf", 0.05), ("dlr", "Linf", 0.05), ("ce", "L2", 0.5)])
def test_apgd_follows_the_reference_schedule_step_for_step(loss, norm, eps):
    """From the same starting point, our APGD finds the reference's best losses and points:
    step sizes, momentum and the checkpoints' halving and restarts all agree."""
    reference_module = pytest.importorskip("pyautoattack.autopgd_base")
    model = _toy(torch.float64)
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64)
    y = model(x).argmax(1)
    torch.manual_seed(1)
    start = torch.clamp(x + 0.5 * eps * (torch.rand_like(x) * 2 - 1), 0, 1)
    reference = reference_module.APGDAttack(model, n_iter=30, norm=norm, eps=eps, loss=loss, seed=0, device="cpu")
    reference.init_hyperparam(x)
    best, standing, best_loss, _ = reference.attack_single_run(x.clone(), y.clone(), x_init=start.clone())

    ours = attacks.build("apgd-ce", model, eps=eps, norm=norm, steps=30, loss=loss)
    ours.start = lambda images, noise: start.clone()
    _, broken, state = ours.iterate(x.clone(), y.clone(), False, Noise(torch.device("cpu")))
    assert torch.allclose(state["best_loss"], best_loss, atol=1e-9)
    # the DLR loss's gradient has components near zero whose sign rounding can flip: points agree to 1e-3
    assert torch.allclose(state["best_point"], best, atol=1e-6 if loss == "ce" else 1e-3)
    assert torch.equal(broken, ~standing)
    assert bool((state["step_size"] < 2 * eps).any())  # the checkpoints did halve some steps


def test_apgd_t_attacks_the_classes_in_order_of_likelihood():
    model = _toy()
    x = torch.rand(8, 1, 8, 8)
    y = model(x).argmax(1)
    attack = attacks.build("apgd-t", model, eps=0.0, targets=2, steps=3)  # eps 0: nothing breaks, every target runs
    seen: list[torch.Tensor] = []
    iterate = attack.iterate

    def spy(images, labels, early_stop, noise, judge=True, context=None):
        seen.append(context["target"])
        return iterate(images, labels, early_stop, noise, judge, context)

    attack.iterate = spy
    attack.run(x, y, example_seeds=range(8))
    order = model(x).sort(1, descending=True).indices
    assert [t.tolist() for t in seen] == [order[:, 1].tolist(), order[:, 2].tolist()]


def test_the_cascade_runs_square_only_where_no_gradient_was_usable():
    """A model that rounds its input to 16 grey levels has a zero input gradient everywhere:
    the APGD stages stand still, and Square takes over on exactly those points."""

    class Rounded(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(torch.round(x * 16) / 16)

    model = Rounded(_toy()).eval()
    x = torch.rand(10, 1, 8, 8)
    y = model(x).argmax(1)
    cascade = attacks.build("apgd-cascade", model, eps=0.1, steps=5, targets=1, square_queries=200)
    result = cascade.run(x, y, example_seeds=range(10))
    assert cascade.stages["apgd-ce"].backward > 0 and cascade.stages["square"].forward > 0
    assert int(result.broken.sum()) > 0  # Square found what the gradient stages could not

    smooth = _toy()
    y = smooth(x).argmax(1)
    cascade = attacks.build("apgd-cascade", smooth, eps=0.1, steps=5, targets=1, square_queries=200)
    cascade.run(x, y, example_seeds=range(10))
    assert cascade.stages["square"].forward == 0  # informative gradients everywhere: no Square


def test_bad_apgd_requests_are_refused_with_the_fix():
    model = _toy()
    with pytest.raises(InvalidInput, match="loss"):
        attacks.build("apgd-ce", model, loss="hinge")
    with pytest.raises(InvalidInput, match="apgd-ce"):
        attacks.build("apgd-t", model, loss="ce")
    binary = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).eval()
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(InvalidInput, match="at least 4 classes"):
        attacks.build("apgd-t", binary, eps=0.1, steps=2).run(x, torch.zeros(4, dtype=torch.long))


def test_the_cascade_skips_the_targeted_stage_where_its_loss_is_undefined():
    torch.manual_seed(0)
    binary = nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).eval()
    x = torch.rand(6, 1, 8, 8)
    cascade = attacks.build("apgd-cascade", binary, eps=0.001, steps=3, targets=3)
    cascade.run(x, binary(x).argmax(1), example_seeds=range(6))
    assert cascade.stages["apgd-ce"].backward > 0 and cascade.stages["apgd-t"].backward == 0


@pytest.mark.parametrize(
    "keywords, message",
    [
        ({"steps": 0}, "steps >= 1"),
        ({"targets": -1}, "targets >= 0"),
        ({"square_queries": -5}, "square_queries >= 0"),
        ({"norm": "L1"}, "unknown norm 'L1'"),
    ],
)
def test_a_cascade_with_no_budget_or_an_unserved_norm_is_refused_in_one_line(keywords, message):
    with pytest.raises(InvalidInput, match=message):
        attacks.build("apgd-cascade", _toy(), **keywords)


class _Rounded(nn.Module):
    """Rounds its input to ``levels`` grey levels: a zero input gradient almost everywhere."""

    def __init__(self, inner: nn.Module, levels: int = 16) -> None:
        super().__init__()
        self.inner, self.levels = inner, levels

    def forward(self, x):
        return self.inner(torch.round(x * self.levels) / self.levels)


class _HalfRounded(nn.Module):
    """Rounds the first half of the batch's pixels only: some examples move, some cannot."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        masked = x[:, :, :4] * 16
        return self.inner(torch.cat([masked + (torch.round(masked) - masked).detach(), x[:, :, 4:] * 16], 2) / 16)


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-t"])
@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_apgd_drops_a_point_it_can_never_move_without_changing_any_result(name, norm):
    """Under early stopping APGD leaves an example at a fixed point (zero gradient, no momentum,
    its best point) after two passes rather than 101; the adversarial images, what is broken
    and which examples were stuck equal those of the run that attacks every example to the end."""
    eps = 0.1 if norm == "Linf" else 1.0
    for model in (_Rounded(_toy()).eval(), _HalfRounded(_toy()).eval()):
        x = torch.rand(16, 1, 8, 8)
        y = model(x).argmax(1)
        runs = {}
        for early_stop in (True, False):
            extra = {"targets": 2} if name == "apgd-t" else {}
            attack = attacks.build(name, model, eps=eps, norm=norm, steps=20, seed=3, **extra)
            result = attack.run(x, y, early_stop=early_stop, example_seeds=range(16))
            runs[early_stop] = (result, attack.passes.copy(), attack.stuck.clone())
        (fast, fast_passes, fast_stuck), (full, full_passes, full_stuck) = runs[True], runs[False]
        assert torch.equal(fast.broken, full.broken)
        assert torch.equal(fast_stuck, full_stuck)
        standing = ~full.broken
        assert torch.equal(fast.adversarial[standing], full.adversarial[standing])
        if isinstance(model, _Rounded):  # nothing can move: every example rests after its first step
            assert int(full_stuck.sum()) == int(standing.sum()) > 0
            assert fast_passes.backward <= full_passes.backward // 5
