"""``robnetzoo.streamline``: the attack copy's graph rewrites keep the model's function."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import robnetzoo
from robnetzoo.fast import fold_batchnorm, prepare_for_attack
from robnetzoo.ops import FactorizedReduce
from robnetzoo.streamline import streamline


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), x)
    return logits.detach(), grad


def test_a_streamlined_robnet_has_the_same_logits_and_input_gradients():
    torch.manual_seed(0)
    model = robnetzoo.create_model("robnet-large", C=4, layers=3, num_classes=10).eval()
    plain = prepare_for_attack(model, torch.device("cpu"), streamline=False).module
    random_state = torch.random.get_rng_state()
    prepared = prepare_for_attack(model, torch.device("cpu"))
    assert torch.equal(torch.random.get_rng_state(), random_state)  # the caller's random stream is left alone
    assert prepared.relus_shared and prepared.sums_in_place  # every edge's ReLU, every node's sum
    reductions = sum(isinstance(module, FactorizedReduce) for module in model.modules())
    assert reductions and prepared.reductions_paired == reductions  # every one
    assert prepared.concats_rectified_by_part == 2  # every cell's output but the last (pooled unrectified)
    assert prepared.summary()["streamlined"] == (
        f"{prepared.relus_shared} ReLUs shared, {prepared.sums_in_place} sums in place, "
        f"{reductions} reductions paired, 2 concats rectified by part"
    )
    assert robnetzoo.config.config_of(prepared.module) is not None  # still a zoo model to the evaluator
    x = torch.rand(6, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (6,))
    logits, grad = _input_gradient(prepared.module, x, y)
    expected_logits, expected_grad = _input_gradient(plain, x, y)
    # the same sums: equal to float rounding (bitwise with some kernels; an AVX2 CPU's one-thread
    # grouped convolution adds in another order, 1.5e-8 apart)
    assert torch.allclose(logits, expected_logits, rtol=0, atol=1e-6)
    assert torch.equal(logits.argmax(1), expected_logits.argmax(1))
    assert torch.allclose(grad, expected_grad, rtol=1e-4, atol=1e-7)  # the edges' gradients summed in another order
    assert torch.equal(torch.sign(grad), torch.sign(expected_grad))


class _WritesBetweenReLUs(nn.Module):
    """Two ReLUs of one tensor with an in-place write between them: they are not copies."""

    def __init__(self, through_view: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.through_view = through_view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        first = torch.relu(y)
        if self.through_view:
            y.view(-1).mul_(-1)
        else:
            y.mul_(-1)
        return (first + torch.relu(y)).mean((2, 3))


def test_relus_are_not_shared_where_their_input_is_written_between_them():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    for through_view in (False, True):
        model = _WritesBetweenReLUs(through_view).eval()
        done = streamline(model)
        assert done.note is None and done.relus_shared == 0
        with torch.no_grad():
            assert torch.equal(done.module(x), model(x))


class _SumsOfEveryKind(nn.Module):
    """A convolution's output summed in place where nothing else reads it; read twice, or
    broadcast by the sum (a 1x1 map plus a full one), it must stay as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)
        self.pooled = nn.Conv2d(3, 4, 8)  # an 8x8 input becomes a 1x1 map

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        private = self.a(x) + self.b(x)  # in place
        shared = self.c(x)
        read_twice = shared + private  # ``shared`` is returned too: not in place
        broadcast = self.pooled(x) + read_twice  # (2, 4, 1, 1) + (2, 4, 8, 8): out of place at run time
        return read_twice, shared, broadcast


def test_sums_go_in_place_only_into_a_fresh_tensor_of_the_result_shape():
    torch.manual_seed(0)
    model = _SumsOfEveryKind().eval()
    done = streamline(model)
    assert done.sums_in_place == 2  # ``a + b`` and the broadcasting one (checked again at run time)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    got, expected = done.module(x), model(x)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and torch.equal(g, e)
    (grad,) = torch.autograd.grad(sum(t.sum() for t in got), x)
    (expected_grad,) = torch.autograd.grad(sum(t.sum() for t in expected), x)
    assert torch.allclose(grad, expected_grad, atol=1e-6)


class _DecidesOnData(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) if x.sum() > 0 else -x.flatten(1)


