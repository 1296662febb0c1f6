"""Benchmark: what one hostile payload costs `leanops run`, then and in the next run, against a flat one.

    python bench/bench_hostile.py                            # 10,000 events a batch; 10k- and 200k-deep, 5k-wide
    python bench/bench_hostile.py --rows 2000 --depths 10000 --widths 5000 --json
    PYTHONPATH=/path/to/other/src python bench/bench_hostile.py --timeout 600   # another checkout

Each case gets a fresh home. Batch 1 is `--rows` ordinary events with ONE more payload in the middle:
  flat        another ordinary event (the baseline, measured in the same run);
  deep-N      an object nested N levels deep ({"a":{"a":...}}, 6 bytes a level);
  wide-N      an object with N distinct keys.
`leanops ingest` lands it (not timed), then `leanops run --once` is timed; then batch 2 (`--rows` new
ordinary events) is ingested and the next `leanops run --once` timed: a hostile payload that added
columns would still cost there. Seconds are the CLI process's wall time (`run s`, start-up included)
and the run's own `seconds` from its --json report. Checked for every case: the run succeeded, the
payload went to parse_errors (or landed, for flat), `leanops accountability` exits 0, and the table
has the baseline's columns. A run past `--timeout` is killed and reported as such (the old code took
minutes). Exit code 0 when every check held, 1 otherwise, 2 on bad usage.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_harness.py, whatever the working directory
from _harness import emit, environment, measure_in_workdir  # noqa: E402

TOPIC = "bench"
SCHEMA = {"topic": TOPIC, "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}}}
LEANOPS = str(Path(sys.executable).parent / "leanops")


def event(i: int, batch: int) -> dict:
    return {"event": {"userId": f"u{i % 997}", "verb": ["create", "update", "read"][i % 3], "n": i},
            "sessionId": f"s{i % 101}", "tags": ["iot", f"zone-{i % 16}"], "amount": i * 1.25,
            "_metadata": {"idempotencyKeyResource": f"k-{batch}-{i}"}}


def hostile(case: str) -> str:
    """The extra payload of a case, as JSON text (a deep one is built as text: Python's json would recurse)."""
    kind, _, size = case.partition("-")
    if kind == "flat":
        return json.dumps(event(-1, 0))
    if kind == "deep":
        return '{"a":' * int(size) + "1" + "}" * int(size)
    return json.dumps({f"key_{i}": i for i in range(int(size))})


def envelope(message_id: str, payload_text: str) -> str:
    return '{"message_id": "%s", "publish_time": "2026-01-19T10:00:00Z", "payload": %s}' % (message_id, payload_text)


def write_batch(path: Path, rows: int, batch: int, extra: str | None) -> None:
    lines = [envelope(f"m-{batch}-{i}", json.dumps(event(i, batch))) for i in range(rows)]
    if extra is not None:
        lines.insert(rows // 2, envelope("extra", extra))
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def cli(env: dict, *args: str, timeout: float | None = None) -> tuple[subprocess.CompletedProcess | None, float]:
    """Run `leanops args`; (the process, or None when it ran past `timeout` and was killed; wall seconds)."""
    start = time.perf_counter()
    try:
        done = subprocess.run([LEANOPS, *args], capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start
    return done, time.perf_counter() - start


def timed_run(env: dict, timeout: float) -> dict:
    done, wall = cli(env, "run", "--once", "--json", timeout=timeout)
    if done is None:
        return {"wall_seconds": round(wall, 2), "timed_out": True}
    if done.returncode != 0:
        raise SystemExit(f"bench: leanops run failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    [topic] = report["topics"]
    [stage] = [s for s in topic["stages"] if s["stage"] == "standardized"]
    return {"wall_seconds": round(wall, 2), "run_seconds": report["seconds"], "timed_out": False,
            "written": stage["records_written"], "errors": stage["records_errors"],
            "columns_added": len(stage["columns_added"])}


def measure_case(work: Path, case: str, rows: int, timeout: float) -> dict:
    home = work / case
    (home / "schemas").mkdir(parents=True)
    (home / "home").mkdir()  # the CLI refuses a --home / $LEANOPS_HOME that does not exist
    (home / "schemas" / f"{TOPIC}.json").write_text(json.dumps(SCHEMA))
    env = {**os.environ, "LEANOPS_HOME": str(home / "home"), "LEANOPS_SCHEMAS": str(home / "schemas"),
           "LEANOPS_MAINTENANCE": "off"}
    env.pop("LEANOPS_FAULT", None)
    extra = hostile(case)
    result: dict = {"case": case, "payload_bytes": len(extra)}
    for batch, payload in ((1, extra), (2, None)):
        path = home / f"batch-{batch}.ndjson"
        write_batch(path, rows, batch, payload)
        done, _ = cli(env, "ingest", "--topic", TOPIC, str(path), "--json")
        if done is None or done.returncode != 0:
            raise SystemExit(f"bench: ingest failed: {done.stderr[-2000:] if done else 'timeout'}")
        result["run" if batch == 1 else "next_run"] = run = timed_run(env, timeout)
        if run["timed_out"]:
            result["next_run"] = {"timed_out": True, "wall_seconds": None} if batch == 1 else run
            return result
    accounts, _ = cli(env, "accountability", "--json")
    result["accountable"] = accounts is not None and accounts.returncode == 0
    return result


def checks(cases: list[dict], rows: int) -> list[str]:
    """What must hold: the baseline lands every row; a hostile payload is one parse error and adds no column."""
    failed = []
    flat = cases[0]
    for case in cases:
        run, name = case["run"], case["case"]
        if run["timed_out"] or case["next_run"]["timed_out"]:
            failed.append(f"{name}: timed out")
            continue
        expected = (rows + 1, 0) if name == "flat" else (rows, 1)
        if (run["written"], run["errors"]) != expected:
            failed.append(f"{name}: written/errors {run['written']}/{run['errors']}, expected {expected}")
        if not flat["run"]["timed_out"] and run["columns_added"] != flat["run"]["columns_added"]:
            failed.append(f"{name}: {run['columns_added']} columns added, the baseline {flat['run']['columns_added']}")
        if case["next_run"]["columns_added"] or not case["accountable"]:
            failed.append(f"{name}: the next run added columns or accountability is below 100%")
    return failed


def ratios(cases: list[dict]) -> None:
    """Each case's seconds over the flat baseline's, for the run and the next run."""
    flat = cases[0]
    for case in cases:
        for key in ("run", "next_run"):
            base, mine = flat[key].get("wall_seconds"), case[key].get("wall_seconds")
            case[key]["x_flat"] = round(mine / base, 2) if base and mine else None


def _cell(part: dict, key: str) -> str:
    value = part.get(key)
    if part.get("timed_out") and key in ("wall_seconds", "x_flat"):
        return "timeout" if key == "wall_seconds" else f">{value:.0f}" if value else "-"
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def print_table(result: dict) -> None:
    print(f"lean-ops hostile-shape benchmark: {result['rows']:,} events a batch + one payload; "
          f"leanops {result['environment']['leanops']}, {result['environment']['cpus']} CPUs")
    header = ("case", "bytes", "run s", "(own)", "x flat", "next s", "(own)", "x flat", "errors", "cols")
    widths = (14, 11, 9, 8, 8, 9, 8, 8, 8, 6)
    print("".join(h.ljust(w) if n == 0 else h.rjust(w) for n, (h, w) in enumerate(zip(header, widths))))
    for case in result["cases"]:
        run, nxt = case["run"], case["next_run"]
        cells = (case["case"], f"{case['payload_bytes']:,}", _cell(run, "wall_seconds"), _cell(run, "run_seconds"),
                 _cell(run, "x_flat"), _cell(nxt, "wall_seconds"), _cell(nxt, "run_seconds"), _cell(nxt, "x_flat"),
                 _cell(run, "errors"), _cell(run, "columns_added"))
        print("".join(c.ljust(w) if n == 0 else c.rjust(w) for n, (c, w) in enumerate(zip(cells, widths))))
    print("run s / next s: wall time of `leanops run --once` (CLI start-up included); (own): the run's own seconds")
    print("checks: " + ("all held" if not result["checks_failed"] else "; ".join(result["checks_failed"])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="ordinary events per batch (default 10,000)")
    parser.add_argument("--depths", default="10000,200000", help="nesting depths to try, comma-separated")
    parser.add_argument("--widths", default="5000", help="key counts to try, comma-separated")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a run is killed")
    parser.add_argument("--workdir", type=Path, help="keep homes here (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        names = ["flat"] + [f"deep-{int(d)}" for d in args.depths.split(",") if d] + \
                [f"wide-{int(w)}" for w in args.widths.split(",") if w]
    except ValueError:
        parser.error("--depths and --widths take comma-separated integers")
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    def measure(work: Path) -> dict:
        cases = [measure_case(work, name, args.rows, args.timeout) for name in names]
        ratios(cases)
        return {"rows": args.rows, "environment": environment(), "cases": cases,
                "checks_failed": checks(cases, args.rows)}

    result = measure_in_workdir(args.workdir, args.keep, "leanops-bench-hostile-", tuple(names), measure)
    return emit(result, args.json, print_table, ok=not result["checks_failed"])


if __name__ == "__main__":
    sys.exit(main())
