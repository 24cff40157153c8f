"""Small file helpers: every file we write is written atomically (temp file + rename).

The temporary file is created by ``mkstemp`` with mode 0600; before the rename it gets the
mode a plain ``open(path, "w")`` would have given it (0666 less the umask), so saved models
and results are readable by whoever the user's umask allows, as any other file they write.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from .errors import InvalidInput, NotFound


def current_umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable_file(path: Path, what: str = "output") -> None:
    """Fail early, in one line, for a path we could not write a file to."""
    if path.is_dir():
        raise InvalidInput(f"{what} {path} is a folder; give a file name inside it, e.g. {path / 'results.json'}")
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInput(f"cannot write {what} {path}: {existing} is not a writable folder; choose another location")


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: a kill never leaves half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (PermissionError, NotADirectoryError, FileExistsError) as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}; choose another location") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except IsADirectoryError:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: it is a folder; give a file name") from None
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


def read_json(path: Path, missing: str) -> Any:
    """The JSON in a file the user named (a settings or recipe file): ``missing`` is the one
    line for a file that is not there; a file that is not JSON says so."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(missing) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not JSON ({exc})") from None
