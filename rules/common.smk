# Helpers shared by all rule files (discovered songs, file paths, code hashes).
import os
import warnings
from pathlib import Path

# Snakemake puts the Snakefile's folder first on sys.path, so these are this checkout's modules.
# The jobs' scripts import the package installed in their environment (install.sh's `pip install
# -e .`, or envs/*.post-deploy.sh in the conda environments); vocalsep.workflow.run_job stops a
# job whose package is another checkout's.
from vocalsep import codehash
from vocalsep.discovery import discover
from vocalsep.demo import demo_names, demo_songs
from vocalsep.workflow import release_stale_locks

# Every job inherits these (local jobs as child processes, SLURM jobs through sbatch --export=ALL):
# idle OpenMP threads of torch sleep instead of spinning, which on shared or oversubscribed cores
# slows jobs several-fold; and envs/*.post-deploy.sh, run as Snakemake builds a conda environment,
# installs the package of this folder into it. (Set here, not read: no `envvars:` to declare.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.update(VOCALSEP_WORKFLOW_DIR=workflow.basedir)

# A run killed with SIGKILL leaves Snakemake's locks: removed here when no other run is alive, so
# the next `snakemake` goes on (with the profiles' rerun-incomplete redoing the killed jobs).
if workflow.is_main_process:
    for _lock in release_stale_locks():
        logger.warning(
            f"removed {_lock}, a lock left by a Snakemake run that was killed"
        )

PROCESS = config["process_dir"]
# Fixed folders: every rule path under them is written through these names
# (f"{RESULTS}/{{mode}}/{{song}}/metrics.json"); logs/ and benchmarks/ are written literally.
RTG, RESULTS = "rtg", "results"

with warnings.catch_warnings(record=True) as _discovery_warnings:
    warnings.simplefilter("always")
    DISCOVERED = discover(PROCESS)
for _w in _discovery_warnings:
    logger.warning(f"discovery: {_w.message}")

# With no songs in process/, the workflow runs on synthesised demo songs.
USING_DEMO = not any(s.usable for s in DISCOVERED)
SONGS = demo_songs(config, RESULTS) if USING_DEMO else DISCOVERED
USABLE = [s for s in SONGS if s.usable]
PAIRED = [s for s in USABLE if s.paired]
MIX_ONLY = [s for s in USABLE if not s.paired]
_BY_KEY = {(s.mode, s.name): s for s in USABLE}

# Each rule file adds a function that lists its final files; `rule all` asks for them all.
TARGETS = {}


# Each separation branch adds a function that lists its per-song metrics.json; the report gathers them.
METRICS = {}


def all_targets(wildcards):
    return [path for name in sorted(TARGETS) for path in TARGETS[name]()]


def song_files(wildcards):
    """The input files of one song: {'mix': path} and, when it has one, {'stem': path}."""
    song = _BY_KEY[(wildcards.mode, wildcards.song)]
    files = {"mix": song.mix}
    if song.stem:
        files["stem"] = song.stem
    return files


def pair_files(wildcards):
    """The mix and the stem of a song, for rule prepare_pair.

    A mix-only song gets a stem path that nothing makes, so Snakemake discards prepare_pair for
    it and takes prepare_mix (ruleorder in rules/prepare.smk). A {song} constraint listing the
    songs would do the same, but its regex grows with the song count and made planning 1000
    songs quadratic (bench/dag_scale.py).
    """
    files = song_files(wildcards)
    files.setdefault("stem", f"{PROCESS}/{wildcards.mode}/{wildcards.song} (no stem)")
    return files


def per_song(pattern, songs):
    """Expand a path pattern with {mode} and {song} over the given songs."""
    return [pattern.format(mode=s.mode, song=s.name) for s in songs]


def code_hash(script=None, modules=()):
    """A param that changes when the package code a rule runs changes.

    script: the rule's script, relative to the workflow folder ("scripts/match_song.py"); the
    package modules it imports, directly or through others, are hashed (vocalsep/codehash.py).
    modules: dotted names imported besides a script's, for rules with run: or shell: blocks
    instead of a script ("vocalsep.report").
    """
    base = Path(workflow.basedir)
    return codehash.code_hash(
        base / script if script else None, base / "vocalsep", modules
    )


def song_threads(configured):
    """threads: of a per-song job: one for a 4.7 s clip, `configured` for a whole song.

    A clip's job is mostly process start and imports, which one core runs: with one thread each,
    two clips' jobs run side by side instead of one job holding every core (bench/workflow_speed.py).
    """
    return lambda wildcards: 1 if wildcards.mode == "100-window" else configured
