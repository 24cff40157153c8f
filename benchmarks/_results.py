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

    cpu, isa = platform.processor(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.processor()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):  # what int8 and fp32 kernels can use
                isa = sorted(set(line.split(":", 1)[1].split()) & {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni"})
                break
    except OSError:
        pass
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu, "isa": isa, "cores": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def write(path: Path, figures: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=1) + "\n")
    print(f"raw figures: {path}", flush=True)
