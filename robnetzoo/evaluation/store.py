"""Per-example results, written after every batch, so a killed run loses at most one batch.

Each example has one character per phase: ``-`` not done yet; for the clean pass ``1``
correct / ``0`` wrong; for an attack ``1`` attacked and survived, ``0`` attacked and broken,
``x`` not attacked (already misclassified, or, with cascade, broken by an earlier attack).
Results are keyed by example index, not by batch, so a run resumes with any batch size (a
smaller batch is what a user retries with after running out of memory), and shards of the
examples computed by different processes merge into one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from .._io import read_json, write_json
from ..errors import CorruptFile, InvalidInput, option

RESULTS_VERSION = 2
PENDING, CORRECT, WRONG, SKIPPED = "-", "1", "0", "x"


class ResultsStore:
    """The per-example state of one evaluation; ``path=None`` keeps it in memory only."""

    def __init__(
        self, path: Path | None, header: dict[str, Any], resume: bool, read_from: Path | None = None
    ) -> None:
        """``path`` is written (None: memory only); ``read_from`` (default ``path``) is read on
        resume: ranks other than 0 read the file rank 0 writes."""
        self.path, self.header = path, header
        source = path if read_from is None else read_from
        n = header["n_examples"]
        self.phases: dict[str, list[str]] = {name: [PENDING] * n for name in ["clean", *header["attacks"]]}
        self.seconds: dict[str, float] = {name: 0.0 for name in self.phases}
        if resume and source is not None and source.is_file():
            self._load(source)

    def _load(self, source: Path) -> None:
        fix = f"give {option('output')} a new file name"
        data = read_json(source, "robnetzoo results file", fix=fix, expect=dict)
        if data.get("version") != RESULTS_VERSION or not isinstance(data.get("header"), dict):
            raise CorruptFile(source, "robnetzoo results file", f"not version {RESULTS_VERSION}", fix=fix)
        saved = data["header"]
        if saved != self.header:
            changed = sorted(k for k in set(saved) | set(self.header) if saved.get(k) != self.header.get(k))
            raise InvalidInput(
                f"cannot resume: {source} was made with different {', '.join(changed)}",
                fix=f"rerun with the same settings, or give {option('output')} a new file name", path=source,
            )
        try:
            for name, marks in data.get("results", {}).items():
                if name in self.phases and len(marks) == len(self.phases[name]):
                    if set(marks) - {PENDING, CORRECT, WRONG, SKIPPED}:
                        raise ValueError(f"unknown marks in {name}")
                    self.phases[name] = list(marks)
            self.seconds.update({k: float(v) for k, v in data.get("seconds", {}).items()})
        except (AttributeError, TypeError, ValueError) as exc:
            raise CorruptFile(source, "robnetzoo results file", str(exc), fix=fix) from None

    def pending(self, phase: str, indices: Iterable[int]) -> list[int]:
        marks = self.phases[phase]
        return [i for i in indices if marks[i] == PENDING]

    def record(self, phase: str, index: int, mark: str) -> None:
        self.phases[phase][index] = mark

    def done(self, phase: str) -> int:
        return sum(m != PENDING for m in self.phases[phase])

    def count(self, phase: str, marks: str = CORRECT) -> int:
        return sum(m in marks for m in self.phases[phase])

    def bits(self, phase: str) -> list[bool]:
        """Correct (clean) or survived (attack), per example."""
        return [m == CORRECT for m in self.phases[phase]]

    def save(self, report: dict[str, Any] | None = None) -> None:
        if self.path is None:
            return
        data = {
            "version": RESULTS_VERSION,
            "header": self.header,
            "results": {name: "".join(marks) for name, marks in self.phases.items()},
            "seconds": self.seconds,
            "report": report,
        }
        write_json(self.path, data, indent=None)
