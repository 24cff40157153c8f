"""A search's results as a table, as NAS benchmarks publish theirs: one row per candidate with
its architecture (per-edge codes), its shape (identity bits, convolutions, per-cell density),
every score with its 95% interval, and its cost. ``results.json`` holds the rows (``SCHEMA``
documents every column); ``load_results(folder)`` reads them back as a ``ResultsTable`` to
query without re-running anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from robnetzoo._io import read_json, record_to_dict, schema, write_json
from robnetzoo.errors import option
from robnetzoo.genotype import Genotype

from .leaderboard import LeaderboardRow

RESULTS_FILE = "results.json"
RESULTS_FORMAT = "robnetzoo-search-results/1"

RESULTS_ONLY: dict[str, str] = {
    "edge_codes": "per cell, the 14 edge codes (00 zero, 01 sep-conv, 10 identity, 11 both), DARTS edge order",
    "band": "the budget band its convolutions per cell fall in (small / medium / large), or null",
}
SCHEMA: dict[str, str] = {**schema(LeaderboardRow), **RESULTS_ONLY}  # the docs print schema_table(SCHEMA)


class ResultsTable:
    """The rows of ``results.json``, queryable: ``where(space="cell", band="small")`` (a tuple
    value is an inclusive range), ``column(name)``, ``best(by)``, ``to_pandas()``."""

    def __init__(self, rows: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> None:
        self.rows, self.meta = rows, meta or {}

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, item: int) -> dict[str, Any]:
        return self.rows[item]

    def where(self, **conditions: Any) -> "ResultsTable":
        def keep(row: dict[str, Any]) -> bool:
            for key, wanted in conditions.items():
                value = row.get(key)
                if isinstance(wanted, tuple):
                    if value is None or not wanted[0] <= value <= wanted[1]:
                        return False
                elif value != wanted:
                    return False
            return True

        return ResultsTable([r for r in self.rows if keep(r)], self.meta)

    def column(self, name: str) -> list[Any]:
        return [r.get(name) for r in self.rows]

    def best(self, by: str = "inherited_robust") -> dict[str, Any] | None:
        scored = [r for r in self.rows if r.get(by) is not None]
        return max(scored, key=lambda r: (r[by], -r["index"])) if scored else None

    def genotype(self, index: int) -> Genotype:
        return Genotype.parse(next(r for r in self.rows if r["index"] == index)["genotype"])

    def to_pandas(self) -> Any:
        import pandas  # optional: only for this

        return pandas.DataFrame(self.rows)


def results_rows(rows: list[LeaderboardRow], bands: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    from .selection import band_of

    public = schema(LeaderboardRow)
    out = []
    for row in rows:
        values = record_to_dict(row)
        entry = {key: values[key] for key in public}
        entry["edge_codes"] = Genotype.parse(row.genotype).to_json()
        entry["band"] = band_of(row.convs_per_cell, bands) if row.space == "cell" else None
        out.append(entry)
    return out


def write_results(rows: list[LeaderboardRow], folder: Path, bands: dict[str, tuple[int, int]] | None = None) -> Path:
    from .settings import PAPER_BANDS

    path = folder / RESULTS_FILE
    write_json(
        path,
        {"format": RESULTS_FORMAT, "schema": SCHEMA, "rows": results_rows(rows, bands or dict(PAPER_BANDS))},
        indent=1,
    )
    return path


def load_results(folder: str | Path) -> ResultsTable:
    """The results table of a search folder (``results.json``)."""
    folder = Path(folder)
    data = read_json(
        folder / RESULTS_FILE,
        "search's results.json",
        expect=dict,
        missing=f"{folder} has no {RESULTS_FILE}: give the {option('output')} of a finished search",
        fix="redo the search's analysis (robnetzoo search --analyse FOLDER) to write it",
    )
    return ResultsTable(list(data.get("rows", [])), {"format": data.get("format"), "schema": data.get("schema")})
