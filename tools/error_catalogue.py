"""Write (or check) the catalogue of one-line errors in docs/errors.md, read from the code.

Every ``raise`` of a robnetzoo error type, and every file the project reads through its one
file layer (``read_json``, ``read_jsonl``, ``read_torch_file``), is listed with its message as
written: ``{...}`` stands for a value filled in at run time, and an argument marked with
``option(...)`` is shown in its Python spelling (the CLI prints its flag instead).

    python tools/error_catalogue.py           # rewrite the catalogue between the markers
    python tools/error_catalogue.py --check   # exit 1 if docs/errors.md is out of date (the tests run this)
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("robnetzoo", "search", "export", "cli")
PAGE = ROOT / "docs" / "errors.md"
BEGIN, END = "<!-- catalogue: begin (tools/error_catalogue.py writes this part) -->", "<!-- catalogue: end -->"
ERRORS = {"InvalidInput", "NotFound", "IntegrityError", "CorruptFile", "MissingDependency", "RobnetzooError"}
READERS = {"read_json", "read_jsonl", "read_torch_file"}


def _text(node: ast.AST | None, env: dict[str, list[ast.AST]] | None = None) -> str:
    """A message argument as a template: literal text, ``{expr}`` for values, options spelled;
    a local variable assigned a message in the same function (``env``) is read through."""
    env = env or {}
    if node is None:
        return ""
    if isinstance(node, ast.Name) and node.id in env:
        return " / ".join(_text(value, {}) for value in env[node.id])  # each message the variable may hold
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(part, env) for part in node.values)
    if isinstance(node, ast.FormattedValue):
        value = node.value
        if isinstance(value, ast.Name) and value.id in env:
            return " / ".join(_text(v, {}) for v in env[value.id])
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "option" and value.args:
            name = (
                ast.literal_eval(value.args[0])
                if isinstance(value.args[0], ast.Constant)
                else "{" + ast.unparse(value.args[0]) + "}"
            )
            if len(value.args) > 1:
                shown = ast.unparse(value.args[1])
                return f"`{name}={shown}`"
            return f"`{name}`"
        return "{" + ast.unparse(value) + "}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left, env) + _text(node.right, env)
    return "{" + ast.unparse(node) + "}"


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _rows() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    raised, reads = [], []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(), module)
            envs = {}  # each node's enclosing function's message variables, over the module's
            module_env: dict[str, list[ast.AST]] = {}
            for a in tree.body:  # module-level message text only: a number reads better by its name
                if isinstance(a, ast.Assign) and (
                    isinstance(a.value, ast.JoinedStr)
                    or (isinstance(a.value, ast.Constant) and isinstance(a.value.value, str))
                ):
                    for t in a.targets:
                        if isinstance(t, ast.Name):
                            module_env.setdefault(t.id, []).append(a.value)
            for scope in [tree, *[n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]]:
                env: dict[str, list[ast.AST]] = {k: list(v) for k, v in module_env.items()} if scope is not tree else {}
                for a in ast.walk(scope):
                    if isinstance(a, ast.Assign) and isinstance(a.value, (ast.JoinedStr, ast.Constant, ast.BinOp)):
                        for t in a.targets:
                            if isinstance(t, ast.Name):
                                env.setdefault(t.id, []).append(a.value)
                for inner in ast.walk(scope):
                    envs[id(inner)] = env
            for node in ast.walk(tree):
                env = envs.get(id(node), {})
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                    call = node.exc
                    kind = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
                    if kind not in ERRORS or not call.args:
                        continue
                    if kind == "CorruptFile" and len(call.args) >= 3:
                        message = (
                            f"{_text(call.args[0], env)} is not a readable {_text(call.args[1], env)} "
                            f"({_text(call.args[2], env)})"
                        )
                    else:
                        message = _text(call.args[0], env)
                    fix = _keyword(call, "fix")
                    if fix is not None:
                        message += f"; {_text(fix, env)}"
                    raised.append((module, kind, message))
                elif isinstance(node, ast.Call) and (getattr(node.func, "id", None) in READERS) and len(node.args) >= 2:
                    what = _text(node.args[1], env)
                    if what and not what.startswith("{"):
                        reads.append((module, what, _text(_keyword(node, "fix"), env)))
    return raised, reads


def _cell(text: str) -> str:
    """Table-cell text: pipes escaped, and brackets too (``x[0][:200]`` would read as a link)."""
    return text.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


def catalogue() -> str:
    raised, reads = _rows()
    lines = [
        BEGIN,
        "",
        "### Files the project reads",
        "",
        "A missing file is `NotFound`; a damaged, truncated or foreign one is `CorruptFile`:",
        "`{path} is not a readable {kind} ({what is wrong}); {fix}`.",
        "",
        "| where | kind | fix |",
        "|---|---|---|",
    ]
    lines += [f"| `{m}` | {_cell(k)} | {_cell(f)} |" for m, k, f in sorted(set(reads))]
    lines += ["", "### Every other one-line error", "", "| where | type | message |", "|---|---|---|"]
    lines += [f"| `{m}` | `{k}` | {_cell(t)} |" for m, k, t in raised]
    lines += ["", END]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    args = parser.parse_args()
    page = PAGE.read_text()
    before, rest = page.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    fresh = before + catalogue() + after
    if args.check:
        if fresh != page:
            print(f"{PAGE} is out of date: run python tools/error_catalogue.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
