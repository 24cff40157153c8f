"""What a cheap scorer saves: seconds per candidate of the ``inherited`` and ``fsp`` scorers
against the paper's protocol (3 epochs of PGD-7 finetuning on the whole training split, then the
same scoring), on the same candidates of a finished search, same run.

The proxies' *agreement* with finetuning is measured by the search itself (``analysis.json``,
``proxies``: on the candidates it finetunes); this script measures the *cost* the issue's goal
is stated in ("at least 10x cheaper than 3-epoch finetuning"). Candidates are the finetuned
ones of the search (spread over the proxy's ranking), the first ``--candidates`` of them.

    python benchmarks/search_scorers.py search-demo-seed0 [--candidates 2] [--epochs 3] [--json FILE (default: benchmarks/results/)]

Run it alone: another torch process on the same cores slows both many times over.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robnetzoo.genotype import Genotype  # noqa: E402
from robnetzoo.search.candidates import finetune, screen  # noqa: E402
from robnetzoo.search.leaderboard import Ledger  # noqa: E402
from robnetzoo.search.pipeline import LEDGER_FILE, load_search_data, read_settings, train_supernet  # noqa: E402

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=default_path("search_scorers"), help="raw figures (default: benchmarks/results/)")
    args = parser.parse_args()

    settings = read_settings(args.folder)
    paper_finetune = dataclasses.replace(settings.finetune, epochs=args.epochs, train_examples=None)
    protocol = dataclasses.replace(settings, finetune=paper_finetune)
    train, validation = load_search_data(settings)
    device = torch.device(args.device)
    supernet = train_supernet(settings, args.folder, train, device=device, progress=lambda e: None).eval()
    records = Ledger(args.folder / LEDGER_FILE).read()
    chosen = sorted(i for stage, i in records if stage == "finetune")[: args.candidates]
    rows = []
    for index in chosen:
        record = records[("screen", index)]
        genotype = Genotype.parse(record["genotype"])
        screened = screen(supernet, genotype, index=index, space=record["space"], validation=validation,
                          calibration=train, settings=settings, device=device)
        began = time.perf_counter()
        tuned = finetune(supernet, genotype, index=index, space=record["space"], train=train, validation=validation,
                         settings=protocol, device=device)
        rows.append({"index": index, "inherited_s": screened["inherited"]["seconds"], "fsp_s": screened["fsp"]["seconds"],
                     "finetune_s": time.perf_counter() - began, "finetuned_robust": tuned["robust"],
                     "inherited_robust": screened["inherited"]["robust"]})
        print(f"candidate {index}: inherited {rows[-1]['inherited_s']:.1f} s, fsp {rows[-1]['fsp_s']:.1f} s, "
              f"{args.epochs}-epoch finetuning on {len(train)} images {rows[-1]['finetune_s']:.1f} s", flush=True)
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("inherited_s", "fsp_s", "finetune_s")}
    print(f"\n{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"search {args.folder} (C={settings.width}, {settings.layers} cells, {settings.score_attack} on "
          f"{settings.score_examples or settings.validation_size} validation images)")
    print(f"{'scorer':<40}{'s / candidate':>14}{'finetuning / scorer':>22}")
    print(f"{f'finetune ({args.epochs} epochs PGD-7, full split)':<40}{mean['finetune_s']:>14.1f}{'1.0x':>22}")
    for name in ("inherited", "fsp"):
        ratio = mean["finetune_s"] / mean[f"{name}_s"]
        print(f"{name:<40}{mean[f'{name}_s']:>14.2f}{f'{ratio:.1f}x':>22}")
    if args.json:
        write(args.json, {"rows": rows, "mean": mean})


if __name__ == "__main__":
    main()
