"""The search's records: an append-only ledger of scored candidates, and the leaderboard.

``Ledger`` is ``candidates.jsonl``: one JSON line per (stage, candidate), appended and flushed
to disk as soon as a candidate is scored, so a killed search loses at most the candidate in
flight; a line cut short by the kill is ignored on reading (and rewritten by the resumed run).
Records only ever hold plain values.

``leaderboard_rows`` joins a candidate's stages into one row; ``write_leaderboard`` writes the
rows as ``leaderboard.csv`` and ``leaderboard.json`` (atomically).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable

from robnetzoo._io import append_jsonl, atomic_write_text, read_jsonl, write_json
from robnetzoo.errors import CorruptFile, option
from robnetzoo.stats import wilson_interval

CSV_COLUMNS = (
    "rank",
    "index",
    "space",
    "score",
    "robust",
    "robust_low",
    "robust_high",
    "clean",
    "finetune_robust",
    "finetune_clean",
    "inherited_robust",
    "inherited_clean",
    "fsp_raw_loss",
    "fsp_loss",
    "density",
    "convs_per_cell",
    "identity_bits",
    "direct_convs",
    "skip_convs",
    "parameters",
    "macs",
    "seconds",
    "fsp_kept",
    "genotype",
)


class Ledger:
    """``candidates.jsonl``: appended by one writer (rank 0), read by every rank on resume."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> dict[tuple[str, int], dict[str, Any]]:
        """Every complete record by (stage, index); a torn last line is dropped."""
        fix = f"move it away and rerun with {option('resume', True)} to score its candidates again"
        records: dict[tuple[str, int], dict[str, Any]] = {}
        for record in read_jsonl(self.path, "search's candidates.jsonl", fix=fix):
            try:
                records[(str(record["stage"]), int(record["index"]))] = record
            except (KeyError, TypeError, ValueError):
                raise CorruptFile(
                    self.path, "search's candidates.jsonl", "a record without stage and index", fix=fix
                ) from None
        return records

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        append_jsonl(self.path, list(records), sort_keys=True)  # a torn last line is cut first


def screen_stage(replica: int) -> str:
    """The ledger stage of the inherited score under supernet ``replica`` (0: ``screen``)."""
    return "screen" if replica == 0 else f"screen-{replica}"


def over_supernets(records: dict[tuple[str, int], dict[str, Any]], index: int) -> dict[str, Any]:
    """Candidate ``index``'s inherited score averaged over every supernet that scored it: the
    mean robust and clean accuracy, each supernet's robust accuracy, a Wilson interval over the
    pooled image-supernet pairs (the same images repeat under each supernet, so it is narrower
    than an interval over independent images would be), and the per-image marks of every
    supernet joined, for paired tests."""
    scores = []
    replica = 0
    while (screen_stage(replica), index) in records:
        record = records[(screen_stage(replica), index)]
        scores.append(record["inherited"] if replica == 0 else record)
        replica += 1
    correct, n = sum(s["robust_correct"] for s in scores), sum(s["n"] for s in scores)
    return {
        "robust": sum(s["robust"] for s in scores) / len(scores),
        "clean": sum(s["clean"] for s in scores) / len(scores),
        "n": scores[0]["n"],
        "supernets": len(scores),
        "per_supernet": [s["robust"] for s in scores],
        "interval": list(wilson_interval(correct, n)) if len(scores) > 1 else scores[0]["robust_interval"],
        "bits": "".join(s.get("robust_bits", "") for s in scores),
    }


