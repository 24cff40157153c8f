"""What a search is: its settings as plain data, and the two presets (``demo`` and ``paper``).

A search is fully described by ``SearchSettings`` (saved as ``search.json`` in its folder, and
compared field by field when a search is resumed): the data, the space, the supernet's size
and training recipe, the candidates and how each is scored, and the budgets.

* ``demo``: the built-in digits at L-inf 8/255, two C=4 five-cell supernets trained for 4 PGD-7
  epochs each, 40 cell-based and 16 cell-free candidates (drawn with a density per cell, so
  every budget band holds candidates) scored with the ``inherited`` proxy on 160 held-out
  images under both and ranked by the mean, Finding 2's paired experiment (3 base cells for
  each of 2-7 convolutions), and the chosen architectures re-scored on 160 further held-out
  images under a third supernet. Nothing is finetuned: the proxies are judged against real
  finetuning by ``robnetzoo search --study proxies``. About 7 minutes on 2 CPU cores (two workers).
* ``paper``: the authors' scale as far as it was published (``reference/robnets_recipes.md``):
  CIFAR-10, 1,000 candidates each finetuned for 3 epochs and scored by white-box PGD. What they
  never published (the supernet's size and optimiser, the scoring attack, the split) follows
  the public reimplementation of this space (aw_nas: C=24, SGD lr 0.05 cosine, batch 64, PGD-7
  step 2/255, 80/20 split), except depth: 20 cells, since a cell-free genotype needs one cell
  per layer of the final 20-cell network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from robnetzoo._io import read_json
from robnetzoo.errors import InvalidInput, NotFound, option
from robnetzoo.naming import is_name
from robnetzoo.registry import FAMILY_LAYERS

from .recipes import Recipe

SPACES = ("cell", "free", "both")  # "both": a supernet trained for either space, taking any genotype
SCORERS = ("finetune", "inherited", "fsp")
SAMPLERS = ("edge", "density")
SUPERNET_ATTACKS = ("pgd7", "fgsm-rs")
# Convolutions per cell of each named budget. The paper's sizes at C=36 and 20 cells decode to
# 7, 10 and 13 convolutions (6.89M is 13 convolutions with every identity bit on): the bands
# put each size at the top of its own class of cells.
PAPER_BANDS: dict[str, tuple[int, int]] = {"small": (0, 7), "medium": (8, 10), "large": (11, 13)}
MAX_CONVS = 14  # one conv bit per edge


@dataclass(frozen=True)
class SearchSettings:
    """Everything that decides a search's numbers (see the module docstring).

    ``candidates`` cell-based and ``free_candidates`` cell-free architectures are sampled
    (``space`` picks which; ``both`` trains one supernet for the two). Every candidate is
    screened (inherited score and FSP losses, both from the supernet's weights); ``scorer``
    ranks the leaderboard; ``finetune_subset`` candidates (all when None) are also finetuned
    for ``finetune.epochs`` epochs, which is the score itself for ``scorer="finetune"`` and the
    reference the proxies are judged against otherwise. ``fsp_keep`` is the fraction of
    cell-free candidates the FSP filter keeps (the authors never published theirs).

    ``bands`` are the budgets, in convolutions per cell (inclusive ranges that must tile
    0..their top without gaps or overlaps). ``sampler`` draws the candidates (``edge``: every
    bit a fair coin, the published protocol; ``density``: a density per cell first).
    ``candidate_seed`` (default: ``seed``) draws the genotypes alone, so searches with other
    seeds can score the same candidates. ``pairs_per_count`` base cells per convolution count
    2-7 make Finding 2's paired experiment; ``holdout_size`` images of the training split,
    used by nothing else, re-score the chosen architectures (the search score of a winner is
    biased upward by its selection). ``supernet_attack`` ``fgsm-rs`` trains the supernet with
    FGSM from a random start (a quarter of PGD-7's passes) under the overfitting guard.
    ``supernets`` supernets, trained from different seeds, each score every candidate; the
    leaderboard ranks by the mean, so the choice does not hang on one supernet's training noise.
    The hold-out re-score uses one more supernet, which no choice read.
    """

    preset: str
    dataset: str
    space: str
    candidates: int
    free_candidates: int
    width: int
    layers: int
    supernet: Recipe
    finetune: Recipe
    scorer: str = "inherited"
    finetune_subset: int | None = None
    score_attack: str = "pgd7"
    score_examples: int | None = None
    validation_size: int = 256
    calibration_images: int = 256
    fsp_examples: int = 64
    fsp_keep: float = 0.5
    sampler: str = "edge"
    bands: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(PAPER_BANDS))
    pairs_per_count: int = 0
    holdout_size: int = 0
    candidate_seed: int | None = None
    supernet_attack: str = "pgd7"
    supernets: int = 1
    seed: int = 0

    @property
    def genotype_seed(self) -> int:
        """The seed the candidates' genotypes are drawn from."""
        return self.seed if self.candidate_seed is None else self.candidate_seed

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise InvalidInput("bad search settings: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        out = []
        if not is_name(self.preset):
            out.append(
                f"preset {self.preset!r} is not a name (letters, digits, '.', '_' and '-'; it names the search's "
                "folder)"
            )
        if self.space not in SPACES:
            out.append(f"unknown space {self.space!r} (use one of {', '.join(SPACES)})")
        if self.scorer not in SCORERS:
            out.append(f"unknown scorer {self.scorer!r} (use one of {', '.join(SCORERS)})")
        if self.space in ("cell", "both") and self.candidates < 2:
            out.append(f"{option('candidates')} must be at least 2, got {self.candidates}")
        if self.space in ("free", "both") and self.free_candidates < 2:
            out.append(f"{option('free_candidates')} must be at least 2, got {self.free_candidates}")
        if self.finetune_subset is not None and self.finetune_subset < 0:
            out.append(f"{option('finetune_subset')} must be 0 or more, got {self.finetune_subset}")
        if not 0 < self.fsp_keep <= 1:
            out.append(f"{option('fsp_keep')} must be in (0, 1], got {self.fsp_keep}")
        if self.width < 1 or self.layers < 3:
            out.append(
                f"the supernet needs {option('width')} >= 1 and {option('layers')} >= 3, got {self.width} and "
                f"{self.layers}"
            )
        if self.sampler not in SAMPLERS:
            out.append(f"unknown sampler {self.sampler!r} (use one of {', '.join(SAMPLERS)})")
        if self.supernet_attack not in SUPERNET_ATTACKS:
            out.append(f"unknown supernet attack {self.supernet_attack!r} (use one of {', '.join(SUPERNET_ATTACKS)})")
        if self.supernets < 1:
            out.append(f"{option('supernets')} must be at least 1, got {self.supernets}")
        if self.pairs_per_count < 0 or self.holdout_size < 0:
            out.append(f"{option('pairs_per_count')} and {option('holdout_size')} must be 0 or more")
        band_problem = bands_problem(self.bands)
        if band_problem:
            out.append(band_problem)
        return out

    def with_overrides(self, **changes: Any) -> "SearchSettings":
        """These settings with some changed; ``None`` values are left alone. ``dataset`` moves
        the recipes to that data set (and its usual radius); ``eps`` sets the radius."""
        changes = {k: v for k, v in changes.items() if v is not None}
        for key in ("supernet_epochs", "finetune_epochs"):
            if key in changes:
                recipe = self.supernet if key == "supernet_epochs" else self.finetune
                changes[key.split("_")[0]] = recipe.with_overrides(epochs=changes.pop(key))
        if "dataset" in changes:
            changes["supernet"] = changes.get("supernet", self.supernet).for_dataset(changes["dataset"])
            changes["finetune"] = changes.get("finetune", self.finetune).for_dataset(changes["dataset"])
        if "eps" in changes:  # the radius of every attack of the search, steps scaled with it
            from robnetzoo.threat import parse_eps

            eps = parse_eps(changes.pop("eps"))
            for key in ("supernet", "finetune"):
                recipe = changes.get(key, getattr(self, key))
                changes[key] = recipe.at_threat(recipe.threat_model.with_overrides(eps=eps))
        return dataclasses.replace(self, **changes)

    @property
    def supernet_recipe(self) -> Recipe:
        """The supernet's recipe under ``supernet_attack``: ``fgsm-rs`` is one FGSM step of
        1.25 eps from a random start (Wong et al. 2020) with the catastrophic-overfitting guard."""
        if self.supernet_attack == "pgd7":
            return self.supernet
        eps = self.supernet.threat_model.eps
        return self.supernet.with_overrides(
            name=f"{self.supernet.name}-fgsm-rs",
            attack="pgd1",
            attack_params={"alpha": 1.25 * eps, "random_start": True},
            overfit_guard=True,
        )

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["supernet"] = self.supernet.to_dict()
        data["finetune"] = self.finetune.to_dict()
        data["bands"] = {name: list(band) for name, band in self.bands.items()}
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "search.json") -> "SearchSettings":
        if not isinstance(data, dict):
            raise InvalidInput(f"{source} must hold a JSON object of search settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        missing = sorted(
            f.name
            for f in fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in data
        )
        if unknown or missing:
            raise InvalidInput(
                f"{source}: "
                + "; ".join(
                    ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
                    + ([f"missing {', '.join(missing)}"] if missing else [])
                )
            )
        data = dict(data)
        data["supernet"] = Recipe.from_dict(data["supernet"], source=f"{source} supernet")
        data["finetune"] = Recipe.from_dict(data["finetune"], source=f"{source} finetune")
        if isinstance(data.get("bands"), dict):
            data["bands"] = {str(k): tuple(v) if isinstance(v, list) else v for k, v in data["bands"].items()}
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidInput(f"{source}: {exc}") from None

    def differences(self, other: "SearchSettings") -> list[str]:
        """The names of the settings that differ (a resumed search must match its folder's).
        The bands are not among them: they only choose among scored candidates, so a search may
        be resumed (or re-analysed) with others."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [key for key in mine if key != "bands" and mine[key] != theirs.get(key)]


def bands_problem(bands: dict[str, tuple[int, int]]) -> str | None:
    """Why ``bands`` (name -> inclusive (low, high) convolutions per cell) cannot be budgets:
    an unknown name, a range out of order or outside 0-14, an overlap or a gap; None if fine."""
    from .selection import FAMILY

    if not bands:
        return "no budget bands given"
    unknown = sorted(set(bands) - set(FAMILY))
    if unknown:
        return f"unknown band {', '.join(unknown)} (bands are {', '.join(FAMILY)})"
    try:
        spans = sorted((int(low), int(high), name) for name, (low, high) in bands.items())
    except (TypeError, ValueError):
        return "each band must be a pair of convolution counts, like small=0-7"
    for low, high, name in spans:
        if not 0 <= low <= high <= MAX_CONVS:
            return f"band {name}={low}-{high} must satisfy 0 <= low <= high <= {MAX_CONVS} convolutions per cell"
    if spans[0][0] != 0:
        return f"the bands leave a gap: 0-{spans[0][0] - 1} convolutions per cell belong to no band"
    for (_, high, name), (low, _, after) in zip(spans, spans[1:]):
        if low <= high:
            return f"bands {name} and {after} overlap at {low}-{high} convolutions per cell"
        if low > high + 1:
            return f"the bands leave a gap: {high + 1}-{low - 1} convolutions per cell between {name} and {after}"
    order = [name for _, _, name in spans]
    if order != [n for n in FAMILY if n in bands]:
        return f"bands must grow in the order {', '.join(n for n in FAMILY if n in bands)}, got {', '.join(order)}"
    return None


def parse_bands(text: str) -> dict[str, tuple[int, int]]:
    """``small=0-7,medium=8-10,large=11-13`` -> a bands dict (checked by ``bands_problem``)."""
    bands: dict[str, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, span = part.partition("=")
        low, _, high = span.partition("-")
        try:
            bands[name.strip()] = (int(low), int(high))
        except ValueError:
            raise InvalidInput(
                f"bad band {part!r}: write NAME=LOW-HIGH convolutions per cell, like small=0-7"
            ) from None
    problem = bands_problem(bands)
    if problem:
        raise InvalidInput(problem)
    return bands


def _pgd7(name: str, **changes: Any) -> Recipe:
    base = Recipe(
        name=name,
        dataset="digits",
        epochs=5,
        batch_size=64,
        lr=0.05,
        final_lr=1e-3,
        attack="pgd7",
        attack_params={"alpha": 2 / 255, "random_start": True},
        attack_mode="train",
        validation_size=256,
    )
    return base.with_overrides(**changes)


PRESETS: dict[str, SearchSettings] = {
    "demo": SearchSettings(
        preset="demo",
        dataset="digits",
        space="both",
        candidates=40,
        free_candidates=16,
        width=4,
        layers=5,
        supernet=_pgd7("demo-supernet", epochs=4),
        finetune=_pgd7("demo-finetune", epochs=3, lr=0.02),
        scorer="inherited",
        finetune_subset=0,
        score_attack="pgd7",
        validation_size=256,
        score_examples=160,
        calibration_images=128,
        fsp_examples=32,
        sampler="density",
        pairs_per_count=3,
        holdout_size=160,
        supernets=2,
    ),
    "paper": SearchSettings(
        preset="paper",
        dataset="cifar10",
        space="both",
        candidates=1000,
        free_candidates=1000,
        width=24,
        layers=FAMILY_LAYERS,
        supernet=_pgd7("paper-supernet", dataset="cifar10", epochs=300, augment="crop-flip", validation_size=10000),
        finetune=_pgd7(
            "paper-finetune", dataset="cifar10", epochs=3, lr=0.01, augment="crop-flip", validation_size=10000
        ),
        scorer="finetune",
        finetune_subset=None,
        score_attack="pgd20",
        score_examples=2000,
        validation_size=10000,
        calibration_images=1024,
        fsp_examples=256,
        sampler="edge",
        pairs_per_count=10,
        holdout_size=5000,
    ),
}


# Why the demo searches the digits at 8/255 (docs/search.md, "A setting where architectures differ
# more than seeds do"); shown in the summary of a search at exactly that data set and radius.
DEMO_RADIUS_NOTE = (
    "the demo trains with FGSM from a random start at Linf 8/255 on the built-in digits, 5 epochs: of the "
    "settings benchmarks/discrimination.py compared, the one whose random cells of a band differ most surely "
    "beside how much seeds do (the highest lower bound of the intraclass correlation), though its trainings "
    "have not reached a plateau (docs: the search)"
)


def radius_note(settings: SearchSettings) -> str | None:
    """``DEMO_RADIUS_NOTE`` for a search on the digits at 8/255, else None."""
    threat = settings.supernet.threat_model
    if settings.dataset == "digits" and threat.norm == "Linf" and abs(threat.eps - 8 / 255) < 1e-12:
        return DEMO_RADIUS_NOTE
    return None


def get_preset(name: str) -> SearchSettings:
    """A preset by name, or a settings JSON file (the ``search.json`` of an earlier search,
    edited at will: every field of ``SearchSettings``)."""
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if path.suffix != ".json":
        raise NotFound(f"unknown search preset {name!r}; presets: {', '.join(PRESETS)} (or a search.json file)")
    return SearchSettings.from_dict(
        read_json(
            path,
            "search settings file",
            expect=dict,
            missing=f"no search settings file at {path}",
            fix="fix the JSON, or name a preset",
        ),
        source=str(path),
    )
