"""The one way robnetzoo reads and writes its files, and decides whether it may.

- Writing: every file is written atomically (temp file + rename), so a kill never leaves half
  a file. The temporary file is created by ``mkstemp`` with mode 0600; before the rename it
  gets the mode a plain ``open(path, "w")`` would have given it (0666 less the umask), so
  saved models and results are readable by whoever the user's umask allows.
- Reading: :func:`read_json`, :func:`read_jsonl` and :func:`read_torch_file` turn a missing,
  corrupt, truncated or foreign file into one typed error naming the file, what it should have
  been and the fix (``CorruptFile``), wherever it is read; checkpoints are never unpickled.
- Records: a file's rows are dataclasses whose fields carry their documentation
  (:func:`column`); :func:`record_from_dict` reads one back with a typed error for a missing
  field, and :func:`schema` / :func:`schema_table` give the column list the docs print, so the
  docs cannot drift from what is written.
- Output policy: :func:`output_mode` is the one rule for a results file, run, search, export or
  model folder that already exists: continue it with ``resume``, replace it with
  ``overwrite``, or refuse. Nothing of the user's is replaced without the explicit flag.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

from .errors import CorruptFile, InvalidInput, MissingDependency, NotFound, option


def current_umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable_file(path: Path, what: str = "output") -> None:
    """Fail early, in one line, for a path we could not write a file to."""
    if path.is_dir():
        raise InvalidInput(
            f"{what} {path} is a folder", fix=f"give a file name inside it, e.g. {path / 'results.json'}"
        )
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInput(
            f"cannot write {what} {path}: {existing} is not a writable folder", fix="choose another location"
        )


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: a kill never leaves half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (PermissionError, NotADirectoryError, FileExistsError) as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}", fix="choose another location") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except IsADirectoryError:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: it is a folder", fix="give a file name") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write)


def write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    """``data`` as JSON, atomically."""
    atomic_write_text(Path(path), json.dumps(data, indent=indent) + "\n")


# ------------------------------------------------------------------------------------ reading


_JSON_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def read_json(
    path: str | Path,
    kind: str,
    *,
    fix: str,
    missing: str | None = None,
    expect: type = object,
    format: str | None = None,
) -> Any:
    """The JSON of a file robnetzoo reads, or one typed error.

    ``kind`` names what the file should be ("results file", "training run's run.json"), ``fix``
    what to do when it is damaged. A missing file is ``NotFound(missing)`` (default: it says the
    file is missing, with ``fix``). ``expect`` is the type of the top-level value; ``format`` the
    value its ``"format"`` key must hold, so another program's JSON is refused by name.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise NotFound(missing or f"{path} is missing (no {kind})", fix=None if missing else fix, path=path) from None
    except IsADirectoryError:
        raise CorruptFile(path, kind, "it is a folder", fix=fix) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFile(path, kind, f"not JSON: {_short(exc)}", fix=fix) from None
    if not isinstance(data, expect):
        raise CorruptFile(
            path,
            kind,
            f"holds a JSON {_JSON_NAMES.get(type(data), type(data).__name__)}, "
            f"not a JSON {_JSON_NAMES.get(expect, expect.__name__)}",
            fix=fix,
        )
    if format is not None and (not isinstance(data, dict) or data.get("format") != format):
        raise CorruptFile(path, kind, f"its format is not {format!r}", fix=fix)
    return data


def read_jsonl(path: str | Path, kind: str, *, fix: str) -> list[dict[str, Any]]:
    """The records of an append-only JSON-lines file (no file: none).

    A torn *last* line is what a kill mid-append leaves: it is dropped, and the record is
    redone. A damaged line before it is corruption, refused like any damaged file.
    """
    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except FileNotFoundError:
        return []
    except UnicodeDecodeError as exc:
        raise CorruptFile(path, kind, f"not text: {_short(exc)}", fix=fix) from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break  # torn by a kill mid-append
            raise CorruptFile(path, kind, f"line {number} is not JSON: {_short(exc)}", fix=fix) from None
        if not isinstance(record, dict):
            raise CorruptFile(path, kind, f"line {number} is not a JSON object", fix=fix)
        records.append(record)
    return records


