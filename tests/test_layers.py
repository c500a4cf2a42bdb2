"""The package's imports go one way: from a higher layer down, never up.

The layers are the README's table (section "The package"), lowest first. A module may
import modules of its own layer and of the layers below. The imports are read from the source
(`vocalsep.codehash`), lazy imports inside functions included, so a cycle hidden in a function
fails too.
"""

from pathlib import Path

import pytest

from conftest import REPO
from vocalsep.codehash import imported_modules, module_file

PACKAGE = REPO / "vocalsep"

# (layer name, module prefixes), lowest first; a module belongs to the longest prefix that names it.
LAYERS = [
    ("core", ["vocalsep", "vocalsep.errors", "vocalsep.settings", "vocalsep.device", "vocalsep.parallel",
              "vocalsep.codehash", "vocalsep.workflow"]),
    ("signals", ["vocalsep.audio", "vocalsep.stft", "vocalsep.bsseval", "vocalsep.plots", "vocalsep.history"]),
    ("features and networks", ["vocalsep.fingerprint", "vocalsep.models", "vocalsep.discovery",
                               "vocalsep.align"]),
    ("methods and data", ["vocalsep.baselines", "vocalsep.evaluate", "vocalsep.matching", "vocalsep.unet",
                          "vocalsep.carvana", "vocalsep.prepare", "vocalsep.demo", "vocalsep.corpus",
                          "vocalsep.training"]),
    ("training and scoring", ["vocalsep.unet.train", "vocalsep.unet.evaluate", "vocalsep.carvana.train",
                              "vocalsep.carvana.predict"]),
    ("reports", ["vocalsep.report", "vocalsep.report_pages"]),
    ("command lines", ["vocalsep.cli", "vocalsep.__main__", "vocalsep.fingerprint.cli", "vocalsep.matching.cli",
                       "vocalsep.unet.cli", "vocalsep.carvana.cli"]),
]


def layer_of(module):
    """Index in LAYERS of a dotted module name (the longest matching prefix wins)."""
    best, index = "", None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, index = prefix, i
    return index


def module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolved(name, package=PACKAGE):
    """The module a dotted import name lands in: `vocalsep.a.func` -> `vocalsep.a`."""
    while name and module_file(package, name) is None:
        name = name.rpartition(".")[0]
    return name


FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert FILES
    missing = [module_name(p) for p in FILES if layer_of(module_name(p)) is None]
    assert not missing, f"add these modules to a layer in LAYERS (and the README's table): {missing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_import_reaches_a_higher_layer(path: Path):
    here = module_name(path)
    mine = layer_of(here)
    upward = []
    for name in imported_modules(path, PACKAGE):
        target = resolved(name)
        if not target or target == here or here.startswith(target + "."):
            continue  # the module itself, or a package above it (run first by any import of it)
        if layer_of(target) > mine:
            upward.append(f"{target} ({LAYERS[layer_of(target)][0]})")
    assert not upward, f"{here} ({LAYERS[mine][0]}) imports from higher layers: {sorted(set(upward))}"


def test_the_check_catches_an_upward_import(tmp_path):
    """The walk sees an upward import written inside a function (what a lazy import hides)."""
    fake = tmp_path / "vocalsep"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "report.py").write_text("")
    (fake / "audio.py").write_text("def load():\n    from .report import x\n    return x\n")
    names = [resolved(n, fake) for n in imported_modules(fake / "audio.py", fake)]
    assert "vocalsep.report" in names
    assert layer_of("vocalsep.report") > layer_of("vocalsep.audio")



def readme_layers() -> list[tuple[str, list[str]]]:
    """The README's table of layers (section "The package"), as (layer, module prefixes) rows."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### The package", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("layer (lowest first)", "---"):
            continue
        names = [n.strip("`/") for n in cells[1].split(", ")]
        rows.append((cells[0], ["vocalsep" if n == "__init__" else f"vocalsep.{n.replace('/', '.')}" for n in names]))
    return rows


def test_readme_table_lists_the_same_layers():
    assert readme_layers() == LAYERS, "the README's layer table and LAYERS here disagree; keep them one list"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_over_350_lines(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 350, f"{path.relative_to(REPO)} has {lines} lines; split it by job (at most 350)"
