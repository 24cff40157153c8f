"""The search's records: an append-only ledger of scored candidates, and the leaderboard.

``Ledger`` is ``candidates.jsonl``: one JSON line per (stage, candidate), appended and flushed
to disk as soon as a candidate is scored, so a killed search loses at most the candidate in
flight; a line cut short by the kill is ignored on reading (and rewritten by the resumed run).
Records only ever hold plain values.

``leaderboard_rows`` joins a candidate's stages into one ``LeaderboardRow``;
``write_leaderboard`` writes the rows as ``leaderboard.csv`` and ``leaderboard.json``
(atomically), ``read_leaderboard`` reads them back. Every field is documented where it is
declared; the public ones are the columns of ``results.json`` (``results.SCHEMA``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from robnetzoo._io import (
    append_jsonl,
    atomic_write_text,
    column,
    read_json,
    read_jsonl,
    record_from_dict,
    record_to_dict,
    write_json,
)
from robnetzoo.errors import CorruptFile, option
from robnetzoo.stats import wilson_interval

LEADERBOARD_FILE = "leaderboard.json"


@dataclass
class LeaderboardRow:
    """One scored candidate: its architecture, its shape, every score with its interval, and its
    cost. The rank and the ranked score depend on the search's scorer."""

    index: int = column("the candidate's number in the search (its genotype is drawn from (candidate seed, index))")
    space: str = column("cell (one cell shared by every layer) or free (one cell per layer)")
    genotype: str = column("the cells as 28-bit strings separated by |")
    density: float = column("connected edge bits / all edge bits (the paper's D)")
    cell_densities: list[float] = column("the density of each cell")
    convs_per_cell: float = column("convolutions (conv bits) per cell; the mean over cells for a cell-free genotype")
    cell_convs: list[int] = column("convolutions of each cell")
    identity_bits: float = column("identity bits per cell (mean over cells for a cell-free genotype)")
    direct_convs: float = column("convolutions on edges from the two cell inputs (the 'inputs' reading of direct)")
    skip_convs: float = column("convolutions on the other edges (the 'inputs' reading)", public=False)
    chain_direct_convs: float = column(
        "convolutions on the edge from the state just before a node (the 'chain' reading)"
    )
    chain_skip_convs: float = column("convolutions on the other edges (the 'chain' reading)", public=False)
    parameters: int = column("parameters of the final network (C=36, 20 cells; cell-free stretched to 20 cells)")
    macs: int = column("multiply-accumulates of the final network at 32x32")
    score_n: int = column("validation images every score was measured on")
    inherited_robust: float = column("robust accuracy (%) with the supernet's weights, BatchNorm recalibrated")
    inherited_clean: float = column("clean accuracy (%) with the supernet's weights")
    inherited_interval: list[float] = column("the 95% Wilson interval of inherited_robust")
    supernets: int = column("supernets it was scored under (its inherited scores are their mean)", public=False)
    supernet_robust: list[float] = column("robust accuracy (%) under each supernet", public=False)
    fsp_loss: float = column("mean FSP loss of the deeper cells relative to the clean FSP matrix's norm")
    fsp_raw_loss: float = column("mean FSP loss of the deeper cells (the paper's quantity)")
    fsp_cells: list[float] = column("the raw FSP loss of every cell")
    fsp_relative_cells: list[float] = column("the relative FSP loss of every cell", public=False)
    finetune_robust: float | None = column("robust accuracy (%) after finetuning, or null when not finetuned")
    finetune_clean: float | None = column("clean accuracy (%) after finetuning, or null", public=False)
    finetune_interval: list[float] | None = column("the 95% Wilson interval of finetune_robust")
    finetune_fsp_cells: list[float] | None = column("the raw FSP loss of every cell after finetuning", public=False)
    seconds: float = column("seconds spent scoring it (all stages)")
    screen_seconds: dict[str, float] = column("seconds of each cheap scorer (inherited, fsp)", public=False)
    finetune_seconds: float | None = column("seconds of its finetuning, or null", public=False)
    fsp_kept: bool | None = column("cell-free: whether the FSP filter kept it (null for cell-based)", public=False)
    score: float | None = column("the scorer's ranking key (null: unranked)", None, public=False)
    robust: float | None = column("robust accuracy (%) under the search's scorer", None, public=False)
    clean: float | None = column("clean accuracy (%) under the search's scorer", None, public=False)
    robust_low: float | None = column("its 95% interval's lower end", None, public=False)
    robust_high: float | None = column("its 95% interval's upper end", None, public=False)
    paired_bits: str = column("per image (and supernet), 1 where it stood: for paired tests", "", public=False)
    rank: int | None = column("rank within its space under the search's scorer (null: unranked)", None)


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
) -> list[LeaderboardRow]:
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
        row = LeaderboardRow(
            index=index,
            space=screen["space"],
            genotype=screen["genotype"],
            density=screen["density"],
            cell_densities=screen["cell_densities"],
            convs_per_cell=screen["convs_per_cell"],
            cell_convs=screen["cell_convs"],
            identity_bits=screen["identity_bits"],
            direct_convs=screen["convs"]["inputs"]["direct"],
            skip_convs=screen["convs"]["inputs"]["skip"],
            chain_direct_convs=screen["convs"]["chain"]["direct"],
            chain_skip_convs=screen["convs"]["chain"]["skip"],
            parameters=screen["parameters"],
            macs=screen["macs"],
            score_n=inherited["n"],
            inherited_robust=inherited["robust"],
            inherited_clean=inherited["clean"],
            inherited_interval=inherited["interval"],
            supernets=inherited["supernets"],
            supernet_robust=inherited["per_supernet"],
            fsp_loss=fsp["deep_loss"],
            fsp_raw_loss=fsp["deep_raw_loss"],
            fsp_cells=fsp["cells"],
            fsp_relative_cells=fsp["relative_cells"],
            finetune_robust=None if tuned is None else tuned["robust"],
            finetune_clean=None if tuned is None else tuned["clean"],
            finetune_interval=None if tuned is None else tuned["robust_interval"],
            finetune_fsp_cells=None if tuned is None else tuned["fsp"]["cells"],
            seconds=screen["seconds"] + (0.0 if tuned is None else tuned["seconds"]),
            screen_seconds={"inherited": screen["inherited"]["seconds"], "fsp": fsp["seconds"]},
            finetune_seconds=None if tuned is None else tuned["seconds"],
            fsp_kept=None if screen["space"] != "free" else index in (kept_free or set()),
        )
        row.score, row.robust, row.clean = _score(row, scorer)
        row.paired_bits = (tuned or {}).get("robust_bits", "") if scorer == "finetune" else inherited["bits"]
        interval = row.finetune_interval if scorer == "finetune" else row.inherited_interval
        row.robust_low, row.robust_high = (None, None) if row.robust is None or interval is None else interval
        rows.append(row)
    out = []
    for space in ("cell", "free"):  # ranked within each space: the two are chosen from separately
        scored = [r for r in rows if r.space == space and r.score is not None]
        scored.sort(key=lambda r: (-(r.score or 0.0), -(r.clean or 0.0), r.index))
        for rank, row in enumerate(scored, 1):
            row.rank = rank
        out += scored + [r for r in rows if r.space == space and r.score is None]  # unranked: rank None
    return out


