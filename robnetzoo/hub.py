"""Hub folders: ``config.json`` + ``model.safetensors`` + ``README.md`` (model card).

``from_pretrained`` accepts a registry name, a Hub repo id (``org/name``) or a local folder,
and always loads strictly. Downloads go through ``huggingface_hub`` so its cache,
``HF_HUB_OFFLINE=1``, ``HF_ENDPOINT`` and tokens behave as users of the Hub expect. Hub
failures are turned into one line that says what to do, not a stack of HTTP errors.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import torch
from torch import nn

from ._io import atomic_write_text, output_mode
from .config import ModelConfig, build_model, config_of
from .errors import IntegrityError, InvalidInput, NotFound, option
from .naming import is_name
from .registry import HUB_ORG_ENV, Source, buildable_config, check_repo_id, get_entry, resolve_source
from .weights import check_state_dict, load_strict, read_safetensors, safetensors_shapes, write_safetensors

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
EVAL_RESULTS_NAME = ".eval_results/robnetzoo.yaml"  # the Hub's eval-results format, beside model-index
PAPER_ARXIV = "1911.10695"  # Guo et al., "When NAS Meets Robustness", CVPR 2020
# The Hub's ids of the data sets, for .eval_results (a data set without one keeps its own name).
HUB_DATASETS = {
    "cifar10": "uoft-cs/cifar10",
    "cifar100": "uoft-cs/cifar100",
    "svhn": "ufldl-stanford/svhn",
    "imagenet": "ILSVRC/imagenet-1k",
    "tiny-imagenet": "zh-plus/tiny-imagenet",
}


# ---------------------------------------------------------------------------- saving


def model_config(model: nn.Module) -> ModelConfig:
    config = config_of(model)
    if config is None:
        raise InvalidInput(
            "this model carries no robnetzoo config; build it with robnetzoo.create_model() "
            "or attach one: robnetzoo.config.attach_config(model, ModelConfig(...))"
        )
    return config


def save_pretrained(
    model: nn.Module,
    save_directory: str | Path,
    *,
    eval_results: Iterable[Mapping[str, Any]] | None = None,
    notes: str = "",
    overwrite: bool = False,
    checks: Iterable[Mapping[str, Any]] = (),
) -> Path:
    """Write a Hub folder. Each file is written atomically, so a kill leaves the old one whole.
    A folder that already holds any file this writes (a model, or a README.md or eval results
    of the user's) is replaced only with ``overwrite=True``; other files in the folder (a
    training run's) are left alone.

    ``eval_results`` are dicts with ``metric`` (``"clean"`` or an attack name), ``accuracy``
    (percent), and optionally ``eps``, ``n_examples``, ``split``: they go to the card's
    ``model-index`` so the Hub shows them, and to ``.eval_results/robnetzoo.yaml`` (the Hub's
    newer eval-results format). ``checks`` (``EvalReport.checks``) are summarised in the card.
    """
    config = model_config(model)
    directory = Path(save_directory)
    ours = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, Path(EVAL_RESULTS_NAME).parts[0])  # .eval_results/ as a whole
    holds = any((directory / name).exists() for name in ours)
    output_mode(
        directory,
        "a model",
        holds=holds,
        overwrite=overwrite,
        can_resume=False,
        require_empty=False,
        argument="save_directory",
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (PermissionError, FileExistsError, NotADirectoryError) as exc:
        raise InvalidInput(
            f"cannot write a model folder at {directory}: {exc.strerror or exc}; choose another location"
        ) from None
    write_safetensors(model, directory / WEIGHTS_NAME, {"robnetzoo_arch": config.arch})
    config.save(directory / CONFIG_NAME)
    results = list(eval_results or ())
    atomic_write_text(directory / CARD_NAME, model_card(config, results, notes, checks=checks))
    if results:
        atomic_write_text(directory / EVAL_RESULTS_NAME, eval_results_yaml(config, results))
    return directory


def eval_results_entries(config: ModelConfig, eval_results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``eval_results`` rows in the Hub's ``.eval_results/*.yaml`` form (what
    ``huggingface_hub.eval_result_entries_to_yaml`` writes): one entry per metric, its task id
    naming the attack and threat model, its notes the number of examples."""
    entries = []
    for result in eval_results:
        metric = str(result["metric"])
        threat = config.threat_model.with_overrides(norm=result.get("norm"), eps=result.get("eps"))
        task = "clean" if metric == "clean" else f"{metric}-{threat.norm.lower()}-{threat.eps_text().replace('/', '_')}"
        notes = [
            f"n={result['n_examples']}" if "n_examples" in result else None,
            None if metric == "clean" else f"robust accuracy, {threat}",
            f"split {result.get('split', 'test')}",
            cost_text(result),
        ]
        entries.append(
            {
                "dataset": {"id": HUB_DATASETS.get(config.dataset, config.dataset), "task_id": task},
                "value": round(float(result["accuracy"]), 2),
                "notes": "; ".join(n for n in notes if n),
            }
        )
    return entries


def eval_results_yaml(config: ModelConfig, eval_results: Iterable[Mapping[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump(eval_results_entries(config, eval_results), sort_keys=False)


def cost_text(result: Mapping[str, Any]) -> str | None:
    """What one measurement cost, from an eval-results row (None when the row does not say)."""
    if "forward_passes" not in result:
        return None
    return (
        f"cost {int(result['forward_passes']):,} forward + {int(result['backward_passes']):,} backward "
        f"image-passes, {float(result['seconds']):.1f} s on {result.get('device') or 'an unrecorded device'}"
    )


def model_card(
    config: ModelConfig,
    eval_results: Iterable[Mapping[str, Any]] = (),
    notes: str = "",
    repo_id: str | None = None,
    checks: Iterable[Mapping[str, Any]] = (),
) -> str:
    """The README.md of a model repo: YAML metadata the Hub indexes (``pipeline_tag``, the
    paper's arXiv id, ``base_model`` for a derived model, ``model-index``), then a human
    summary with the evaluation's cost and sanity checks. ``repo_id`` (where the card is
    published) is what its loading snippet names. Every name that reaches the card is escaped."""
    eval_results = list(eval_results)
    data = card_metadata(config, eval_results)
    lines = [
        "---",
        data.to_yaml(),
        "---",
        "",
        *_card_summary(config, measured=bool(eval_results), repo_id=repo_id),
        *_card_evaluation(eval_results, list(checks)),
        "",
        f'The RobNet family: Guo et al., "When NAS Meets Robustness", CVPR 2020, '
        f"[arXiv:{PAPER_ARXIV}](https://arxiv.org/abs/{PAPER_ARXIV}).",
    ]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def card_metadata(config: ModelConfig, eval_results: list[Mapping[str, Any]]) -> Any:
    """The card's YAML front matter (``huggingface_hub.ModelCardData``), with a ``model-index``
    entry per eval-results row."""
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    for result in eval_results:
        metric = str(result["metric"])
        threat = config.threat_model.with_overrides(norm=result.get("norm"), eps=result.get("eps"))
        label = "clean accuracy" if metric == "clean" else f"{metric} robust accuracy ({threat})"
        results.append(
            EvalResult(
                task_type="image-classification",
                dataset_type=config.dataset,
                dataset_name=config.dataset.upper(),
                dataset_split=result.get("split", "test"),
                metric_type="accuracy" if metric == "clean" else "robust_accuracy",
                metric_name=label,
                metric_value=round(float(result["accuracy"]), 2),
                metric_args={
                    **({"n_examples": result["n_examples"]} if "n_examples" in result else {}),
                    **({} if metric == "clean" else threat.to_dict()),
                }
                or None,
            )
        )
    base = config.derived_from["name"] if config.derived_from else None
    return ModelCardData(
        library_name="robnetzoo",
        license="mit",
        pipeline_tag="image-classification",
        tags=["robnetzoo", "adversarial-robustness", "image-classification", config.arch, f"arxiv:{PAPER_ARXIV}"],
        datasets=[config.dataset],
        model_name=config.name,
        base_model=_hub_id(base) if base and is_repo_or_name(base) else None,  # metadata the Hub links
        eval_results=results or None,
    )


def _card_summary(config: ModelConfig, *, measured: bool, repo_id: str | None) -> list[str]:
    """What the model is, how to load it, its threat model, where it comes from, its genotype."""
    name, arch, dataset = (html.escape(str(v)) for v in (config.name, config.arch, config.dataset))
    what = (
        f"An adversarially trained `{arch}`"
        if measured
        else f"A `{arch}` whose robustness this card does not report (no evaluation was saved with it; "
        "it may be untrained)"
    )
    lines = [
        f"# {name}",
        "",
        f"{what}, from the robnetzoo model zoo, "
        f"for {dataset} ({config.num_classes} classes, input {'x'.join(map(str, config.input_size))}, "
        "pixels in [0, 1], no normalisation).",
        "",
        "```python",
        "import robnetzoo",
        # the source is a name or a path without quotes in it
        f'model = robnetzoo.from_pretrained("{_loading_source(config, repo_id)}")  # eval mode',
        "```",
        "",
        f"Threat model: {config.threat_model.norm}, eps = {config.threat_model.eps_text()}.",
    ]
    if config.derived_from:
        changed = ", ".join(f"{k}={v}" for k, v in config.derived_from["changed"].items() if k != "genotype")
        lines += [
            "",
            f"Derived from `{html.escape(str(config.derived_from['name']))}` "
            f"({html.escape(changed) or 'genotype changed'}): "
            "not the published model, and the paper's numbers for it do not apply.",
        ]
    genotype = config.genotype()
    if genotype is not None:
        lines += [
            "",
            f"Genotype ({len(genotype.cells)} cell(s)), density {genotype.density():.3f}:",
            "",
            "```",
            *("".join(c) for c in genotype.cells),
            "```",
        ]
    return lines


def _card_evaluation(eval_results: list[Mapping[str, Any]], checks: list[Mapping[str, Any]]) -> list[str]:
    """What each measurement cost, and the evaluation's sanity checks."""
    lines: list[str] = []
    costs = [(str(result["metric"]), text) for result in eval_results if (text := cost_text(result))]
    if costs:
        lines += ["", "What each measurement cost (passes through the model count the same on any machine):", ""]
        lines += [f"- `{html.escape(metric)}`: {html.escape(str(text))}" for metric, text in costs]
    if checks:
        failed = [c for c in checks if c.get("passed") is False]
        lines += [
            "",
            f"Sanity checks of the evaluation: {sum(c.get('passed') is True for c in checks)} passed, "
            f"{len(failed)} failed" + ("." if not failed else ":"),
            "",
        ]
        lines += [
            f"- {'passed' if c.get('passed') else ('FAILED' if c.get('passed') is False else 'not run')}: "
            f"`{c['name']}`: {c['summary']}"
            for c in checks
        ]
    return lines


def _loading_source(config: ModelConfig, repo_id: str | None) -> str:
    """What ``from_pretrained`` takes to load this card's model: where it is published, else the
    zoo name of a published registry model, else the folder the card sits in (a derived or
    unpublished model has no other home)."""
    if repo_id:
        return repo_id
    if config.derived_from is None:
        try:
            entry = get_entry(config.name)
        except NotFound:
            entry = None
        if entry is not None and entry.on_hub and entry.config is not None and entry.config.same_architecture(config):
            return config.name
    return "PATH/TO/THIS/FOLDER"


def is_repo_or_name(text: str) -> bool:
    """A registry name or a Hub repo id (``org/name``), each part a name (``naming.is_name``)."""
    parts = text.split("/")
    return len(parts) <= 2 and all(is_name(part) for part in parts)


def _hub_id(name: str) -> str | None:
    """The Hub repo a derived model's card may name as its base: a registry model's only where
    its weights are published there (a card links nothing that does not exist); another name as
    it is (a repo id the model was loaded from)."""
    try:
        entry = get_entry(name)
    except NotFound:
        return name
    return entry.hub_repo if entry.on_hub else None


def push_to_hub(
    model: nn.Module,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload robnetzoo model",
    eval_results: Iterable[Mapping[str, Any]] | None = None,
) -> str:
    """Save to a temporary folder and upload it as one commit; returns the commit URL."""
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp, eval_results=eval_results)
        info = api.upload_folder(folder_path=tmp, repo_id=repo_id, revision=revision, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


# ---------------------------------------------------------------------------- loading


def load_folder(directory: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a local Hub folder strictly; the model comes back in eval mode."""
    directory = Path(directory)
    config = ModelConfig.load(directory / CONFIG_NAME)
    with torch.device("meta"):  # config against the weights' header first: a mismatch allocates nothing
        check_state_dict(
            build_model(config), safetensors_shapes(directory / WEIGHTS_NAME), str(directory / WEIGHTS_NAME)
        )
    model = build_model(config)
    state = read_safetensors(directory / WEIGHTS_NAME, map_location)
    load_strict(model, state, str(directory / WEIGHTS_NAME))
    return model.to(map_location).eval()


def _repo_id_of(source: Source) -> str:
    if source.kind == "registry":
        buildable_config(source.value)  # a never-published architecture says so
        return get_entry(source.value).hub_repo
    return source.value


def from_pretrained(
    name_or_repo_or_dir: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    map_location: str | torch.device = "cpu",
    token: str | bool | None = None,
    force_download: bool = False,
    weights: str | os.PathLike | None = None,
    trust_pickle: bool = False,
) -> nn.Module:
    """Load a pretrained model (eval mode) from a local folder, a registry name or a repo id.

    ``weights`` names an authors' checkpoint (``.pth.tar``) to load as the registry name,
    converted on the fly and strictly (``robnetzoo.convert_checkpoint`` writes it as a folder
    once); it is read without unpickling code unless ``trust_pickle``.

    ``registry.resolve_source`` decides which: ``hf-hub:org/name`` and ``local-dir:path`` are
    explicit; a local folder wins over a name of the same spelling, as in ``transformers``.
    A registry name shipped in the package (``ModelEntry.packaged``, e.g. ``robnet-digits``)
    loads from it, offline. A registry name whose weights are not published (``ModelEntry.on_hub``) is looked up in
    the local cache only, and otherwise fails at once with the ways forward (the authors'
    checkpoint, ``robnetzoo convert``) instead of waiting on the Hub, unless
    ``$ROBNETZOO_HUB_ORG`` names an organisation that publishes it.
    ``force_download`` and ``token`` mean what they mean in ``huggingface_hub``.
    """
    source = resolve_source(name_or_repo_or_dir)
    if weights is not None:
        if source.kind != "registry":
            raise InvalidInput(
                f"{option('weights')} takes an authors' checkpoint for a registry model; {source.value} is a "
                f"{source.kind}",
                fix="name the architecture instead, e.g. robnet-large",
            )
        from .convert import load_authors_checkpoint

        return load_authors_checkpoint(weights, source.value, trust_pickle=trust_pickle)[0].to(map_location)
    if source.kind == "folder":
        if revision is not None:  # a folder has one version: asking for another is a mistake, not a no-op
            raise InvalidInput(
                f"{source.value} is a local folder, which has no revisions",
                fix=f"drop {option('revision')}, or name the Hub repo (hf-hub:ORG/NAME)",
            )
        return load_folder(Path(source.value), map_location)
    repo_id = _repo_id_of(source)
    unpublished = None
    if source.kind == "registry":
        entry = get_entry(source.value)
        if entry.packaged_dir is not None:  # shipped in the wheel: no network, no cache
            if revision is not None:
                raise InvalidInput(
                    f"{entry.name} is shipped in the package, which holds one version",
                    fix=f"drop {option('revision')}",
                )
            return load_folder(entry.packaged_dir, map_location)
        if not entry.on_hub and not os.environ.get(HUB_ORG_ENV):
            unpublished = entry
    try:
        files = {
            filename: _download(
                repo_id,
                filename,
                revision,
                cache_dir,
                local_files_only or unpublished is not None,
                token,
                force_download and not unpublished,
            )
            for filename in (CONFIG_NAME, WEIGHTS_NAME)
        }
    except NotFound:
        if unpublished is not None:
            raise NotFound(unpublished.no_weights_message()) from None
        raise
    return load_folder(Path(files[CONFIG_NAME]).parent, map_location)


# What the Hub protocol sends where the cache builds paths from it: a commit is a git SHA-1; a
# file's ETag is its git blob SHA-1, or its SHA-256 for an LFS file (quoted, perhaps weak).
_COMMIT = re.compile(r"[0-9a-f]{40}")
_ETAG = re.compile(r'(?:W/)?"?([0-9a-f]{40}|[0-9a-f]{64})"?')
_PATH_HEADERS = {"X-Repo-Commit": _COMMIT, "X-Linked-Etag": _ETAG, "ETag": _ETAG}


def _check_digests(response: Any) -> None:
    """Refuse an answer whose commit or ETag is not a hex digest: ``huggingface_hub`` joins them
    into cache paths unchecked, so ``../`` in one writes a file wherever the server likes."""
    for name, pattern in _PATH_HEADERS.items():
        value = response.headers.get(name)
        if name == "ETag" and response.request.method != "HEAD":
            continue  # a download's own ETag (a CDN's) names no path; the HEAD's does
        if value is not None and not pattern.fullmatch(value):
            raise IntegrityError(
                f"the Hub at {response.request.url.host} answered {name} {value[:80]!r}, which is not a hex "
                "digest as the Hub protocol defines; nothing was written",
                fix="check HF_ENDPOINT, the proxy or the mirror",
            )


@contextlib.contextmanager
def _digests_checked() -> Iterator[None]:
    """Every answer ``huggingface_hub``'s shared client gets meanwhile passes ``_check_digests``
    first, before the client reads it (so no second request can answer differently)."""
    from huggingface_hub.utils import get_session

    hooks = get_session().event_hooks["response"]
    hooks.append(_check_digests)
    try:
        yield
    finally:
        hooks.remove(_check_digests)


def _check_revision(revision: str) -> None:
    """A branch, tag or commit: the cache writes ``refs/<revision>``, so no part may climb out."""
    parts = revision.split("/")
    if any(part in ("", ".", "..") for part in parts) or not revision.isprintable() or "\\" in revision:
        raise InvalidInput(f"revision {revision!r} is not a branch, tag or commit name", fix="check the revision")


def _download(
    repo_id: str,
    filename: str,
    revision: str | None,
    cache_dir: str | Path | None,
    local_files_only: bool,
    token: str | bool | None,
    force_download: bool = False,
) -> str:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub import errors as hub_errors

    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # its per-retry warnings are noise; we say one line
    if revision is not None:
        _check_revision(revision)
    try:
        with _digests_checked():
            return hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                token=token,
                force_download=force_download,
                library_name="robnetzoo",
            )
    except hub_errors.LocalEntryNotFoundError:
        offline = local_files_only or constants.HF_HUB_OFFLINE
        why = (
            "downloads are off (HF_HUB_OFFLINE=1 or local_files_only)"
            if offline
            else (f"the Hub at {constants.ENDPOINT} could not be reached")
        )
        raise NotFound(
            f"{repo_id}/{filename} is not in the local cache and {why}; "
            "download it once with network access, or pass a local folder"
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise NotFound(
            f"no Hub repository {repo_id} (or it is private: log in with `hf auth login`); "
            f"set {'ROBNETZOO_HUB_ORG' if repo_id.startswith('robnetzoo/') else 'the repo id'} "
            "or load a local folder"
        ) from None
    except hub_errors.RevisionNotFoundError:
        raise NotFound(f"{repo_id} has no revision {revision!r}; check the branch, tag or commit") from None
    except hub_errors.EntryNotFoundError:
        raise IntegrityError(f"{repo_id} has no {filename}; it is not a robnetzoo model repository") from None
    except hub_errors.HfHubHTTPError as exc:
        raise NotFound(f"the Hub refused {repo_id}/{filename}: {str(exc).splitlines()[0]}") from None
    finally:
        hub_logger.setLevel(level)
