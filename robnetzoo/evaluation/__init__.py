"""The robustness evaluator, in stages: targets, the clean pass, the attack passes, the results
store and the report (``robnetzoo.evaluate`` is ``evaluator.evaluate``).

Any classifier can be judged: a torch model, or any *target* with ``logits``, ``num_classes``
and ``fingerprint`` (an exported runtime), with a torch ``source`` model crafting the
adversarial examples when the target has no gradients (``targets``).
"""

from .evaluator import evaluate
from .report import EvalReport
from .targets import Target, TargetModule, TorchTarget, as_target

__all__ = ["evaluate", "EvalReport", "Target", "TorchTarget", "TargetModule", "as_target"]
