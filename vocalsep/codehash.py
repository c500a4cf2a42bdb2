"""Which files of a package a script imports, and a hash of them (the rules' `code` params).

A rule's job reruns when its params change; a param that is a hash of the package modules its
script imports makes it rerun when that code changes. The modules are found by walking the import
graph statically (no module is imported, so the walk needs neither torch nor the rule's
environment): from the script, every `import pkg.a.b`, `from pkg.a import b` and relative import
(`from . import b`, `from ..a import b`), lazy ones inside functions included, over the files of
the package only. Importing `pkg.a.b` runs `pkg/__init__.py` and `pkg/a/__init__.py` too, so those
count. Imports by name at run time (`importlib.import_module(name)`) are not seen.
"""

import ast
import hashlib
from collections.abc import Sequence
from pathlib import Path


def module_file(package_dir: str | Path, module: str) -> Path | None:
    """The file that holds a module of the package.

    Args:
        package_dir: the package's folder (its name is the package's name).
        module: a dotted module name starting with the package's name, e.g. `vocalsep.stft`.

    Returns:
        `pkg/a/b.py` or `pkg/a/b/__init__.py`, or None when the module is not a file of the package
        (another package, or a name defined inside a module).
    """
    package_dir = Path(package_dir)
    parts = module.split(".")
    if parts[0] != package_dir.name:
        return None
    base = package_dir.joinpath(*parts[1:])
    for path in (base.with_suffix(".py") if len(parts) > 1 else None, base / "__init__.py"):
        if path is not None and path.is_file():
            return path
    return None


def _module_name(package_dir: Path, path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package) of a file of the package."""
    rel = Path(path).relative_to(package_dir).with_suffix("").parts
    is_package = rel[-1] == "__init__"
    return ".".join((package_dir.name, *(rel[:-1] if is_package else rel))), is_package


def _with_parents(module: str) -> list[str]:
    """'a.b.c' -> ['a', 'a.b', 'a.b.c']: importing a module runs its packages' __init__ first."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_modules(path: str | Path, package_dir: str | Path) -> list[str]:
    """Dotted names of the package's modules (and names under them) that the file imports directly.

    Relative imports are resolved when the file is inside package_dir; in a file outside it (a
    workflow script) they cannot name the package and are skipped. `from m import x` yields m and
    m.x: x is a submodule or a name defined in m; module_file tells which. Parsed once per file
    version (path, size, modification time) and process: the workflow hashes many rules' scripts
    that share most modules each time it is read.

    Args:
        path: the Python file to read.
        package_dir: the package's folder; imports of other packages are left out.

    Returns:
        The names in the order the file's syntax tree is walked, repeats kept.
    """
    path, package_dir = Path(path).resolve(), Path(package_dir).resolve()
    stat = path.stat()
    key = (path, package_dir, stat.st_size, stat.st_mtime_ns)
    if key not in _PARSED:
        _PARSED[key] = _parse_imports(path, package_dir)
    return list(_PARSED[key])


_PARSED: dict[tuple[Path, Path, int, int], list[str]] = {}


def _parse_imports(path: Path, package_dir: Path) -> list[str]:
    """The imports of one file (uncached), as imported_modules returns them."""
    inside = path.is_relative_to(package_dir)
    current, is_package = _module_name(package_dir, path) if inside else (None, False)
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if current is None:
                    continue
                # `from . import x` in pkg/a/b.py means pkg.a; in pkg/a/__init__.py it means pkg.a too
                anchor = current.split(".")
                drop = node.level - 1 if is_package else node.level
                if drop >= len(anchor):
                    continue  # above the top package: an ImportError at run time, nothing to hash
                base = ".".join(anchor[: len(anchor) - drop])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return [name for name in found if name.split(".")[0] == package_dir.name]


def imported_files(
    script: str | Path | None, package_dir: str | Path, modules: Sequence[str] = ()
) -> list[Path]:
    """The package files that running `script` imports, directly or through other modules, sorted.

    Missing modules named in imports are skipped (names defined in a module, `from pkg.a import
    function`, look like modules to the walk); a missing module in `modules` is an error, since it
    is a typo in a rule.

    Args:
        script: a Python file, or None for a rule without a script.
        package_dir: the package's folder.
        modules: dotted module names imported besides the script's.

    Returns:
        The files, sorted by their path relative to package_dir.

    Raises:
        ValueError: a name in `modules` is not a module of the package.
    """
    package_dir = Path(package_dir)
    for module in modules:
        if module_file(package_dir, module) is None:
            raise ValueError(f"no module {module} in {package_dir}")
    pending = list(modules) + (imported_modules(script, package_dir) if script else [])
    files, seen = set(), set()
    while pending:
        name = pending.pop()
        for module in _with_parents(name):
            if module in seen:
                continue
            seen.add(module)
            path = module_file(package_dir, module)
            if path is not None and path not in files:
                files.add(path)
                pending += imported_modules(path, package_dir)
    return sorted(files, key=lambda p: p.relative_to(package_dir).as_posix())


def code_hash(script: str | Path | None, package_dir: str | Path, modules: Sequence[str] = ()) -> str:
    """A hash of the package code that running `script` imports (a rule's `code` param).

    Args:
        script: a Python file, or None for a rule without a script.
        package_dir: the package's folder.
        modules: dotted module names imported besides the script's (see imported_files).

    Returns:
        16 hex digits of SHA-256 over the imported files' paths (relative to the package) and bytes.
    """
    package_dir = Path(package_dir)
    digest = hashlib.sha256()
    for path in imported_files(script, package_dir, modules):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