def _score(row: LeaderboardRow, scorer: str) -> tuple[float | None, float | None, float | None]:
    """(ranking key, robust accuracy, clean accuracy) of a row under ``scorer``."""
    if row.space == "free" and row.fsp_kept is False:
        return None, None, None
    if scorer == "finetune":
        if row.finetune_robust is None:
            return None, None, None
        return row.finetune_robust, row.finetune_robust, row.finetune_clean
    if scorer == "fsp":  # lower is better; robust/clean shown are the inherited ones
        return -row.fsp_loss, row.inherited_robust, row.inherited_clean
    return row.inherited_robust, row.inherited_robust, row.inherited_clean


def write_leaderboard(rows: list[LeaderboardRow], folder: str | Path) -> tuple[Path, Path]:
    """``leaderboard.csv`` (the columns of ``CSV_COLUMNS``) and ``leaderboard.json`` (every field)."""
    folder = Path(folder)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = record_to_dict(row)
        writer.writerow({k: ("" if values[k] is None else values[k]) for k in CSV_COLUMNS})
    csv_path, json_path = folder / LEADERBOARD_FILE.replace(".json", ".csv"), folder / LEADERBOARD_FILE
    atomic_write_text(csv_path, buffer.getvalue())
    write_json(json_path, [record_to_dict(r) for r in rows], indent=1)
    return csv_path, json_path


def read_leaderboard(folder: str | Path) -> list[LeaderboardRow]:
    """The rows of a search's ``leaderboard.json``, best first within each space."""
    path = Path(folder) / LEADERBOARD_FILE
    fix = f"redo the search's analysis ({option('analyse')} FOLDER) to write it again"
    data = read_json(path, "search's leaderboard.json", expect=list, fix=fix)
    return [record_from_dict(LeaderboardRow, row, path=path, kind="search's leaderboard.json", fix=fix) for row in data]
