"""Is the demo's leaderboard a property of the architectures or of one run? The demo search
repeated with 3 seeds (supernet training and scoring noise) on the same candidates (candidate
seed 0), and once with the fast supernet (FGSM with a random start, ``--supernet-attack
fgsm-rs``) at seed 0; then the rank agreement of each pair of leaderboards on their common
candidates (Kendall's tau and Spearman with bootstrap 95% intervals, the top-5 overlap), and
within each budget band (Kendall's tau, and how often two runs choose the same band winner),
with every run's phase timings. The paired experiments (Finding 2's moved convolutions, Finding
1's densified twins) draw fresh base cells in every seed, so their gains are also pooled over
the PGD-7 seeds: the mean gain with its t interval and Wilcoxon test over all pairs, and each
seed's mean beside it, and the t interval over the seeds' means, the seed being the unit that
shares supernets (the FGSM-RS run re-scores seed 0's bases, so it stays out of the pool).
Searches already finished in ``--work`` are reused, not redone.

    python benchmarks/search_stability.py [--work searches/] [--seeds 0 1 2] [--json FILE]

About 8 minutes per search on 2 CPU cores; run it alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo.search.leaderboard import Ledger  # noqa: E402
from robnetzoo.search.pairs import analyse_pairs  # noqa: E402
from robnetzoo.search.pipeline import LEDGER_FILE, SUMMARY_FILE, run_search  # noqa: E402
from robnetzoo.search.settings import PRESETS  # noqa: E402
from robnetzoo.search.studies import leaderboard_agreement  # noqa: E402
from robnetzoo.stats import mean_interval  # noqa: E402


def search(folder: Path, **changes: object) -> dict:
    """A finished demo search in ``folder`` (run it unless it is already there)."""
    if not (folder / SUMMARY_FILE).is_file():
        settings = PRESETS["demo"].with_overrides(**changes)
        run_search(settings, folder, resume=(folder / "search.json").is_file(), device="cpu")
    return json.loads((folder / SUMMARY_FILE).read_text())


def pair_records(folder: Path) -> list[dict]:
    """A finished search's paired-experiment records (Finding 2 and the densified twins)."""
    return [r for (stage, _), r in sorted(Ledger(folder / LEDGER_FILE).read().items()) if stage == "pair"]


def pooled_pairs(folders: dict[str, Path]) -> dict:
    """Finding 2's small-budget gain (``inputs`` reading) and the densified twins' gain, per
    seed and pooled over seeds (independent bases: each seed draws its own)."""
    per_seed = {name: analyse_pairs(pair_records(folder)) for name, folder in folders.items()}
    pooled = analyse_pairs([r for folder in folders.values() for r in pair_records(folder)])

    def figures(result: dict) -> dict:
        return {
            "finding2_small_budget": result["inputs"]["small_budget"],
            "finding2_interaction": result["inputs"]["interaction"],
            "connectivity": result["connectivity"],
        }

    per_seed_figures = {name: figures(result) for name, result in per_seed.items()}
    # the seed as the unit: every pair of a seed inherits from the same supernets, so the pooled
    # interval (pairs as independent) understates the spread between supernets
    over_seeds = {
        key: mean_interval([f[key]["mean"] for f in per_seed_figures.values() if f[key].get("mean") is not None])
        for key in ("finding2_small_budget", "connectivity")
    }
    return {
        "pooled_over": list(folders),
        "pooled": figures(pooled),
        "over_seeds": over_seeds,
        "per_seed": per_seed_figures,
    }


def _gain(stat: dict) -> str:
    if stat.get("mean") is None or stat.get("interval") is None:
        return "—"
    p = "—" if stat.get("wilcoxon_p") is None else f"{stat['wilcoxon_p']:.2g}"
    return (
        f"{stat['mean']:+.2f} [{stat['interval'][0]:+.2f}, {stat['interval'][1]:+.2f}] points, "
        f"n={stat.get('n', stat.get('pairs'))}, Wilcoxon p={p}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("searches"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", type=Path, default=default_path("search_stability"))
    args = parser.parse_args()

    runs, seconds = {}, {}
    for seed in args.seeds:  # seed 0 is the plain `robnetzoo search` (its candidate seed is its seed)
        folder = args.work / f"search-demo-seed{seed}"
        summary = search(folder, seed=seed, candidate_seed=None if seed == 0 else 0)
        runs[f"pgd7-seed{seed}"], seconds[f"pgd7-seed{seed}"] = folder, summary["seconds"]
    fast = args.work / "search-demo-fgsm-rs-seed0"
    seconds["fgsm-rs-seed0"] = search(fast, seed=0, supernet_attack="fgsm-rs")["seconds"]
    runs["fgsm-rs-seed0"] = fast

    names = list(runs)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    agreement = {f"{a} vs {b}": leaderboard_agreement(runs[a], runs[b]) for a, b in pairs}
    for key, result in agreement.items():
        k, s = result["kendall"], result["spearman"]
        print(
            f"{key}: Kendall {k['value']:.2f} [{k['interval'][0]:.2f}, {k['interval'][1]:.2f}], Spearman "
            f"{s['value']:.2f} [{s['interval'][0]:.2f}, {s['interval'][1]:.2f}] on {result['common']} common "
            f"candidates; cell top-5 overlap {result['cell_top5_overlap']}/5"
        )
    for band in ("small", "medium", "large"):  # the capacity gradient removed: agreement within one budget
        rows = [(key, r["within_band"][band]) for key, r in agreement.items()]
        same = [w["same_winner"] for _, w in rows if w["same_winner"] is not None]
        print(
            f"within {band}: "
            + "; ".join(
                f"{key} Kendall {w['kendall']['value']:.2f} (n={w['n']})"
                if w["kendall"]["value"] is not None
                else f"{key} Kendall — (n={w['n']})"
                for key, w in rows
            )
            + f"; the same winner in {sum(same)} of {len(same)} pairs of runs"
        )
    paired = pooled_pairs({name: folder for name, folder in runs.items() if name.startswith("pgd7-")})
    for name, figures in [("pooled", paired["pooled"]), *paired["per_seed"].items()]:
        print(
            f"{name}: Finding 2 at 2-4 convs {_gain(figures['finding2_small_budget'])}; "
            f"densified twins {_gain(figures['connectivity'])}"
        )
    for key, stat in paired["over_seeds"].items():
        interval = stat["interval"]
        shown = "—" if interval is None else f"{stat['mean']:+.2f} [{interval[0]:+.2f}, {interval[1]:+.2f}]"
        print(f"over seeds (t over the {stat['n']} seed means): {key} {shown} points")
    for key, phase in seconds.items():
        print(f"{key}: " + ", ".join(f"{name} {value:.0f} s" for name, value in phase.items()))
    write(
        args.json,
        {
            "runs": {k: str(v) for k, v in runs.items()},
            "seconds": seconds,
            "agreement": agreement,
            "paired_experiments": paired,
        },
    )


if __name__ == "__main__":
    main()
