"""How fast the command line answers: `--help`, usage errors and read commands, each a fresh process.

Targets (issue 19, "A CLI that answers at once"):
- `leanops --help` and a usage error: under 0.3 s. A missing file and an invalid schema file take the same
  light path (they never import DuckDB, Arrow or PyIceberg), so they are held to the same 0.3 s.
- `leanops status`, `topics` and `accountability` on an idle home: under 1 s, on a home with two topics
  ingested and run, and on an empty home (after `leanops init`).

Each command runs --repeat times (default 5) as a new process; the median wall time is compared with its
target (PASS / MISS), with the median CPU seconds beside it (steadier on a busy machine). Two baselines are
measured in the same run: the bare interpreter (`python -c pass`), and the heavy imports alone
(`import duckdb, pyarrow, pyiceberg.catalog.sql, pyiceberg.io.pyarrow`): what every command paid before the
imports were made lazy, and the floor of a command that scans Iceberg tables (`status` and `accountability`
read table metadata only: PyIceberg without PyArrow or SQLAlchemy).

    python bench/bench_cli.py [--repeat 5] [--events 200] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY_IMPORTS = "import duckdb, pyarrow, pyiceberg.catalog.sql, pyiceberg.io.pyarrow"
LIGHT_TARGET, READ_TARGET = 0.3, 1.0
SCHEMAS = {
    "events": {"topic": "events",
               "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
               "curated": {"merge_key": "idempotency_key", "order_by": "event_timestamp",
                           "columns": {"idempotency_key": {"type": "string", "cde": True},
                                       "event_timestamp": {"type": "timestamp"},
                                       "amount": {"type": "decimal(18,2)", "default": "0"}}}},
    "clicks": {"topic": "clicks",
               "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}}},
}


def leanops_command() -> list[str]:
    """The `leanops` entry point of this interpreter's environment (else the module), as users run it."""
    script = Path(sys.executable).parent / "leanops"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "leanops.cli.main"]