def test_a_model_torch_fx_cannot_trace_is_attacked_as_it_is():
    model = _DecidesOnData()
    done = streamline(model)
    assert done.module is model and done.note is not None and "could not trace" in done.note
    prepared = prepare_for_attack(model, torch.device("cpu"), fold=False)
    assert prepared.summary()["streamlined"] is None and prepared.relus_shared is None


class _ShiftedTheOtherWay(nn.Module):
    """A FactorizedReduce look-alike whose second branch is padded at the top left: not the
    pattern the pairing knows, so it must be left alone."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_1, self.conv_2 = nn.Conv2d(4, 3, 1, stride=2), nn.Conv2d(4, 3, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(x)
        return torch.cat([self.conv_1(x), self.conv_2(F.pad(x[:, :, 1:, 1:], (1, 0, 1, 0)))], dim=1)


def test_a_factorized_reduction_becomes_one_grouped_convolution_for_every_size_and_layout():
    torch.manual_seed(0)
    reduce = FactorizedReduce(5, 6)
    reduce.bn.running_mean.uniform_(-1, 1)
    reduce.bn.running_var.uniform_(0.5, 2)
    folded, note = fold_batchnorm(reduce)
    assert note is None
    done = streamline(folded)
    assert done.reductions_paired == 1
    assert not any(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in done.module.modules())
    for height, width in ((8, 8), (7, 9), (9, 6), (1, 1)):  # odd sizes read the shifted branch's zero pad
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(3, 5, height, width).contiguous(memory_format=layout).requires_grad_(True)
            upstream = torch.randn(3, 6, (height + 1) // 2, (width + 1) // 2)
            got, expected = done.module(x), folded(x)
            assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-6)
            assert got.is_contiguous(memory_format=layout)
            (grad,) = torch.autograd.grad((got * upstream).sum(), x)
            (expected_grad,) = torch.autograd.grad((expected * upstream).sum(), x)
            assert grad.is_contiguous(memory_format=layout)
            assert torch.allclose(grad, expected_grad, atol=1e-6)

    other = _ShiftedTheOtherWay()
    left = streamline(other)
    assert left.reductions_paired == 0
    x = torch.randn(2, 4, 7, 7)
    with torch.no_grad():
        assert torch.equal(left.module(x), other(x))


class _ConcatThenReLU(nn.Module):
    """A concat whose ReLU may move onto its parts (``moved``; ``late``: a part's own ReLU
    comes only after the concat), one also read unrectified (``kept``), and one whose part is
    written into after its first ReLU (``written``)."""

    def __init__(self, case: str) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)
        self.case = case

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a, b = self.a(x), self.b(x)
        early = torch.relu(a) if self.case != "late" else None  # the part's own ReLU, reused
        if self.case == "written":
            a.mul_(-1)
        joined = torch.cat([a, b], dim=1)
        rectified = torch.relu(joined)
        out = (torch.relu(a) if early is None else early * 2, rectified)
        return out + (joined,) if self.case == "kept" else out


def test_a_concat_is_rectified_by_its_parts_only_where_nothing_else_reads_it():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    for case, expected_moves in (("moved", 1), ("late", 1), ("kept", 0), ("written", 0)):
        model = _ConcatThenReLU(case).eval()
        done = streamline(model)
        assert done.concats_rectified_by_part == expected_moves, case
        got, expected = done.module(x), model(x)
        for g, e in zip(got, expected):
            assert torch.equal(g, e), case
        (grad,) = torch.autograd.grad(sum(t.sum() for t in got), x)
        (expected_grad,) = torch.autograd.grad(sum(t.sum() for t in expected), x)
        assert torch.allclose(grad, expected_grad, atol=1e-6), case


class _ConcatOfSequences(nn.Module):
    """3-D parts concatenated along their first dimension (``dim=-3``); in ``written`` the
    first part's own ReLU is scaled in place before the concat's ReLU is taken."""

    def __init__(self, written: bool) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
        self.written = written

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.a(x), self.b(x)
        early = torch.relu(a)
        if self.written:
            early.mul_(2)
        return early, torch.relu(torch.cat([a, b], dim=-3))


def test_a_concat_keeps_its_dimension_and_a_relu_written_into_is_not_reused():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    for written in (False, True):
        model = _ConcatOfSequences(written).eval()
        done = streamline(model)
        assert done.concats_rectified_by_part == 1
        with torch.no_grad():
            for got, expected in zip(done.module(x), model(x)):
                assert got.shape == expected.shape and torch.equal(got, expected)  # (2, 3, 4); the concat (4, 3, 4)
