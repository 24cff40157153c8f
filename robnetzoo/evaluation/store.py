"""Per-example results, appended after every batch, so a killed run loses at most one batch.

Each example has one character per phase: ``-`` not done yet; for the clean pass ``1``
correct / ``0`` wrong; for an attack ``1`` attacked and survived, ``0`` attacked and broken,
``x`` not attacked (already misclassified, or, with cascade, broken by an earlier attack).
Results are keyed by example index, not by batch, so a run resumes with any batch size (a
smaller batch is what a user retries with after running out of memory), and shards of the
examples computed by different processes merge into one file.

The file is JSON lines, append-only: a first line with the version and the header (what was
evaluated, how), then one line per batch with the marks it decided and the phases' seconds so
far, and last the report. Saving a batch appends one short line whatever the number of examples
done, where rewriting the whole file would cost time growing with it (quadratic over a 50,000
example ImageNet run: each save rewrites a file whose size grows with the number of
examples; ``benchmarks/results_store.py`` measures both). A kill mid-append tears at
most the last line, which reading drops (that batch is redone). ``read_results_file`` folds the
lines into one dict: ``version``, ``header``, ``results`` (per phase, the marks as one string),
``seconds``, ``passes`` (per phase, the forward and backward image-passes spent so far) and
``report`` (None until the evaluation finished). Version 2 files (one JSON
object, rewritten after every batch) are still read, and resumed into version 3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from .._io import append_jsonl, atomic_write_text, read_jsonl
from ..errors import CorruptFile, InvalidInput, option

RESULTS_VERSION = 3
READABLE_VERSIONS = (2, 3)
PENDING, CORRECT, WRONG, SKIPPED = "-", "1", "0", "x"
KIND = "robnetzoo results file"
# No evaluation has more examples than this (ImageNet's training split has 1.28M): a header
# that claims more is damaged or hostile, and is refused before per-example marks are allocated.
MAX_EXAMPLES = 2_000_000
MAX_ATTACKS = 64


def read_results_file(path: str | Path, *, fix: str | None = None) -> dict[str, Any]:
    """A results file folded into one dict (see the module docstring); a damaged one raises
    ``CorruptFile`` naming the problem and ``fix``."""
    path = Path(path)
    fix = fix or f"give {option('output')} a new file name"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no results file at {path}", fix="give the file robnetzoo eval --output wrote") from None
    except UnicodeDecodeError:
        raise CorruptFile(path, KIND, "not text", fix=fix) from None
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n" not in stripped.strip():  # version 2: one JSON object
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            raise CorruptFile(path, KIND, "not JSON", fix=fix) from None
        if not isinstance(data, dict) or data.get("version") != 2 or not isinstance(data.get("header"), dict):
            raise CorruptFile(path, KIND, f"not version {RESULTS_VERSION}", fix=fix)
        return {
            "version": 2,
            "header": data["header"],
            "results": dict(data.get("results", {})),
            "seconds": dict(data.get("seconds", {})),
            "passes": {},
            "report": data.get("report"),
        }
    records = read_jsonl(path, KIND, fix=fix)
    if (
        not records
        or records[0].get("version") not in READABLE_VERSIONS
        or not isinstance(records[0].get("header"), dict)
    ):
        raise CorruptFile(path, KIND, f"not version {RESULTS_VERSION} (no header line)", fix=fix)
    header = records[0]["header"]
    n = header.get("n_examples")
    if (
        isinstance(n, bool)
        or not isinstance(n, int)
        or not 1 <= n <= MAX_EXAMPLES
        or not isinstance(header.get("attacks"), list)
    ):
        raise CorruptFile(
            path,
            KIND,
            f"its header's n_examples {n!r} is not a count of examples (1 to {MAX_EXAMPLES:,}) or it lists no attacks",
            fix=fix,
        )
    attacks = header["attacks"]
    if (
        len(attacks) > MAX_ATTACKS
        or not all(isinstance(a, str) for a in attacks)
        or len(set(attacks)) != len(attacks)
        or "clean" in attacks
    ):
        raise CorruptFile(
            path, KIND, f"its header's attacks are not up to {MAX_ATTACKS} distinct attack names", fix=fix
        )
    # a byte per example and phase (at most 2M x 65 bytes): a list of one-character strings
    # took 8 bytes each, 2.3 GB for a 2 KB file claiming 2M examples x 100 attacks
    phases = {name: bytearray(PENDING.encode()) * n for name in ["clean", *attacks]}
    valid = {m.encode()[0] for m in (PENDING, CORRECT, WRONG, SKIPPED)}
    seconds: dict[str, float] = {}
    passes: dict[str, dict[str, int]] = {}
    report = None
    try:
        for record in records[1:]:
            for phase, marks in record.get("marks", {}).items():
                indices = marks["i"] if "i" in marks else range(int(marks["at"]), int(marks["at"]) + len(marks["m"]))
                for index, mark in zip(indices, marks["m"].encode()):
                    if mark not in valid:
                        raise ValueError(f"unknown mark {chr(mark)!r} in {phase}")
                    if not 0 <= index < n:  # a negative index would count from the end, silently
                        raise ValueError(f"example {index} outside 0..{n - 1}")
                    phases[phase][index] = mark
            seconds.update({k: float(v) for k, v in record.get("seconds", {}).items()})
            passes.update(
                {
                    k: {"forward": int(v["forward"]), "backward": int(v["backward"])}
                    for k, v in record.get("passes", {}).items()
                }
            )
            if "report" in record:
                report = record["report"]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptFile(path, KIND, f"a batch line is damaged ({exc})", fix=fix) from None
    return {
        "version": RESULTS_VERSION,
        "header": header,
        "results": {k: v.decode() for k, v in phases.items()},
        "seconds": seconds,
        "passes": passes,
        "report": report,
    }


def _marks_record(indices: list[int], marks: str) -> dict[str, Any]:
    """A batch's marks: ``{"at": first, "m": marks}`` for consecutive examples (the usual
    batch), else ``{"i": indices, "m": marks}`` (a sharded or resumed batch)."""
    if indices and indices == list(range(indices[0], indices[0] + len(indices))):
        return {"at": indices[0], "m": marks}
    return {"i": indices, "m": marks}


class ResultsStore:
    """The per-example state of one evaluation; ``path=None`` keeps it in memory only."""

    def __init__(self, path: Path | None, header: dict[str, Any], resume: bool, read_from: Path | None = None) -> None:
        """``path`` is written (None: memory only); ``read_from`` (default ``path``) is read on
        resume: ranks other than 0 read the file rank 0 writes."""
        self.path, self.header = path, header
        source = path if read_from is None else read_from
        n = header["n_examples"]
        self.phases: dict[str, list[str]] = {name: [PENDING] * n for name in ["clean", *header["attacks"]]}
        self.seconds: dict[str, float] = {name: 0.0 for name in self.phases}
        self.passes: dict[str, dict[str, int]] = {name: {"forward": 0, "backward": 0} for name in self.phases}
        self._unsaved: dict[str, dict[int, str]] = {}
        self._started = False  # the file holds this store's header (and every mark saved so far)
        if resume and source is not None and source.is_file():
            self._load(source)

    def _load(self, source: Path) -> None:
        fix = f"give {option('output')} a new file name"
        data = read_results_file(source, fix=fix)
        saved = data["header"]
        if saved != self.header:
            changed = sorted(k for k in set(saved) | set(self.header) if saved.get(k) != self.header.get(k))
            raise InvalidInput(
                f"cannot resume: {source} was made with different {', '.join(changed)}",
                fix=f"rerun with the same settings, or give {option('output')} a new file name",
                path=source,
            )
        for name, marks in data["results"].items():
            if name in self.phases and len(marks) == len(self.phases[name]):
                if set(marks) - {PENDING, CORRECT, WRONG, SKIPPED}:
                    raise CorruptFile(source, KIND, f"unknown marks in {name}", fix=fix)
                self.phases[name] = list(marks)
        self.seconds.update(data["seconds"])
        self.passes.update({k: v for k, v in data["passes"].items() if k in self.passes})
        # A version 3 file written by this path is continued by appending; anything else is rewritten.
        self._started = data["version"] == RESULTS_VERSION and source == self.path and data["report"] is None

    def spend(self, phase: str, forward: int, backward: int) -> None:
        """Add image-passes a phase spent (saved with the next batch, like its seconds)."""
        self.passes[phase]["forward"] += int(forward)
        self.passes[phase]["backward"] += int(backward)

    def pending(self, phase: str, indices: Iterable[int]) -> list[int]:
        marks = self.phases[phase]
        return [i for i in indices if marks[i] == PENDING]

    def record(self, phase: str, index: int, mark: str) -> None:
        self.phases[phase][index] = mark
        self._unsaved.setdefault(phase, {})[index] = mark

    def done(self, phase: str) -> int:
        return sum(m != PENDING for m in self.phases[phase])

    def count(self, phase: str, marks: str = CORRECT) -> int:
        return sum(m in marks for m in self.phases[phase])

    def bits(self, phase: str) -> list[bool]:
        """Correct (clean) or survived (attack), per example."""
        return [m == CORRECT for m in self.phases[phase]]

    def save(self, report: dict[str, Any] | None = None) -> None:
        """Append what changed since the last save (and ``report``, when given)."""
        if self.path is None:
            return
        if not self._started:  # a new file (or a rewrite): header and every mark so far, atomically
            done = {
                name: _marks_record(
                    [i for i, m in enumerate(marks) if m != PENDING], "".join(m for m in marks if m != PENDING)
                )
                for name, marks in self.phases.items()
            }
            lines = [
                {"version": RESULTS_VERSION, "header": self.header},
                {"marks": done, "seconds": self.seconds, "passes": self.passes},
            ]
            atomic_write_text(self.path, "".join(json.dumps(line) + "\n" for line in lines))
            self._started, self._unsaved = True, {}
        elif self._unsaved:
            marks = {
                phase: _marks_record(list(changed), "".join(changed.values()))
                for phase, changed in self._unsaved.items()
            }
            self._append({"marks": marks, "seconds": self.seconds, "passes": self.passes})
            self._unsaved = {}
        if report is not None:
            self._append({"report": report})

    def _append(self, record: dict[str, Any]) -> None:
        assert self.path is not None
        append_jsonl(self.path, [record])  # a line torn by a kill is cut, never glued onto