def run_once(argv: list[str], env: dict, cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the child, the finished process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done


def measure(name: str, argv: list[str], env: dict, cwd: Path, repeat: int, expect_exit: int,
            expect_text: str, target: float | None) -> dict:
    """Median wall and CPU of `repeat` runs; every run must exit `expect_exit` with `expect_text` in its output."""
    walls, cpus, problems = [], [], []
    for _ in range(repeat):
        wall, cpu, done = run_once(argv, env, cwd)
        walls.append(wall)
        cpus.append(cpu)
        if done.returncode != expect_exit or expect_text not in done.stdout + done.stderr:
            problems.append(f"exit {done.returncode}, output {(done.stdout + done.stderr)[-300:]!r}")
    wall = statistics.median(walls)
    return {"name": name, "median_wall_seconds": round(wall, 3), "median_cpu_seconds": round(statistics.median(cpus), 3),
            "runs": [round(w, 3) for w in walls], "target_seconds": target,
            "pass": None if target is None else wall < target, "ok": not problems, "problems": problems[:1]}


def write_events(path: Path, topic: str, n: int) -> Path:
    with path.open("w") as out:
        for i in range(n):
            out.write(json.dumps({"message_id": f"{topic}-{i}", "publish_time": "2026-01-19T10:00:00Z",
                                  "payload": {"event": {"userId": f"u{i % 7}", "timestamp": "2026-01-19T10:00:00Z"},
                                              "amount": f"{i}.50", "event_timestamp": "2026-01-19T10:00:00Z",
                                              "_metadata": {"idempotencyKeyResource": f"{topic}:{i % 50}"}}}) + "\n")
    return path


def prepare(work: Path, events: int, env: dict) -> tuple[dict, dict]:
    """(the environment of an idle home with two topics ingested and run, that of an empty home)."""
    cli = leanops_command()
    schemas = work / "schemas"
    schemas.mkdir()
    for topic, doc in SCHEMAS.items():
        (schemas / f"{topic}.json").write_text(json.dumps(doc))
    idle = {**env, "LEANOPS_HOME": str(work / "home"), "LEANOPS_SCHEMAS": str(schemas)}
    steps = [["init"], ["deploy"]]
    steps += [["ingest", "--topic", t, str(write_events(work / f"{t}.ndjson", t, events))] for t in SCHEMAS]
    steps += [["run", "--once"]]
    for step in steps:
        done = subprocess.run(cli + step, capture_output=True, text=True, env=idle, cwd=work, timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"bench: leanops {' '.join(step)} failed: {done.stderr[-2000:]}")
    empty = {**env, "LEANOPS_HOME": str(work / "empty-home"), "LEANOPS_SCHEMAS": str(work / "empty-schemas")}
    (work / "empty-schemas").mkdir()
    subprocess.run(cli + ["init"], capture_output=True, env=empty, cwd=work, check=True, timeout=600)
    bad = work / "bad-schemas"
    bad.mkdir()
    (bad / "events.json").write_text('{"topic": "events", "curated": {"columns": {"a": {"type": "text"}}}}')
    return idle, empty


def run_bench(repeat: int, events: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LEANOPS_FAULT", "LEANOPS_STATE", "LEANOPS_CATALOG")}
    work = Path(tempfile.mkdtemp(prefix="leanops-bench-cli-"))
    try:
        idle, empty = prepare(work, events, env)
        cli = leanops_command()
        light = [
            ("--help", ["--help"], 0, "Usage"),
            ("status --help", ["status", "--help"], 0, "Usage"),
            ("usage error (no such command)", ["frobnicate"], 2, "No such command"),
            ("ingest of a missing file", ["ingest", "--topic", "events", "missing.ndjson"], 2, "no such file"),
            ("deploy of an invalid schema file", ["deploy", str(work / "bad-schemas")], 2, "unknown type"),
        ]
        reads = [(f"{c} ({kind} home)", [c], home, 0, text)
                 for kind, home, texts in (("idle", idle, {"status": "events", "topics": "clicks",
                                                            "accountability": "standardized"}),
                                           ("empty", empty, {"status": "no topics yet", "topics": "no topics yet",
                                                             "accountability": "no topics yet"}))
                 for c, text in texts.items()]
        baselines = [measure("baseline: python -c pass", [sys.executable, "-c", "pass"], env, work, repeat, 0, "", None),
                     measure(f"baseline: {HEAVY_IMPORTS}", [sys.executable, "-c", HEAVY_IMPORTS], env, work, repeat,
                             0, "", None)]
        commands = [measure(name, cli + argv, idle, work, repeat, code, text, LIGHT_TARGET)
                    for name, argv, code, text in light]
        commands += [measure(name, cli + argv, home, work, repeat, code, text, READ_TARGET)
                     for name, argv, home, code, text in reads]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"repeat": repeat, "events_per_topic": events, "baselines": baselines, "commands": commands,
            "load_average": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "all_ok": all(c["ok"] for c in commands), "all_pass": all(c["pass"] for c in commands)}


def print_table(result: dict) -> None:
    print(f"{'command':44} {'wall s':>7} {'cpu s':>7} {'target':>7}  verdict")
    for row in result["baselines"] + result["commands"]:
        verdict = "" if row["pass"] is None else "PASS" if row["pass"] else "MISS"
        if not row["ok"]:
            verdict += f" WRONG ANSWER: {row['problems'][0]}"
        target = "" if row["target_seconds"] is None else f"< {row['target_seconds']:g}"
        print(f"{row['name'][:44]:44} {row['median_wall_seconds']:7.3f} {row['median_cpu_seconds']:7.3f} "
              f"{target:>7}  {verdict}")
    heavy = result["baselines"][1]["median_wall_seconds"]
    print(f"medians of {result['repeat']} runs each; the heavy imports alone take {heavy:.3f} s: what every "
          f"command paid before, and the floor of one that scans Iceberg tables; load average "
          f"{result['load_average']:.2f} on {result['cpus']} CPUs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (the median is reported)")
    parser.add_argument("--events", type=int, default=200, help="events ingested per topic of the idle home")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_bench(args.repeat, args.events)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0 if result["all_ok"] else 1  # a wrong answer fails; a missed target is reported, not failed


if __name__ == "__main__":
    sys.exit(main())
