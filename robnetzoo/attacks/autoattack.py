"""AutoAttack, the standard (APGD-CE, APGD-T, FAB-T, Square), from its reference code.

We call the reference implementation published on PyPI as ``pyautoattack`` (extra
``robnetzoo[autoattack]``) rather than a reimplementation: a weaker copy would report
higher robustness than RobustBench and make our numbers incomparable.
"""

from __future__ import annotations

import contextlib
import io
import warnings

from ..errors import MissingDependency
from .base import Attack


def _import_autoattack():
    try:
        from pyautoattack import AutoAttack as Reference
    except ImportError:
        raise MissingDependency(
            "the autoattack attack needs the reference implementation: pip install 'robnetzoo[autoattack]'"
        ) from None
    return Reference


class AutoAttack(Attack):
    """Standard AutoAttack under the threat model's norm (L-inf or L2)."""

    name = "autoattack"
    norms = ("Linf", "L2")

    def __init__(self, model, *, version="standard", verbose=False, **kwargs):
        super().__init__(model, **kwargs)
        self.reference = _import_autoattack()  # fail at build time, not mid-evaluation
        self.version, self.verbose = version, verbose
        self.flags: list[str] = []  # the reference code's own warnings (its sanity checks), kept for the report

    def _perturb(self, images, labels, early_stop, noise, judge=True):
        attack = self.reference(
            self.counted_model(),
            eps=self.eps,
            norm=self.norm,
            version=self.version,
            device=images.device,
            seed=self.seed,
        )
        images = images.contiguous()  # the reference code uses .view(), which channels_last breaks
        quiet = contextlib.nullcontext() if self.verbose else contextlib.redirect_stdout(io.StringIO())
        with quiet, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            adversarial = attack.run_standard_evaluation(images, labels, batch_size=len(images))
        for warning in caught:  # e.g. "the model is randomized", "Square found ... APGD did not"
            message = str(warning.message).strip().splitlines()[0]
            if message not in self.flags:
                self.flags.append(message)
        if isinstance(adversarial, tuple):  # pyautoattack >= 0.2 returns (x_adv, y_adv)
            adversarial = adversarial[0]
        adversarial = self.project(adversarial.to(images.device, images.dtype), images)
        return adversarial, self.is_fooled(adversarial, labels)
