"""Benchmark: ingest and standardize N synthetic events, next to a DuckDB reference measured in the same run.

    python bench/bench_standardize.py                      # 1,000,000 events of ~500 bytes
    python bench/bench_standardize.py --events 100000 --json
    python bench/bench_standardize.py --workdir /tmp/b --repeat 3   # median of 3 runs, files kept in /tmp/b

Phases (each in a fresh child process, so the peak RSS reported is that phase's own):
  ingest       `leanops.ingest.ingest_stream` of the NDJSON file into a fresh home (RAW commit);
  standardize  `leanops.stages.standardized.run_standardized` of that RAW snapshot;
  reference    DuckDB alone: `read_json` of the same NDJSON, `unnest(payload, recursive := true)`,
               `COPY ... TO '...parquet' (FORMAT parquet)`.

Targets (from the issue): standardize events/s >= 0.5 x reference events/s, and peak RSS < 2 GiB
for 1M events. A benchmark, not a test: the exit code is 0 whether or not the targets are met
(2 for bad usage, 1 if a phase crashed or wrote the wrong number of rows).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_harness.py, whatever the working directory
from _harness import (child_main, clear, cpu_seconds, current_rss_mib, emit, environment,  # noqa: E402
                      measure_in_workdir, median_report, peak_rss_mib, run_child)

TOPIC = "bench"
SCHEMA = {"topic": TOPIC, "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}}}
RATIO_TARGET = 0.5
RSS_TARGET_MIB = 2048
SEED = 20260119
START = datetime(2026, 1, 19, tzinfo=timezone.utc)
SPAN_SECONDS = 3 * 24 * 3600  # publish_time spread over 3 days
MIB = 1024 * 1024


# -- input ------------------------------------------------------------------------------------
def generate(path: Path, n: int) -> int:
    """Write n envelopes (deterministic for a given n) to `path` as NDJSON; returns the bytes written.

    publish_time rises with the line number (plus up to 5 minutes of jitter) across 3 days, the
    shape of a real stream; message ids are unique, so no duplicates are dropped.
    """
    import orjson

    rng = random.Random(SEED)
    verbs = ["create", "update", "delete", "read", "heartbeat"]
    types = ["device.telemetry", "device.status", "user.action", "sensor.reading", "gateway.sync"]
    agents = [f"iot-agent/{v}.{v % 7}.{v % 13} (Linux; armv7l) fw/{v}" for v in range(100, 132)]
    tag_sets = [["iot", "sensor", f"zone-{z}", f"floor-{z % 5}"] for z in range(16)]
    written = 0
    with path.open("wb", buffering=8 * MIB) as out:
        lines: list[bytes] = []
        for i in range(n):
            offset = i * SPAN_SECONDS / max(n, 1) + rng.random() * 300
            published = START + timedelta(seconds=min(offset, SPAN_SECONDS - 1))
            event_ts = published - timedelta(milliseconds=rng.randrange(60_000))
            r = rng.getrandbits(64)
            doc = {
                "message_id": f"m-{i}",
                "publish_time": published.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "payload": {
                    "event": {
                        "timestamp": event_ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                        "userId": f"user-{r % 50_000:06d}",
                        "eventType": types[r % 5],
                        "verb": verbs[(r >> 8) % 5],
                        "metadata": {
                            "ipAddress": f"10.{(r >> 16) % 256}.{(r >> 24) % 256}.{(r >> 32) % 256}",
                            "deviceId": f"dev-{(r >> 20) % 1_000_000:08d}",
                            "userAgent": agents[(r >> 40) % len(agents)],
                        },
                    },
                    "sessionId": f"{r:016x}-{i:012x}-{(r * 2654435761) % (1 << 32):08x}",
                    "tags": tag_sets[(r >> 44) % 16],
                    "amount": round((r >> 12) % 1_000_000 / 100, 2),
                    "_metadata": {"idempotencyKeyResource": f"idem-{i:010d}-{(r >> 4) % (1 << 32):08x}"},
                },
            }
            lines.append(orjson.dumps(doc))
            if len(lines) == 10_000:
                chunk = b"\n".join(lines) + b"\n"
                out.write(chunk)
                written += len(chunk)
                lines.clear()
        if lines:
            chunk = b"\n".join(lines) + b"\n"
            out.write(chunk)
            written += len(chunk)
    return written


# -- phases (each runs in its own child process) --------------------------------------------
def phase_ingest(work: dict) -> dict:
    from leanops.context import Context
    from leanops.ingest import ingest_stream

    ctx = Context.open(work["home"], work["schemas"])
    baseline = current_rss_mib()
    started, cpu = time.perf_counter(), cpu_seconds()
    with open(work["input"], "rb") as stream:
        report = ingest_stream(ctx.lake, ctx.state, ctx.settings, TOPIC, stream, work["input"])
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    ctx.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": report.accepted, "rejected": report.rejected,
            "baseline_rss_mib": baseline, "peak_rss_mib": peak_rss_mib()}


def phase_standardize(work: dict) -> dict:
    from leanops.context import Context
    from leanops.stages.standardized import run_standardized

    ctx = Context.open(work["home"], work["schemas"])
    section = ctx.schema(TOPIC).standardized
    baseline = current_rss_mib()
    started, cpu = time.perf_counter(), cpu_seconds()
    result = run_standardized(ctx.lake, ctx.settings, TOPIC, section)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    ctx.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": result.records_written,
            "status": getattr(result.status, "value", str(result.status)), "records_in": result.records_in,
            "errors": result.records_errors, "duplicates": result.records_duplicates,
            "columns_added": len(result.columns_added), "baseline_rss_mib": baseline, "peak_rss_mib": peak_rss_mib()}


def phase_reference(work: dict) -> dict:
    import duckdb

    con = duckdb.connect()
    baseline = current_rss_mib()
    started, cpu = time.perf_counter(), cpu_seconds()
    con.execute(
        "COPY (SELECT message_id, publish_time, unnest(payload, recursive := true) "
        "FROM read_json($path, format = 'newline_delimited')) TO '"
        + work["parquet"].replace("'", "''") + "' (FORMAT parquet)", {"path": work["input"]}).fetchall()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rows = con.execute("SELECT count(*) FROM read_parquet($p)", {"p": work["parquet"]}).fetchall()[0][0]
    columns = len(con.execute("SELECT * FROM read_parquet($p) LIMIT 0", {"p": work["parquet"]}).description)
    con.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "columns": columns,
            "threads": _duckdb_threads(), "baseline_rss_mib": baseline, "peak_rss_mib": peak_rss_mib()}


def _duckdb_threads() -> int:
    import duckdb
    return duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0]


PHASES = {"ingest": phase_ingest, "standardize": phase_standardize, "reference": phase_reference}


# -- driver -----------------------------------------------------------------------------------
def measure(n: int, workdir: Path, repeat: int = 1) -> dict:
    data = workdir / f"events-{n}.ndjson"
    schemas = workdir / "schemas"
    schemas.mkdir()
    (schemas / f"{TOPIC}.json").write_text(json.dumps(SCHEMA))
    work = {"input": str(data), "home": str(workdir / "home"), "schemas": str(schemas),
            "parquet": str(workdir / "reference.parquet")}

    started = time.perf_counter()
    size = generate(data, n)
    generate_seconds = time.perf_counter() - started

    samples: dict[str, list[dict]] = {"reference": [], "ingest": [], "standardize": []}
    for _ in range(repeat):
        clear(workdir / "home")
        clear(workdir / "reference.parquet")
        for phase in samples:
            samples[phase].append(run_child(__file__, phase, work))
    phases = {}
    for phase, reports in samples.items():
        report = median_report(reports)
        report["events_per_s"] = n / report["seconds"] if report["seconds"] else None
        report["input_mib_per_s"] = size / MIB / report["seconds"] if report["seconds"] else None
        phases[phase] = report
    ingest, std, ref = phases["ingest"], phases["standardize"], phases["reference"]
    both = ingest["seconds"] + std["seconds"]
    phases["ingest+standardize"] = {"seconds": both, "cpu_seconds": ingest["cpu_seconds"] + std["cpu_seconds"],
                                    "events_per_s": n / both if both else None,
                                    "input_mib_per_s": size / MIB / both if both else None,
                                    "peak_rss_mib": max(ingest["peak_rss_mib"], std["peak_rss_mib"])}
    ratio = std["events_per_s"] / ref["events_per_s"]
    rows_ok = all(r["rows"] == n for reports in samples.values() for r in reports)
    return {
        "events": n,
        "repeat": repeat,
        "input_bytes": size,
        "input_mib": size / MIB,
        "avg_line_bytes": size / n if n else 0,
        "generate_seconds": generate_seconds,
        "phases": phases,
        "ratio_standardize_vs_reference": ratio,
        # the same ratio on CPU time: steadier than wall time when other work shares the machine
        "cpu_ratio_standardize_vs_reference": ref["cpu_seconds"] / std["cpu_seconds"] if std["cpu_seconds"] else None,
        "targets": {
            "ratio_min": RATIO_TARGET,
            "ratio_pass": ratio >= RATIO_TARGET,
            "rss_max_mib": RSS_TARGET_MIB,
            "rss_pass": {p: phases[p]["peak_rss_mib"] < RSS_TARGET_MIB for p in ("ingest", "standardize")},
        },
        "rows_ok": rows_ok,
        "environment": environment(),
    }


def print_table(r: dict) -> None:
    env = r["environment"]
    print(f"lean-ops standardize benchmark: {r['events']:,} events, {r['input_mib']:.1f} MiB NDJSON "
          f"({r['avg_line_bytes']:.0f} bytes/line), generated in {r['generate_seconds']:.1f} s")
    print(f"leanops {env['leanops']}, python {env['python']}, duckdb {env['duckdb']}, pyarrow {env['pyarrow']}, "
          f"pyiceberg {env['pyiceberg']}, {env['cpus']} CPUs")
    print()
    print(f"{'phase':<22}{'seconds':>9}{'CPU s':>8}{'events/s':>12}{'MiB/s':>8}{'peak RSS MiB':>14}{'rows':>12}")
    labels = {"reference": "reference (DuckDB)"}
    for name, p in r["phases"].items():
        rows = f"{p['rows']:,}" if "rows" in p else ""
        print(f"{labels.get(name, name):<22}{p['seconds']:>9.2f}{p['cpu_seconds']:>8.2f}{p['events_per_s']:>12,.0f}"
              f"{p['input_mib_per_s']:>8.1f}{p['peak_rss_mib']:>14.0f}{rows:>12}")
    if r.get("repeat", 1) > 1:
        print(f"median of {r['repeat']} runs (peak RSS: the largest); seconds of every run:")
        for name in ("reference", "ingest", "standardize"):
            runs = ", ".join(f"{x:.2f}" for x in r["phases"][name]["samples_seconds"])
            print(f"  {labels.get(name, name):<20}{runs}")
    t = r["targets"]
    print()
    verdict = "PASS" if t["ratio_pass"] else "FAIL"
    print(f"standardize / reference events/s = {r['ratio_standardize_vs_reference']:.3f}  "
          f"(target >= {t['ratio_min']})  {verdict}")
    if r.get("cpu_ratio_standardize_vs_reference"):
        print(f"  (on CPU seconds: {r['cpu_ratio_standardize_vs_reference']:.3f}; wall time well above CPU time "
              "means the process waited: a busy machine or I/O)")
    for phase, ok in t["rss_pass"].items():
        print(f"{phase} peak RSS = {r['phases'][phase]['peak_rss_mib']:.0f} MiB  "
              f"(target < {t['rss_max_mib']} MiB)  {'PASS' if ok else 'FAIL'}")
    if not r["rows_ok"]:
        print(f"ROW COUNT MISMATCH: expected {r['events']:,} rows in every phase")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--workdir", type=Path, help="where input, home and Parquet go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (a --workdir is always kept)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every phase this many times (fresh home each time); report the median")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if child_main(args, PHASES):
        return 0
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    result = measure_in_workdir(args.workdir, args.keep, "leanops-bench-", ("home", "schemas", "reference.parquet"),
                                lambda workdir: measure(args.events, workdir, args.repeat))
    return emit(result, args.json, print_table, result["rows_ok"])


if __name__ == "__main__":
    sys.exit(main())
