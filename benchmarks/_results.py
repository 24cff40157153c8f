"""Where every benchmark writes its raw figures: ``benchmarks/results/<script>-<date>.json``,
with the machine they were measured on, so a figure in the docs can be traced to its run."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def default_path(script: str) -> Path:
    return RESULTS / f"{script}-{datetime.date.today().isoformat()}.json"


def machine() -> dict[str, Any]:
    import torch

    from robnetzoo.export.host import cpu  # the CPU's name and kernel-relevant flags, as the export reports read them

    host = cpu()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": host["name"],
        "isa": host["flags"],
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def write(path: Path, figures: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=1) + "\n")
    print(f"raw figures: {path}", flush=True)
