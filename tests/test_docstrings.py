"""The package's public API reads as documented: docstrings, Args/Returns, type hints, no lab notes.

Public means a module-level function or class, or a method of a public class, whose name does
not start with an underscore (dunder methods other than ``__init__`` are skipped; ``__init__``'s
arguments are documented in its class's docstring or its own). Measurements (dB results, timings,
"on this machine") go stale in a docstring: they live in ``bench/`` output and the README.
"""

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "vocalsep"
FILES = sorted(PACKAGE.rglob("*.py"))

# Words of a lab note: a result or a timing, which belongs in bench/ output and the README.
LAB_NOTE = re.compile(
    r"\bthis (VM|machine|CPU)\b|\bmeasured\b|\b\d+(\.\d+)?x (faster|slower)\b|\btimes (faster|slower)\b"
    r"|[-+]?\d+\.\d+ dB\b(?!FS)|\bon \d+ (held-out )?pairs\b",
    re.IGNORECASE,
)


def public_definitions(tree: ast.Module):
    """(qualified name, node) of the public functions, classes and methods of a module."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield node.name, node
            for item in node.body:
                if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if item.name == "__init__" or not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


def decorator_names(node: ast.FunctionDef) -> set[str]:
    names = set()
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        names.add(target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", ""))
    return names


def arguments(node: ast.FunctionDef) -> list[ast.arg]:
    """The arguments a caller passes (self and cls left out)."""
    args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    extra = [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
    named = [a for a in args if a.arg not in ("self", "cls")]
    return named + extra


def returns_something(node: ast.FunctionDef) -> bool:
    ret = node.returns
    return not (ret is None or (isinstance(ret, ast.Constant) and ret.value is None))


def problems_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    if not ast.get_docstring(tree):
        found.append("module: no docstring")
    docstrings = [("module", ast.get_docstring(tree) or "")]
    for name, node in public_definitions(tree):
        doc = ast.get_docstring(node)
        docstrings.append((name, doc or ""))
        if isinstance(node, ast.ClassDef):
            if not doc:
                found.append(f"{name}: no docstring")
            continue
        decorators = decorator_names(node)
        args = arguments(node)
        unhinted = [a.arg for a in args if a.annotation is None]
        if unhinted:
            found.append(f"{name}: arguments without type hints {unhinted}")
        if node.returns is None and node.name != "__init__":
            found.append(f"{name}: no return type hint")
        if node.name == "__init__":
            continue  # documented by the class
        if not doc:
            found.append(f"{name}: no docstring")
            continue
        if "property" in decorators or "setter" in decorators:
            continue
        if args and "Args:" not in doc:
            found.append(f"{name}: docstring has no Args: section")
        if returns_something(node) and not re.search(r"^\s*(Returns|Yields):", doc, re.MULTILINE):
            found.append(f"{name}: docstring has no Returns: section")
    for name, doc in docstrings:
        note = LAB_NOTE.search(doc)
        if note:
            found.append(f"{name}: a measurement in the docstring ({note.group(0)!r}); it belongs in bench/ or README")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_public_api_is_documented(path: Path):
    problems = problems_of(path)
    assert not problems, "\n".join(problems)


def test_the_check_fails_on_an_undocumented_function(tmp_path):
    """The check is not vacuous: each kind of gap in a small module is reported."""
    module = tmp_path / "mod.py"
    module.write_text(
        '"""A module."""\n\n'
        "def bare(x):\n    return x\n\n\n"
        "def hinted(x: int) -> int:\n"
        '    """Doubles x, 3.2x faster than before."""\n    return 2 * x\n\n\n'
        "def good(x: int) -> int:\n"
        '    """Doubles x.\n\n    Args:\n        x: a number.\n\n    Returns:\n        2 x.\n    """\n'
        "    return 2 * x\n\n\n"
        "def _private(x):\n    return x\n"
    )
    problems = problems_of(module)
    assert "bare: arguments without type hints ['x']" in problems
    assert "bare: no return type hint" in problems
    assert "bare: no docstring" in problems
    assert "hinted: docstring has no Args: section" in problems
    assert "hinted: docstring has no Returns: section" in problems
    assert any(p.startswith("hinted: a measurement") for p in problems)
    assert not any(p.startswith(("good", "_private")) for p in problems)
