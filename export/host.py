"""The host a runtime figure was measured on, and which int8 kernel ONNX Runtime ran there.

ONNX Runtime's CPU int8 convolutions multiply uint8 activations by int8 weights (U8S8). On x86
CPUs without VNNI (SSE4.1, AVX2, AVX-512 without VNNI) its kernels use ``vpmaddubsw``, which
adds pairs of products into *saturating 16-bit* sums: a large sum clips, so int8 agreement with
fp32 collapses on such hosts for reasons that have nothing to do with the quantization. The
session option ``session.x64quantprecision=1`` makes ONNX Runtime convert int8 weights to
uint8 and use its U8U8 kernels, whose sums are 32-bit: exact, a little slower. CPUs with VNNI
(``vpdpbusd``) sum into 32 bits either way. So an int8 figure is only meaningful with the
host's flags and the session options beside it: ``int8_kernel`` names what ran.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

PRECISE_INT8_OPTION = "session.x64quantprecision"
# The flags that decide which kernels ONNX Runtime (MLAS) dispatches to, as /proc/cpuinfo names them.
RELEVANT_FLAGS = (
    "sse4_1",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
    "amx_bf16",
)
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@lru_cache(maxsize=1)
def cpu() -> dict[str, Any]:
    """The CPU's model name, architecture and the kernel-relevant instruction-set flags
    (``flags`` is None where the operating system does not list them, e.g. outside Linux)."""
    machine = platform.machine().lower()
    name, flags = platform.processor() or machine, None
    info = Path("/proc/cpuinfo")
    if info.is_file():
        listed: set[str] = set()
        for line in info.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and name in ("", machine, platform.processor()):
                name = value.strip()
            elif key in ("flags", "Features"):
                listed.update(value.split())
        flags = sorted(flag for flag in RELEVANT_FLAGS if flag in listed) if listed else None
    return {"name": name, "machine": machine, "flags": flags}


def is_x86(host: dict[str, Any]) -> bool:
    return host["machine"] in ("x86_64", "amd64", "i686", "x86")


def int8_kernel(precise: bool, host: dict[str, Any] | None = None) -> dict[str, Any]:
    """Which int8 convolution kernel ONNX Runtime's CPU provider runs on ``host`` (this one by
    default) with ``session.x64quantprecision`` set (``precise``) or not, and whether its sums
    can saturate. ``saturates`` is None where the flags are unknown."""
    host = host or cpu()
    flags = host["flags"]
    if not is_x86(host):
        return {"kernel": f"{host['machine']} int8 kernels (32-bit sums)", "saturates": False}
    if flags is None:
        return {
            "kernel": "unknown (the CPU's flags are not readable here)",
            "saturates": None if not precise else False,
        }
    if any(flag in flags for flag in VNNI_FLAGS):
        return {"kernel": "VNNI dot products (32-bit sums, exact)", "saturates": False}
    if precise:
        return {"kernel": f"U8U8 ({PRECISE_INT8_OPTION}=1: 32-bit sums, exact)", "saturates": False}
    return {"kernel": "U8S8 with vpmaddubsw (16-bit saturating pair sums: large sums clip)", "saturates": True}


def saturation_warning(host: dict[str, Any] | None = None) -> str | None:
    """What a user running an int8 graph in their own default session on ``host`` should know."""
    if int8_kernel(precise=False, host=host)["saturates"]:
        return (
            f"this CPU has no VNNI: an ONNX Runtime session without {PRECISE_INT8_OPTION}=1 runs int8 with "
            "16-bit saturating sums and loses agreement with fp32; set it in your own sessions "
            f"(options.add_session_config_entry('{PRECISE_INT8_OPTION}', '1'))"
        )
    return None