def append_jsonl(path: Path, records: list[dict[str, Any]], *, sort_keys: bool = False) -> None:
    """Append ``records`` to a JSON-lines file, durably. A kill mid-append leaves a last line
    without its newline; it is cut first, so the new line never glues onto it (``read_jsonl``
    already ignores it: its record is redone)."""
    lines = "".join(json.dumps(r, sort_keys=sort_keys) + "\n" for r in records)
    if not lines:
        return
    path = Path(path)
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(path, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())


# torch.load(weights_only=True) is only a safe reader of untrusted files from torch 2.10 on:
# 2.5.1 and older run code from a crafted file (CVE-2025-32434), and so do releases before
# 2.10.0 through another path (GHSA-63cw-57p8-fm3p). pyproject.toml requires 2.10; this check
# holds where an older torch was installed around that requirement.
SAFE_TORCH_LOAD = (2, 10)


def require_safe_torch_load(version: str) -> None:
    """Refuse to read pickled checkpoints on a torch whose safe loading can run code."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None or (int(match.group(1)), int(match.group(2))) < SAFE_TORCH_LOAD:
        raise MissingDependency(
            f"torch {version} can run code hidden in a checkpoint even with safe loading, so robnetzoo "
            f"reads none with it; upgrade: pip install 'torch>={SAFE_TORCH_LOAD[0]}.{SAFE_TORCH_LOAD[1]}' "
            "(safetensors weights load on any version)"
        )


def read_torch_file(
    path: str | Path, kind: str, *, fix: str, format: str | None = None, trust_pickle: bool = False
) -> Any:
    """A ``torch.save`` file, loaded without unpickling code (``weights_only=True``) unless the
    caller trusts its source. A missing, empty, truncated or foreign file is one typed error;
    ``format`` is the value a robnetzoo checkpoint's ``"format"`` key must hold."""
    import torch

    require_safe_torch_load(torch.__version__)
    path = Path(path)
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder", fix=f"give the {kind} file")
    if not path.is_file():
        raise NotFound(f"no {kind} at {path}", fix="check the path", path=path)
    if path.stat().st_size == 0:
        raise CorruptFile(path, kind, "the file is empty", fix=fix)
    try:
        state = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as exc:  # truncated, foreign, or pickled classes safe loading refuses
        raise CorruptFile(path, kind, _short(exc), fix=fix) from exc  # __cause__: what torch said
    if format is not None and (not isinstance(state, dict) or state.get("format") != format):
        raise CorruptFile(path, kind, f"its format is not {format!r}", fix=fix)
    return state


