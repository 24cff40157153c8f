"""Saving per-example results after every batch: the append-only results file against
rewriting the whole file (the earlier format), same run, same marks.

    python benchmarks/results_store.py [--examples 5000 --examples 50000] [--attacks 4] [--batch 200] [--json FILE]

Evaluations of 5,000 and 50,000 examples (ImageNet's validation set), the clean pass and 4
attacks, batches of 200. For each store and size: the mean time of a save over the first and
the last tenth of the saves (does a save get slower as the run goes on?), the total, and the
file's size; and how the time per save changes from the small evaluation to the large one.
The marks are seeded random outcomes; no model runs (this measures the file, not the attacks).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo._io import write_json  # noqa: E402
from robnetzoo.evaluation.store import ResultsStore, read_results_file  # noqa: E402


class RewritingStore(ResultsStore):
    """The earlier format: the whole state rewritten (atomically) after every batch."""

    def save(self, report=None) -> None:
        write_json(
            self.path,
            {
                "version": 2,
                "header": self.header,
                "results": {k: "".join(v) for k, v in self.phases.items()},
                "seconds": self.seconds,
                "report": report,
            },
            indent=None,
        )


def run(store_class: type[ResultsStore], path: Path, n: int, attacks: int, batch: int, seed: int) -> dict:
    header = {"model": "benchmark", "n_examples": n, "attacks": [f"attack{i}" for i in range(attacks)]}
    store = store_class(path, header, resume=False)
    rng = random.Random(seed)
    saves = []
    for phase in ["clean", *header["attacks"]]:
        for start in range(0, n, batch):
            for index in range(start, min(start + batch, n)):
                store.record(phase, index, rng.choice("10x"))
            began = time.perf_counter()
            store.save()
            saves.append(time.perf_counter() - began)
    tenth = max(1, len(saves) // 10)
    first, last = sum(saves[:tenth]) / tenth, sum(saves[-tenth:]) / tenth
    return {
        "saves": len(saves),
        "first_tenth_ms": first * 1000,
        "last_tenth_ms": last * 1000,
        "last_over_first": last / first,
        "total_s": sum(saves),
        "bytes": path.stat().st_size,
        "results": read_results_file(path)["results"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, action="append")
    parser.add_argument("--attacks", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--json", type=Path, default=default_path("results_store"))
    args = parser.parse_args()
    sizes = sorted(args.examples or [5_000, 50_000])
    stores = (("append-only (ours)", ResultsStore), ("rewrite whole file", RewritingStore))
    figures: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            figures[n] = {
                name: run(cls, Path(tmp) / f"{n}-{i}.json", n, args.attacks, args.batch, seed=0)
                for i, (name, cls) in enumerate(stores)
            }
            first, second = (figures[n][name].pop("results") for name, _ in stores)
            assert first == second, "the two stores disagree on the marks"
    print(f"clean + {args.attacks} attacks, batches of {args.batch}")
    print(
        f"{'examples':>9} {'store':<22}{'first 10% ms/save':>19}{'last 10% ms/save':>18}{'last/first':>12}"
        f"{'total s':>10}{'MB':>8}"
    )
    for n, by_store in figures.items():
        for name, f in by_store.items():
            print(
                f"{n:>9} "
                f"{name:<22}{f['first_tenth_ms']:>19.2f}{f['last_tenth_ms']:>18.2f}{f['last_over_first']:>11.2f}x"
                f"{f['total_s']:>10.2f}{f['bytes'] / 1e6:>8.2f}"
            )
    small, large = sizes[0], sizes[-1]
    for name, _ in stores:
        per_save = [sum(figures[n][name][k] for k in ("first_tenth_ms", "last_tenth_ms")) / 2 for n in (small, large)]
        print(f"{name}: time per save at {large} examples / at {small}: {per_save[1] / per_save[0]:.2f}x")
    print(
        f"rewrite / append-only, total time at {large} examples: "
        f"{figures[large]['rewrite whole file']['total_s'] / figures[large]['append-only (ours)']['total_s']:.1f}x"
    )
    write(
        args.json,
        {"attacks": args.attacks, "batch": args.batch, "stores": {str(n): by_store for n, by_store in figures.items()}},
    )


if __name__ == "__main__":
    main()
