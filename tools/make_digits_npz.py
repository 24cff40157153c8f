"""Regenerate ``robnetzoo/_data/digits.npz`` from scikit-learn's bundled digits (run once).

The file holds the 1,797 8x8 images as uint8 levels 0..16 (exactly the values of
``sklearn.datasets.load_digits().images``) and their labels, in scikit-learn's order, so the
built-in ``digits`` data set needs no scikit-learn at run time. ``tests/test_data.py`` checks
the packaged pixels against scikit-learn's when it is installed.

Source and licence: the "Optical Recognition of Handwritten Digits" data set (UCI Machine
Learning Repository, E. Alpaydin and C. Kaynak, 1998; licensed CC BY 4.0), as bundled with
scikit-learn (BSD-3-Clause).

    python tools/make_digits_npz.py
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

raw = load_digits()
images = raw.images.astype(np.uint8)
assert np.array_equal(images, raw.images), "digits levels are whole numbers 0..16"
out = Path(__file__).resolve().parents[1] / "robnetzoo" / "_data" / "digits.npz"
np.savez_compressed(out, images=images, labels=raw.target.astype(np.uint8))
print(f"wrote {out} ({out.stat().st_size} bytes)")
