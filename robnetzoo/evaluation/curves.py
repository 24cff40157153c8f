"""Robustness curves (accuracy against the radius eps) and comparisons of several models'
results, with their 95% intervals, as tables and one plot.

``evaluate_curve`` runs the one evaluator at every radius of a list, each radius with its own
per-example results file in an output folder (``eps-<radius>.json``; resumable like any
results file) and a summary ``curve.json``; the curve adds the check that a larger radius never
leaves more examples robust. ``compare`` reads results files (``robnetzoo eval --output``) and
curve folders and puts them side by side; files made on different data sets or threat-model
norms (or, for single evaluations, radii) are refused unless ``force=True``, which marks the
comparison. ``plot_curves`` draws worst-case robust accuracy against eps, one line per model,
its Wilson interval shaded (matplotlib, imported only there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .._io import OutputMode, atomic_write, output_mode, read_json, write_json
from ..errors import CorruptFile, InvalidInput, option
from ..threat import canonical_norm, eps_text
from .checks import Check, eps_monotone
from .report import EvalReport

CURVE_FILE = "curve.json"


def parse_eps_list(text: str | Sequence[float]) -> list[float]:
    """``1/255,2/255,4/255`` (or floats) as radii; a malformed or repeated value is refused."""
    from ..threat import parse_eps

    items = text.split(",") if isinstance(text, str) else list(text)
    if isinstance(text, str) and any(not str(item).strip() for item in items):
        raise InvalidInput(
            f"eps list {text!r} has an empty value", fix="write radii separated by commas, e.g. 2/255,4/255,8/255"
        )
    radii = [parse_eps(item) for item in items]
    repeated = sorted({r for r in radii if radii.count(r) > 1})
    if repeated:
        raise InvalidInput(
            f"eps {', '.join(eps_text(r) for r in repeated)} is given more than once", fix="give each radius once"
        )
    if not radii:
        raise InvalidInput("the eps list is empty", fix="give at least one radius, e.g. 8/255")
    return radii


def file_label(eps: float, norm: str = "Linf") -> str:
    """A radius in a file name: ``1_255`` for 1/255."""
    return eps_text(eps, norm).replace("/", "_")


@dataclass
class RobustnessCurve:
    """Evaluations of one model at several radii (sorted by eps) and the curve's own check."""

    reports: list[EvalReport]
    checks: list[dict[str, Any]] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.reports[0].model

    def radii(self) -> list[float]:
        return [report.eps for report in self.reports]

    def rows(self) -> list[dict[str, Any]]:
        """One row per radius: clean, each attack and worst case, with 95% intervals."""
        out = []
        for report in self.reports:
            metrics = {
                "clean": report.clean_accuracy,
                **report.robust_accuracy,
                "worst_case": report.worst_case_accuracy,
            }
            out.append(
                {
                    "eps": report.eps,
                    "eps_label": report.threat().eps_text(),
                    "n": report.n_examples,
                    "accuracy": metrics,
                    "intervals_95": {m: list(report.interval(m)) for m in metrics},
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.reports[0].dataset,
            "norm": self.reports[0].norm,
            "rows": self.rows(),
            "checks": self.checks,
            "reports": [r.to_dict() for r in self.reports],
        }


def curve_check(reports: Sequence[EvalReport]) -> Check:
    """Worst-case robust counts must not rise with eps (and each attack's, when all share them)."""
    worst = eps_monotone({r.eps: r.counts["worst_case"] for r in reports})
    if worst.passed is False:
        return worst
    for attack in reports[0].attacks:
        per_attack = eps_monotone({r.eps: r.counts["robust"][attack] for r in reports if attack in r.counts["robust"]})
        if per_attack.passed is False:
            per_attack.summary = f"{attack}: {per_attack.summary}"
            return per_attack
    return worst


def check_curve_folder(
    folder: Path, radii: Sequence[float], *, norm: str | None, resume: bool, overwrite: bool
) -> None:
    """The output rule for a curve folder: one that holds a curve is continued (``resume``, at
    the same radii: other radii would replace its ``curve.json`` with a different curve) or
    replaced (``overwrite``); one that holds anything else is not ours to fill."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(
            f"{folder} is a file; a curve's {option('output')} is a folder (one results file per radius)"
        )
    holds = folder.is_dir() and ((folder / CURVE_FILE).exists() or any(folder.glob("eps-*.json")))
    mode = output_mode(
        folder, "a robustness curve", holds=holds, resume=resume, overwrite=overwrite, resume_needs_one=False
    )
    if mode is not OutputMode.RESUME:
        return
    label = canonical_norm(norm or "Linf")
    asked = sorted(f"eps-{file_label(r, label)}.json" for r in radii)
    there = sorted(p.name for p in folder.glob("eps-*.json"))
    if (folder / CURVE_FILE).exists() and there != asked:
        raise InvalidInput(
            f"{folder} holds a curve at other radii ({', '.join(n[4:-5] for n in there)})",
            fix=f"resume it with the same {option('eps')}, pass {option('overwrite', True)} to replace "
            f"it, or choose another {option('output')}",
            path=folder,
        )


def check_plot_path(path: Path) -> None:
    """Refuse a plot name ``plot_curves`` cannot write, before any work is done."""
    if Path(path).suffix.lstrip(".").lower() not in ("png", "svg"):
        raise InvalidInput(f"cannot plot to {Path(path).name}: name a .png or .svg file")


def evaluate_curve(
    model: Any,
    dataset: Any,
    eps: str | Sequence[float],
    *,
    output: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    **evaluate_kwargs: Any,
) -> RobustnessCurve:
    """``robnetzoo.evaluate`` at every radius of ``eps`` (see the module docstring); the other
    keywords are ``evaluate``'s. ``output`` is a folder: one results file per radius."""
    from .evaluator import evaluate

    radii = parse_eps_list(eps) if isinstance(eps, str) else parse_eps_list(list(eps))
    folder = Path(output) if output is not None else None
    if folder is not None:
        check_curve_folder(folder, radii, norm=evaluate_kwargs.get("norm"), resume=resume, overwrite=overwrite)
    reports = []
    for radius in sorted(radii):
        norm = canonical_norm(evaluate_kwargs.get("norm") or "Linf")
        path = folder / f"eps-{file_label(radius, norm)}.json" if folder is not None else None
        reports.append(
            evaluate(model, dataset, eps=radius, output=path, resume=resume, overwrite=overwrite, **evaluate_kwargs)
        )
    curve = RobustnessCurve(reports, [curve_check(reports).to_dict()])
    if folder is not None:
        write_json(folder / CURVE_FILE, curve.to_dict(), indent=1)
    return curve


# ---------------------------------------------------------------------------- comparisons


def read_results(path: str | Path) -> RobustnessCurve:
    """A results file of ``robnetzoo eval --output`` (one radius) or a curve folder (or its
    ``curve.json``), as a curve."""
    from .store import read_results_file

    path = Path(path)
    if path.is_dir() or path.name == CURVE_FILE:
        curve = path / CURVE_FILE if path.is_dir() else path
        data = read_json(
            curve,
            "robnetzoo curve",
            expect=dict,
            fix="rerun the curve with --output DIR --resume",
            missing=f"{path} holds no {CURVE_FILE}: not a finished curve (rerun it with --resume)",
        )
        fix = "rerun the curve with --output DIR --resume"
        reports = data.get("reports")
        if not isinstance(reports, list) or not reports or not all(isinstance(r, dict) for r in reports):
            raise CorruptFile(curve, "robnetzoo curve", "it lists no reports", fix=fix)
        try:
            return RobustnessCurve([EvalReport.from_dict(r) for r in reports], list(data.get("checks", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFile(curve, "robnetzoo curve", f"a report is damaged ({exc})", fix=fix) from None
    report = read_results_file(path, fix="rerun the evaluation with --output")["report"]
    if not isinstance(report, dict):
        raise InvalidInput(
            f"{path} holds no finished evaluation (interrupted?)",
            fix="finish it with robnetzoo eval ... --output FILE --resume",
            path=path,
        )
    return RobustnessCurve([EvalReport.from_dict(report)], [])


def compare(paths: Sequence[str | Path], *, force: bool = False) -> list[RobustnessCurve]:
    """The curves of ``paths`` side by side, refused when they were not measured alike (data
    set, norm; radius for single evaluations) unless ``force`` (then each says what differs)."""
    if len(paths) < 2:
        raise InvalidInput("compare needs at least two results files or curve folders")
    curves = [read_results(p) for p in paths]
    first = curves[0].reports[0]
    differences = []
    for path, curve in zip(paths[1:], curves[1:]):
        report = curve.reports[0]
        for what, mine, theirs in (
            ("data set", first.dataset, report.dataset),
            ("norm", first.norm, report.norm),
            ("number of examples", first.n_examples, report.n_examples),
        ):
            if mine != theirs:
                differences.append(f"{Path(path).name} has {what} {theirs}, {Path(paths[0]).name} {mine}")
        if len(curve.reports) == 1 and len(curves[0].reports) == 1 and report.eps != first.eps:
            differences.append(
                f"{Path(path).name} has eps {report.threat().eps_text()}, {Path(paths[0]).name} "
                f"{first.threat().eps_text()}"
            )
    if differences and not force:
        raise InvalidInput(
            f"not measured alike: {differences[0]}",
            fix=f"compare like with like, or pass {option('force', True)} to compare anyway (the comparison says so)",
        )
    for curve in curves:
        curve.forced = differences
    return curves


def plot_curves(curves: Sequence[RobustnessCurve], path: str | Path, *, metric: str = "worst_case") -> Path:
    """Accuracy (``metric``: worst_case, clean or an attack) against eps, a line per curve, its
    95% Wilson interval shaded; PNG or SVG by ``path``'s suffix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    check_plot_path(path)
    fmt = path.suffix.lstrip(".").lower()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for curve in curves:
        rows = curve.rows()
        xs = [row["eps"] * (255 if curve.reports[0].norm == "Linf" else 1) for row in rows]
        ys = [row["accuracy"].get(metric) for row in rows]
        lows = [row["intervals_95"].get(metric, [None, None])[0] for row in rows]
        highs = [row["intervals_95"].get(metric, [None, None])[1] for row in rows]
        label = f"{curve.model} (n={rows[0]['n']})" + (" [not measured alike]" if curve.forced else "")
        (line,) = ax.plot(xs, ys, marker="o", label=label)
        ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.18, linewidth=0)
    norm = curves[0].reports[0].norm
    ax.set_xlabel("eps (x/255)" if norm == "Linf" else "eps (L2)")
    ax.set_ylabel(f"{metric.replace('_', ' ')} accuracy % (95% interval shaded)")
    ax.set_title(f"{curves[0].reports[0].dataset}, {norm}: {', '.join(curves[0].reports[0].attacks)}", fontsize=9)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110))
    plt.close(fig)
    return path


__all__ = ["RobustnessCurve", "evaluate_curve", "compare", "read_results", "plot_curves", "parse_eps_list"]