def leaderboard_rows(
    records: dict[tuple[str, int], dict[str, Any]], scorer: str, kept_free: set[int] | None = None
) -> list[dict[str, Any]]:
    """One row per screened candidate, cell-based ones first, each space best first by ``scorer`` (robust accuracy for
    ``finetune`` and ``inherited``, lowest FSP loss for ``fsp``); ties by clean accuracy, then
    index. Candidates without the scorer's score (not finetuned, or dropped by the FSP filter)
    follow, unranked. ``kept_free``: the cell-free candidates the FSP filter kept."""
    rows = []
    for (stage, index), screen in sorted(records.items(), key=lambda item: item[0][1]):
        if stage != "screen":
            continue
        tuned = records.get(("finetune", index))
        fsp = screen["fsp"]
        inherited = over_supernets(records, index)
        row = {
            "index": index,
            "space": screen["space"],
            "genotype": screen["genotype"],
            "density": screen["density"],
            "cell_densities": screen["cell_densities"],
            "convs_per_cell": screen["convs_per_cell"],
            "cell_convs": screen["cell_convs"],
            "identity_bits": screen["identity_bits"],
            "direct_convs": screen["convs"]["inputs"]["direct"],
            "skip_convs": screen["convs"]["inputs"]["skip"],
            "chain_direct_convs": screen["convs"]["chain"]["direct"],
            "chain_skip_convs": screen["convs"]["chain"]["skip"],
            "parameters": screen["parameters"],
            "macs": screen["macs"],
            "score_n": inherited["n"],
            "inherited_robust": inherited["robust"],
            "inherited_clean": inherited["clean"],
            "inherited_interval": inherited["interval"],
            "supernets": inherited["supernets"],
            "supernet_robust": inherited["per_supernet"],
            "fsp_loss": fsp["deep_loss"],
            "fsp_raw_loss": fsp["deep_raw_loss"],
            "fsp_cells": fsp["cells"],
            "fsp_relative_cells": fsp["relative_cells"],
            "finetune_robust": None if tuned is None else tuned["robust"],
            "finetune_clean": None if tuned is None else tuned["clean"],
            "finetune_interval": None if tuned is None else tuned["robust_interval"],
            "finetune_fsp_cells": None if tuned is None else tuned["fsp"]["cells"],
            "seconds": screen["seconds"] + (0.0 if tuned is None else tuned["seconds"]),
            "screen_seconds": {"inherited": screen["inherited"]["seconds"], "fsp": fsp["seconds"]},
            "finetune_seconds": None if tuned is None else tuned["seconds"],
            "fsp_kept": None if screen["space"] != "free" else index in (kept_free or set()),
        }
        row["score"], row["robust"], row["clean"] = _score(row, scorer)
        row["paired_bits"] = (tuned or {}).get("robust_bits", "") if scorer == "finetune" else inherited["bits"]
        interval = row["finetune_interval"] if scorer == "finetune" else row["inherited_interval"]
        row["robust_low"], row["robust_high"] = (None, None) if row["robust"] is None or interval is None else interval
        rows.append(row)
    out = []
    for space in ("cell", "free"):  # ranked within each space: the two are chosen from separately
        scored = [r for r in rows if r["space"] == space and r["score"] is not None]
        scored.sort(key=lambda r: (-r["score"], -(r["clean"] or 0.0), r["index"]))
        for rank, row in enumerate(scored, 1):
            row["rank"] = rank
        unscored = [r for r in rows if r["space"] == space and r["score"] is None]
        for row in unscored:
            row["rank"] = None
        out += scored + unscored
    return out


def _score(row: dict[str, Any], scorer: str) -> tuple[float | None, float | None, float | None]:
    """(ranking key, robust accuracy, clean accuracy) of a row under ``scorer``."""
    if row["space"] == "free" and row["fsp_kept"] is False:
        return None, None, None
    if scorer == "finetune":
        if row["finetune_robust"] is None:
            return None, None, None
        return row["finetune_robust"], row["finetune_robust"], row["finetune_clean"]
    if scorer == "fsp":  # lower is better; robust/clean shown are the inherited ones
        return -row["fsp_loss"], row["inherited_robust"], row["inherited_clean"]
    return row["inherited_robust"], row["inherited_robust"], row["inherited_clean"]


def write_leaderboard(rows: list[dict[str, Any]], folder: str | Path) -> tuple[Path, Path]:
    """``leaderboard.csv`` (the columns of ``CSV_COLUMNS``) and ``leaderboard.json`` (all)."""
    folder = Path(folder)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    csv_path, json_path = folder / "leaderboard.csv", folder / "leaderboard.json"
    atomic_write_text(csv_path, buffer.getvalue())
    write_json(json_path, rows, indent=1)
    return csv_path, json_path
