"""``EvalReport``: what an evaluation found, with the settings and threat model that produced it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..stats import wilson_interval
from ..threat import ThreatModel


@dataclass
class EvalReport:
    """What ``evaluate`` found. Accuracies are percentages of ``n_examples``.

    ``counts`` holds ``clean``, ``robust`` (per attack), ``worst_case`` and ``attacked`` (per
    attack: how many examples that attack actually ran on; clean-misclassified ones are never
    attacked, and with cascade neither are those an earlier attack broke).

    ``cost`` is what the verdict cost: ``device``, ``world_size``, ``phases`` (``clean`` and each
    attack: ``forward`` and ``backward`` image-passes through the model and ``seconds``) and
    their ``total``. Passes are counted where the model is called (``robnetzoo.attacks.Passes``),
    so they compare across machines where seconds do not.
    """

    model: str
    dataset: str
    n_examples: int
    threat_model: dict[str, Any]
    attacks: list[str]
    clean_accuracy: float
    robust_accuracy: dict[str, float]
    worst_case_accuracy: float
    counts: dict[str, Any]
    timings: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # robnetzoo.evaluation.checks, each a Check's dict
    cost: dict[str, Any] = field(default_factory=dict)

    def failed_checks(self) -> list[dict[str, Any]]:
        return [check for check in self.checks if check.get("passed") is False]

    @property
    def eps(self) -> float:
        return float(self.threat_model["eps"])

    @property
    def norm(self) -> str:
        return str(self.threat_model["norm"])

    def threat(self) -> ThreatModel:
        return ThreatModel.from_dict(self.threat_model)

    def interval(self, metric: str) -> tuple[float, float]:
        """95% Wilson interval for ``"clean"``, ``"worst_case"`` or an attack name."""
        correct = {"clean": self.counts["clean"], "worst_case": self.counts["worst_case"]}.get(
            metric, self.counts["robust"].get(metric)
        )
        if correct is None:
            raise KeyError(metric)
        return wilson_interval(correct, self.n_examples)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["eps"] = self.eps
        names = ["clean", *self.attacks, "worst_case"]
        data["intervals_95"] = {name: list(self.interval(name)) for name in names}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalReport":
        """Read back ``to_dict()`` (``eval.json``); the derived keys it adds are recomputed."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def eval_results(self, split: str = "test") -> list[dict[str, Any]]:
        """The rows a model card's ``model-index`` takes (``hub.save_pretrained(eval_results=)``)."""
        rows = [
            {
                "metric": "clean",
                "accuracy": self.clean_accuracy,
                "n_examples": self.n_examples,
                "split": split,
                **self._cost_of("clean"),
            }
        ]
        rows += [
            {
                "metric": name,
                "accuracy": self.robust_accuracy[name],
                "n_examples": self.n_examples,
                "split": split,
                **self.threat_model,
                **self._cost_of(name),
            }
            for name in self.attacks
        ]
        return rows

    def _cost_of(self, phase: str) -> dict[str, Any]:
        """A phase's cost as an eval-results row carries it (nothing for a report without costs)."""
        spent = self.cost.get("phases", {}).get(phase)
        if spent is None:
            return {}
        return {
            "forward_passes": spent["forward"],
            "backward_passes": spent["backward"],
            "seconds": round(float(spent["seconds"]), 3),
            "device": self.cost.get("device"),
        }
