"""Square attack (Andriushchenko et al., ECCV 2020), L-inf: score-based, so it needs only
logits and runs directly against a deployment runtime (an ONNX Runtime session, an
AOTInductor package) as well as against a torch model.

Random search on the margin loss ``logit_y - max_{j != y} logit_j``: start from vertical
stripes of +-eps, then each query redraws the perturbation inside one random s x s window
(one sign per channel) and keeps it where the margin drops. The window's area shrinks on the
reference schedule (``p_init`` halved at fixed fractions of the query budget). Batched: every
query is one forward pass for all examples still standing (``early_stop``) or all of them.
Seeded through the suite's ``Noise`` (one stream, or one per example under the evaluator), so
the same seed gives the same examples.
"""

from __future__ import annotations

import math

import torch

from ..errors import InvalidInput
from .base import Attack, Passes

# The reference's schedule: (fraction of the budget, divisor of p_init) after each breakpoint.
_SCHEDULE = (
    (10, 1),
    (50, 2),
    (200, 4),
    (500, 8),
    (1000, 16),
    (2000, 32),
    (4000, 64),
    (6000, 128),
    (8000, 256),
    (10000, 512),
)


def window_fraction(p_init: float, query: int, queries: int) -> float:
    """The fraction of the image a window covers at ``query`` of ``queries`` (the reference's
    ``p_selection``, budget rescaled to 10,000)."""
    it = int(query / queries * 10000)
    divisor = 1
    for bound, div in _SCHEDULE:
        if it <= bound:
            divisor = div
            break
    else:
        divisor = 1  # the reference returns p_init past the end of its schedule
    return p_init / divisor


class Square(Attack):
    name = "square"
    norms = ("Linf",)
    needs_gradients = False

    def __init__(self, model, *, queries: int = 1000, p_init: float = 0.8, **kwargs):
        super().__init__(model, **kwargs)
        if queries < 1 or not 0 < p_init <= 1:
            raise InvalidInput(f"Square needs queries >= 1 and p_init in (0, 1], got {queries} and {p_init}")
        self.queries, self.p_init = int(queries), float(p_init)

    def planned_passes(self):
        return Passes(self.queries + 1, 0)  # the queries and the judging forward

    @torch.no_grad()
    def margin(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``logit_y - max_{j != y} logit_j``: negative when the example is misclassified."""
        logits = self.logits(x).float()
        true = logits.gather(1, labels[:, None]).squeeze(1)
        other = logits.scatter(1, labels[:, None], float("-inf")).max(1).values
        return true - other

    @torch.no_grad()
    def _perturb(self, images, labels, early_stop, noise, judge=True):
        n, c, h, w = images.shape
        eps = self.eps
        stripes = (noise.rand((n, c, 1, w), images.dtype) < 0.5).to(images.dtype) * 2 - 1
        best = torch.clamp(images + eps * stripes, 0, 1)
        margin = self.margin(best, labels)
        rows, cols = torch.arange(h, device=images.device), torch.arange(w, device=images.device)
        for query in range(1, self.queries):
            draws = noise.rand((n, 2 + c), images.dtype)  # window position, then one sign per channel
            active = (margin > 0).nonzero().squeeze(1) if early_stop else torch.arange(n, device=images.device)
            if len(active) == 0:
                break
            side = min(max(int(round(math.sqrt(window_fraction(self.p_init, query, self.queries) * h * w))), 1), h - 1)
            top = (draws[active, 0] * (h - side + 1)).floor().long().clamp(max=h - side)
            left = (draws[active, 1] * (w - side + 1)).floor().long().clamp(max=w - side)
            signs = (draws[active, 2:] < 0.5).to(images.dtype) * 2 - 1
            inside = ((rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + side))[:, :, None] & (
                (cols[None, :] >= left[:, None]) & (cols[None, :] < left[:, None] + side)
            )[:, None, :]
            inside = inside[:, None]  # (b, 1, h, w)
            current = best[active]
            proposal = torch.clamp(torch.where(inside, images[active] + eps * signs[:, :, None, None], current), 0, 1)
            unchanged = (proposal - current).abs().flatten(1).amax(1) < 1e-7
            if unchanged.any():  # the window already holds these signs: flip them, as the reference redraws
                flipped = torch.clamp(
                    torch.where(inside, images[active] - eps * signs[:, :, None, None], current), 0, 1
                )
                proposal = torch.where(unchanged[:, None, None, None], flipped, proposal)
            candidate = self.margin(proposal, labels[active])
            better = candidate < margin[active]
            best[active[better]] = proposal[better]
            margin[active[better]] = candidate[better]
        broken = margin < 0
        if judge:
            broken = self.is_fooled(best, labels)
        return best, broken
