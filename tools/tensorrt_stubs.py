"""Install the TensorRT type stubs that ``export/tensorrt.py`` is type-checked against.

TensorRT itself installs only from NVIDIA's index, and the ``tensorrt-stubs`` package depends
on it, so the stubs are installed without their dependencies into ``.stubs/`` (which
``pyproject.toml``'s mypy section reads), never into the environment: there they would make
``import tensorrt`` succeed as an empty namespace package. Release 10.13.0.35.1 has five lines
Python cannot parse (a parameter named ``in``, a parameter without a default after ones with
defaults); they are fixed here in the copy, the same way each time.

    python tools/tensorrt_stubs.py        # .ci/run does this before the tests
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / ".stubs"
VERSION = "10.13.0.35.1"
STUB = TARGET / "tensorrt_bindings" / "tensorrt.pyi"


def fix(text: str) -> str:
    """The stubs' unparsable lines made valid: ``in`` (a keyword) as ``in_``, and the one
    parameter left without a default after defaulted ones given ``= ...``."""
    text = re.sub(r"(def \w+\([^)]*?)\bin: ", r"\1in_: ", text)
    return text.replace("power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = ...)")


def main() -> int:
    if not STUB.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--target",
                str(TARGET),
                f"tensorrt-stubs=={VERSION}",
            ],
            check=True,
        )
    STUB.write_text(fix(STUB.read_text()))
    print(TARGET)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
