"""A finished run -> a Hub repository, in one commit, only after it proves what it claims.

``publish`` refuses a folder that is not a run, an unfinished run and a run without its
evaluation; reloads the Hub folder's weights strictly; re-runs the evaluation on the first few
test images (same seed, same per-example random starts) and compares every per-example result
with the run's own ``eval_results.json``; rewrites the model card; then uploads ``config.json``,
``model.safetensors`` and ``README.md`` with ``huggingface_hub`` (``create_repo``, a branch when
``revision`` names one, ``upload_folder``). HTTP failures become one line saying what to do.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from robnetzoo.config import ModelConfig
from robnetzoo.data import load_dataset
from robnetzoo.errors import IntegrityError, InvalidInput, NotFound, option
from robnetzoo.evaluation import EvalReport, evaluate
from robnetzoo.evaluation.store import read_results_file
from robnetzoo.hub import CARD_NAME, EVAL_RESULTS_NAME, eval_results_yaml, load_folder, model_card
from robnetzoo.registry import check_repo_id

from .card import training_notes
from .recipes import Recipe
from .runs import EVAL_RESULTS_FILE, HUB_FILES, read_run, read_run_report

CHECK_EXAMPLES = 8


@dataclass
class PublishResult:
    repo_id: str
    folder: str
    files: list[str]
    url: str | None
    checked: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_run(run_dir: str | Path, n_check: int = CHECK_EXAMPLES) -> tuple[dict[str, Any], EvalReport, int]:
    """The run's record and report, once its weights reproduce ``eval_results.json`` on the
    first ``n_check`` test images; ``IntegrityError`` naming the first mismatch otherwise."""
    path = Path(run_dir)
    run = read_run(path)
    status = run.get("status")
    if status != "finished":
        raise InvalidInput(
            f"{path} is an unfinished run ({status})",
            fix=f"finish it first: rerun its robnetzoo train command with {option('resume', True)}",
            path=path,
        )
    report = read_run_report(path)
    if not (path / EVAL_RESULTS_FILE).is_file():
        raise NotFound(f"{path} has no evaluation ({EVAL_RESULTS_FILE} is missing)")
    saved = read_results_file(
        path / EVAL_RESULTS_FILE,
        fix=f"rerun its robnetzoo train command with {option('resume', True)} to evaluate it again",
    )
    for name in HUB_FILES:
        if not (path / name).is_file():
            raise InvalidInput(
                f"{path} lacks {name}", fix=f"rerun its robnetzoo train command with {option('resume', True)}"
            )

    model = load_folder(path)  # strict: a missing or unexpected tensor is an error
    header = saved["header"]
    n = min(n_check, int(header["n_examples"]))
    test = load_dataset(header["dataset"], "test", run.get("data_root"))
    with tempfile.TemporaryDirectory() as tmp:
        evaluate(
            model,
            test,
            attacks=header["attacks"],
            norm=header["threat_model"]["norm"],
            eps=header["threat_model"]["eps"],
            n_examples=n,
            seed=header["seed"],
            cascade=header["cascade"],
            attack_params=header["attack_params"],
            output=Path(tmp) / "check.json",
            device="cpu",
        )
        fresh = read_results_file(Path(tmp) / "check.json")["results"]  # just written by us
    for phase, marks in fresh.items():
        expected = saved["results"][phase][:n]
        if marks != expected:
            first = next(i for i, (a, b) in enumerate(zip(marks, expected)) if a != b)
            raise IntegrityError(
                f"{path}: the saved weights do not reproduce eval.json ({phase}, test image {first}: "
                f"{marks[first]!r} now, {expected[first]!r} recorded); the weights or results were changed after "
                "training"
            )
    return run, report, n


def publish(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    dry_run: bool = False,
    on_upload: Callable[[], None] | None = None,
) -> PublishResult:
    """Verify ``run_dir`` and upload its Hub folder to ``repo_id`` (``dry_run``: verify and
    write the card only). Returns the commit URL."""
    check_repo_id(repo_id)
    path = Path(run_dir)
    run, report, checked = verify_run(path)
    identity = run["identity"]
    config = ModelConfig.load(path / "config.json")
    recipe = Recipe.from_dict(identity["recipe"], source=str(path / "run.json"))
    notes = training_notes(config, recipe, report, run.get("best"), identity["seed"])
    from robnetzoo._io import atomic_write_text

    atomic_write_text(
        path / CARD_NAME, model_card(config, report.eval_results(), notes, repo_id=repo_id, checks=report.checks)
    )
    atomic_write_text(path / EVAL_RESULTS_NAME, eval_results_yaml(config, report.eval_results()))
    files = [*HUB_FILES, EVAL_RESULTS_NAME]
    if dry_run:
        return PublishResult(repo_id, str(path), files, None, checked)
    if on_upload is not None:
        on_upload()
    url = _upload(path, repo_id, private=private, revision=revision, token=token, files=files, name=config.name)
    return PublishResult(repo_id, str(path), files, url, checked)


def _upload(
    path: Path, repo_id: str, *, private: bool, revision: str | None, token: str | None, files: list[str], name: str
) -> str:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            folder_path=path,
            repo_id=repo_id,
            revision=revision,
            allow_patterns=files,
            commit_message=f"Upload {name} (robnetzoo publish)",
        )
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise InvalidInput(
                f"the Hub refused the upload to {repo_id} (HTTP {status}): no token, or one without write access; "
                "log in with `hf auth login` or pass --token (a write token)"
            ) from None
        raise InvalidInput(f"the Hub refused the upload to {repo_id}: {str(exc).splitlines()[0]}") from None
    except _network_errors() as exc:  # connection refused, DNS, timeouts: the environment, not the run
        raise InvalidInput(
            f"cannot reach the Hub to upload {repo_id} ({type(exc).__name__}: {exc})",
            fix="check the network, or HF_ENDPOINT",
        ) from None
    return str(getattr(info, "commit_url", info))


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed connection raises: ``OSError`` (requests' errors derive from it), and the
    transport errors of the HTTP client huggingface_hub uses (``httpx``, or ``httpx2`` from
    huggingface_hub 2), which it lets through and which do not."""
    import importlib

    errors: list[type[BaseException]] = [OSError]
    for client in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(client).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)