def _short(exc: BaseException) -> str:
    """The telling line of an exception's message (torch's refusal of a pickled class names
    it on a later line), without terminal escapes, cut to a length that fits one line."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    if any("PytorchStreamReader" in line for line in lines):  # torch's words for a cut zip archive
        return "truncated, or not a torch.save file"
    telling = [line for line in lines if "Unsupported global" in line or "GLOBAL" in line]
    text = (telling or lines or [type(exc).__name__])[0]
    return text if len(text) <= 160 else text[:157] + "..."


# ------------------------------------------------------------------------------ output policy


class OutputMode(enum.Enum):
    """What an operation does with its output: start it, continue it, or replace it."""

    NEW = "new"
    RESUME = "resume"
    OVERWRITE = "overwrite"


def output_mode(
    path: Path,
    what: str,
    *,
    holds: bool,
    resume: bool = False,
    overwrite: bool = False,
    can_resume: bool = True,
    can_overwrite: bool = True,
    folder: bool = True,
    require_empty: bool | None = None,
    resume_needs_one: bool = True,
    argument: str = "output",
) -> OutputMode:
    """The one rule for an output that may exist already.

    ``what`` names what the output holds, with its article ("a training run", "an export").
    ``holds``: ``path`` holds it already. Then ``resume`` continues it and ``overwrite``
    replaces it, where the operation supports that (``can_resume``, ``can_overwrite``);
    otherwise it is refused, never replaced. ``folder``: the output is a folder, and unless
    ``require_empty`` is False, one that holds something else is refused too: it is not ours
    to fill. ``resume`` with nothing there is refused, unless ``resume_needs_one`` is False
    (then it starts one: "continue if there is anything to continue"). ``argument`` is the
    caller's name for the output path, as messages name it.
    """
    noun = what.split(" ", 1)[1] if what.split(" ", 1)[0] in ("a", "an") else what
    if resume and overwrite:
        raise InvalidInput(
            f"{option('resume', True)} and {option('overwrite', True)} contradict each other", fix="pick one"
        )
    if folder and path.exists() and not path.is_dir():
        raise InvalidInput(f"{option(argument)} {path} is a file", fix=f"give a folder for the {noun}", path=path)
    if holds:
        if resume and can_resume:
            return OutputMode.RESUME
        if overwrite and can_overwrite:
            return OutputMode.OVERWRITE
        if can_resume and can_overwrite:
            fix = (
                f"pass {option('resume', True)} to continue it, {option('overwrite', True)} to replace it, "
                f"or choose another {option(argument)}"
            )
        elif can_resume:
            fix = f"pass {option('resume', True)} to continue it, or choose another {option(argument)}"
        elif can_overwrite:
            fix = f"pass {option('overwrite', True)} to replace it, or choose another {option(argument)}"
        else:
            fix = f"choose another {option(argument)}"
        if folder:
            raise InvalidInput(f"{path} already holds {what}", fix=fix, path=path)
        raise InvalidInput(f"{path} already exists ({what})", fix=fix, path=path)
    if resume and resume_needs_one:
        raise InvalidInput(
            f"nothing to resume: {path} holds no {noun}",
            fix=f"drop {option('resume', False)} to start one there",
            path=path,
        )
    if folder and (require_empty is not False) and path.is_dir() and any(path.iterdir()):
        raise InvalidInput(
            f"{option(argument)} {path} is not empty and holds no {noun}",
            fix="choose an empty or new folder",
            path=path,
        )
    return OutputMode.NEW


# ------------------------------------------------------------------------------------ records

Record = TypeVar("Record")


def column(doc: str, default: Any = dataclasses.MISSING, *, public: bool = True) -> Any:
    """A dataclass field of a file's row, documented where it is declared. ``public=False``:
    written for robnetzoo's own reading, left out of the schema users are shown."""
    return dataclasses.field(default=default, metadata={"doc": doc, "public": public})


def schema(cls: type, *, public_only: bool = True) -> dict[str, str]:
    """``{field: its documentation}`` of a record class declared with :func:`column`."""
    return {
        f.name: f.metadata["doc"]
        for f in dataclasses.fields(cls)
        if "doc" in f.metadata and (f.metadata["public"] or not public_only)
    }


def schema_table(columns: dict[str, str], header: str = "column") -> str:
    """A schema as the Markdown table the docs print."""
    lines = [f"| {header} | meaning |", "|---|---|"]
    escaped = {name: doc.replace("|", "\\|") for name, doc in columns.items()}  # a | inside a cell
    lines += [f"| `{name}` | {doc} |" for name, doc in escaped.items()]
    return "\n".join(lines)


def record_to_dict(record: Any) -> dict[str, Any]:
    """A record as plain JSON values, in field order."""
    return dataclasses.asdict(record)


def record_from_dict(cls: type[Record], data: Any, *, path: str | Path, kind: str, fix: str) -> Record:
    """A record read back from ``data`` (a JSON object): a missing required field or a value
    that is not an object is ``CorruptFile`` naming the file; fields it does not declare are
    ignored (a newer writer may add some)."""
    if not isinstance(data, dict):
        what = _JSON_NAMES.get(type(data), type(data).__name__)
        raise CorruptFile(path, kind, f"a JSON {what} where an object belongs", fix=fix)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    missing = [
        name
        for name, f in known.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise CorruptFile(path, kind, f"no {', '.join(missing[:3])} field", fix=fix)
    return cls(**{name: data[name] for name in known if name in data})
