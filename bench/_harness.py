"""Helpers shared by the benchmark scripts in bench/ (one copy, so the scripts measure the same way).

Imported by the scripts as a sibling module (`from _harness import ...`): they are run as
`python bench/bench_x.py`, not as a package, and each puts its own directory on sys.path first.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

MARKER = ".leanops-bench"  # a workdir holding this file is ours to clean


# -- measurement (inside a phase's child process) ---------------------------------------------
def peak_rss_mib() -> float:
    """This process's peak RSS so far: each phase runs in its own child, so this is the phase's own."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): steadier than wall time on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_mib() -> float | None:
    """The RSS right now (None where /proc is missing): the baseline before the timed work."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# -- driver ------------------------------------------------------------------------------------
def child_main(args, phases: dict) -> bool:
    """In a phase's child process (`--child PHASE WORK`): run the phase, print its JSON report."""
    if not args.child:
        return False
    phase, work = args.child
    print(json.dumps(phases[phase](json.loads(work))))
    return True


def emit(result: dict, as_json: bool, print_table: Callable[[dict], None], ok: bool) -> int:
    """Print the result (JSON or the script's table); the exit code: 0, or 1 when its checks failed."""
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0 if ok else 1


def run_child(script: str, phase: str, work: dict) -> dict:
    """Run one phase of `script` in a fresh interpreter; its stdout's last line is the phase's JSON report.

    A fresh process per phase keeps peak RSS per phase; LEANOPS_FAULT is dropped so no fault
    injection meant for tests leaks into a measurement.
    """
    env = {k: v for k, v in os.environ.items() if k != "LEANOPS_FAULT"}
    proc = subprocess.run([sys.executable, script, "--child", phase, json.dumps(work)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench: the {phase} phase failed (exit code {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_measured(argv: list[str], env: dict | None = None, stdout_path: Path | None = None) -> dict:
    """Run one command and measure that process alone: wall seconds, CPU seconds (all its threads) and
    its own peak RSS, from os.wait4's rusage of exactly this child (not of the caller or other children).

    Everything the process pays counts, interpreter start and imports included: that is what a user
    of a command line waits for. Its stdout goes to `stdout_path` (and is returned), stderr is returned.
    """
    with open(stdout_path or os.devnull, "wb") as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    stdout = Path(stdout_path).read_text(errors="replace") if stdout_path else ""
    return {"returncode": proc.returncode, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024, "stdout": stdout, "stderr": stderr}


def median_report(reports: list[dict]) -> dict:
    """The median run by seconds, with the largest peak RSS and every run's seconds (for --repeat)."""
    report = dict(sorted(reports, key=lambda r: r["seconds"])[(len(reports) - 1) // 2])
    report["peak_rss_mib"] = max(r["peak_rss_mib"] for r in reports)
    report["samples_seconds"] = [r["seconds"] for r in reports]
    return report


def prepare_workdir(workdir: Path | None, prefix: str, names: tuple[str, ...]) -> tuple[Path, bool]:
    """The directory to work in and whether it was created here (and so may be removed).

    A new temp dir (`prefix`) when none is given; a given one must be new, empty or marked as made
    by a benchmark (MARKER), and the script's own leftovers (`names`) are cleared from it.
    """
    if workdir is None:
        path = Path(tempfile.mkdtemp(prefix=prefix))
        (path / MARKER).touch()
        return path, True
    workdir = workdir.absolute()
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        print(f"bench: {workdir} is not empty and was not made by this benchmark; "
              "pass an empty or new directory", file=sys.stderr)
        raise SystemExit(2)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).touch()
    for name in names:
        clear(workdir / name)
    return workdir, False


def measure_in_workdir(workdir: Path | None, keep: bool, prefix: str, names: tuple[str, ...],
                       measure: Callable[[Path], dict]) -> dict:
    """`measure(workdir)` in a prepared workdir (see prepare_workdir); a temp dir is removed afterwards
    (even when measure fails) unless `keep`, and a kept one is named in the result as "workdir"."""
    workdir, temporary = prepare_workdir(workdir, prefix, names)
    try:
        result = measure(workdir)
    finally:
        if temporary and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if temporary and keep:
        result["workdir"] = str(workdir)
    return result


def clear(target: Path) -> None:
    """Remove a file or a directory tree if it is there."""
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()


# -- environment -------------------------------------------------------------------------------
def environment() -> dict:
    """What was measured on: versions of python and the libraries, the machine, the leanops source."""
    import duckdb
    import pyarrow
    import pyiceberg
    import leanops
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__, "pyiceberg": pyiceberg.__version__,
            "leanops": source_version(Path(leanops.__file__).parent)}


def source_version(package_dir: Path) -> str:
    """The git commit of the measured leanops source (`+dirty` with uncommitted changes), or its path."""
    try:
        head = subprocess.run(["git", "-C", str(package_dir), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(package_dir), "status", "--porcelain", "."],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return str(package_dir)
    if head.returncode != 0:
        return str(package_dir)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
