"""The one seed mixer: every random stream in robnetzoo is seeded by ``derive_seed``.

A stream is named by the run's seed and the keys that make it distinct (a purpose, an epoch,
a rank, a candidate's index, an attack's name), so two streams never share a seed by
accident of arithmetic (``seed * 1_000_003 + epoch`` collides for other seeds), and the
number is the same in every process and on every platform (no Python ``hash``).
"""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed for the stream named by ``keys`` under ``seed`` (a ``torch.Generator``
    and numpy both take it)."""
    text = "\x1f".join([str(int(seed)), *(f"{type(k).__name__}:{k}" for k in keys)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1
