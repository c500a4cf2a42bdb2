"""The rules' code hashes: the package files a script imports, found by walking its imports.

A generated mini package stands in for vocalsep, so each import form is checked on its own; the
workflow's rules are checked to hash the script they run; a job whose environment imports another
copy of the package than its workflow's is refused.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, copy_workflow, snakemake
from vocalsep.codehash import code_hash, imported_files, module_file
from vocalsep.workflow import package_mismatch

FILES = {
    "pkg/__init__.py": "from .core import VALUE\n",
    "pkg/core.py": "import os\n\nVALUE = 1\n",
    "pkg/helpers.py": "def helper():\n    return 2\n",
    "pkg/lazy.py": "LAZY = 3\n",
    "pkg/unused.py": "import pkg.core\n",
    "pkg/sub/__init__.py": "",
    "pkg/sub/a.py": "from .. import helpers\nfrom ..core import VALUE\nfrom . import b\n",
    "pkg/sub/b.py": "def later():\n    from ..lazy import LAZY\n    return LAZY\n",
    "pkg/sub/c.py": "import pkg.sub.d\n",
    "pkg/sub/d.py": "",
    "script.py": "import numpy\nfrom pkg.sub.a import helpers\nfrom . import nothing\n\nprint(helpers)\n",
}
# script -> pkg.sub.a (and the packages above it) -> helpers, core, sub.b -> lazy (imported in a function)
REACHED = ["pkg/__init__.py", "pkg/core.py", "pkg/helpers.py", "pkg/lazy.py", "pkg/sub/__init__.py",
           "pkg/sub/a.py", "pkg/sub/b.py"]


@pytest.fixture
def tree(tmp_path):
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def names(files, root):
    return [p.relative_to(root).as_posix() for p in files]


def test_the_walk_follows_every_import_form_and_nothing_else(tree):
    files = imported_files(tree / "script.py", tree / "pkg")
    assert names(files, tree) == REACHED  # sorted; numpy and the script's relative import are not the package's


def test_the_hash_changes_with_a_reached_file_only(tree):
    before = code_hash(tree / "script.py", tree / "pkg")
    (tree / "pkg" / "unused.py").write_text("import pkg.core  # edited\n")
    (tree / "pkg" / "sub" / "d.py").write_text("X = 1\n")
    assert code_hash(tree / "script.py", tree / "pkg") == before
    (tree / "pkg" / "lazy.py").write_text("LAZY = 4\n")
    after = code_hash(tree / "script.py", tree / "pkg")
    assert after != before and re.fullmatch(r"[0-9a-f]{16}", after)


def test_a_module_split_into_a_package_is_followed(tree):
    (tree / "pkg" / "helpers.py").unlink()
    (tree / "pkg" / "helpers").mkdir()
    (tree / "pkg" / "helpers" / "__init__.py").write_text("from .impl import helper\n")
    (tree / "pkg" / "helpers" / "impl.py").write_text("import pkg.lazy\n\ndef helper():\n    return 2\n")
    files = names(imported_files(tree / "script.py", tree / "pkg"), tree)
    assert files == sorted({*REACHED, "pkg/helpers/__init__.py", "pkg/helpers/impl.py"} - {"pkg/helpers.py"})


def test_plain_imports_and_named_modules_without_a_script(tree):
    (tree / "other.py").write_text("import pkg.sub.c as c\n")
    assert names(imported_files(tree / "other.py", tree / "pkg"), tree) == [
        "pkg/__init__.py", "pkg/core.py", "pkg/sub/__init__.py", "pkg/sub/c.py", "pkg/sub/d.py"]
    assert names(imported_files(None, tree / "pkg", ["pkg.helpers"]), tree) == [
        "pkg/__init__.py", "pkg/core.py", "pkg/helpers.py"]
    assert module_file(tree / "pkg", "pkg.sub") == tree / "pkg" / "sub" / "__init__.py"
    with pytest.raises(ValueError, match="no module pkg.helper in"):
        imported_files(None, tree / "pkg", ["pkg.helper"])


def test_the_scripts_hash_what_the_hand_kept_lists_missed():
    def hashed(script):
        return set(names(imported_files(REPO / "scripts" / script, REPO / "vocalsep"), REPO))

    # matching and the fingerprint cache import parallel; the U-Net training validates with evaluate
    assert {"vocalsep/parallel.py", "vocalsep/__init__.py", "vocalsep/workflow.py"} <= hashed("match_song.py")
    assert {"vocalsep/evaluate.py", "vocalsep/bsseval.py"} <= hashed("unet_train.py")


def test_every_rule_hashes_the_script_it_runs():
    checked = set()
    for path in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^rule ", path.read_text())[1:]:
            script = re.search(r'script:\s+"\.\./(scripts/[\w.]+)"', block)
            hashed = re.findall(r'code=code_hash\(([^)]*)\)', block)
            if script:
                assert hashed == [f'"{script.group(1)}"'], f"{path.name}: rule {block.split(':')[0]}"
                checked.add(script.group(1))
    assert checked == {f"scripts/{p.name}" for p in (REPO / "scripts").glob("*.py")}


def test_importing_the_package_leaves_the_environment_alone_and_the_command_line_sets_passive_waiting():
    code = ("import os, vocalsep, vocalsep.workflow, vocalsep.codehash; print(os.environ.get('OMP_WAIT_POLICY')); "
            "from vocalsep import cli\ntry:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split("\n")[0] == "None" and out.split("\n")[-2] == "PASSIVE", out


def test_a_job_importing_another_checkouts_package_is_refused(tmp_path):
    assert package_mismatch(REPO) is None  # the tests import this checkout's package
    problem = package_mismatch(tmp_path)
    assert str(REPO / "vocalsep") in problem and str(tmp_path / "vocalsep") in problem
    work = copy_workflow(tmp_path / "wf")
    env = dict(os.environ, PYTHONPATH=str(REPO))  # the jobs would import REPO's package, not the copy's
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--nocolor", "results/discovery.tsv"],
                          cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"ERROR in rule discovery: {work.resolve()}: imports the vocalsep package from {REPO / 'vocalsep'}" \
        in proc.stderr, proc.stderr[-3000:]
    assert not (work / "results" / "discovery.tsv").exists()
    snakemake(work, "results/discovery.tsv")  # with the copy's own package first (conftest) it runs
    assert (work / "results" / "discovery.tsv").exists()
