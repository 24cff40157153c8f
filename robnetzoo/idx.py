"""The IDX file format of MNIST and Fashion-MNIST: read, checked, and written.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian int32 per dimension, then the values in C order. MNIST and Fashion-MNIST ship
unsigned bytes only (type 0x08): images as ``n x 28 x 28`` (magic 2051), labels as ``n``
(magic 2049), each file plain or gzipped.

A downloaded file can be cut short, renamed or paired with the wrong partner; each of those is
one ``CorruptFile`` line naming the file and what to do, never a numpy reshape error. The
reader never trusts the header's sizes to allocate: it reads the file's bytes first and checks
that they hold exactly what the header says.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import CorruptFile

UBYTE = 0x08
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


def _raw_bytes(path: Path, fix: str) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise CorruptFile(path, "IDX file", f"{type(exc).__name__}: {exc}", fix=fix) from None


def read_idx(path: str | Path, magic: int, *, fix: str) -> np.ndarray:
    """The array in the IDX file ``path`` (``.gz`` or plain), which must carry ``magic``
    (``IMAGES_MAGIC`` or ``LABELS_MAGIC``) and hold exactly the bytes its header announces."""
    path = Path(path)
    data = _raw_bytes(path, fix)
    what = "IDX image file" if magic == IMAGES_MAGIC else "IDX label file"
    if len(data) < 4:
        raise CorruptFile(path, what, f"{len(data)} bytes, shorter than the 4-byte magic number", fix=fix)
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        raise CorruptFile(path, what, f"magic number {found:#010x}, expected {magic:#010x}", fix=fix)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptFile(path, what, f"{len(data)} bytes, shorter than its {header}-byte header", fix=fix)
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise CorruptFile(
            path,
            what,
            f"{state}: {len(data):,} bytes where a {'x'.join(map(str, shape))} array needs {expected:,}",
            fix=fix,
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array of 1 or 3 dimensions as an IDX file (gzipped when ``path`` ends in
    ``.gz``): what the tests and the benchmarks use to make small data in the real format."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim not in (1, 3):
        raise ValueError("MNIST-style IDX files hold labels (n) or images (n x rows x columns)")
    header = struct.pack(">BBBB", 0, 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)
    return path
