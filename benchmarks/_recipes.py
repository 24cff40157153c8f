"""The PGD-7 recipe on the digits that the training benchmarks compare: PGD-7 at 8/255 (step
2/255, random start, crafted in train mode), SGD cosine from lr 0.05 at batch 64 to 1e-3, no
augmentation. It was the ``demo`` preset until ``demo_choice.py`` chose the fast recipe."""

from __future__ import annotations

from robnetzoo.search.recipes import Recipe

PGD7_DIGITS = Recipe(
    name="pgd7-digits", dataset="digits", epochs=3, batch_size=64, lr=0.05, lr_batch=64, final_lr=1e-3,
    attack="pgd7", attack_params={"alpha": 2 / 255, "random_start": True}, attack_mode="train", augment="none",
)
