"""Benchmark: the same standardize + curate run on the embedded engine and on Spark local[*].

    python bench/bench_engines.py                      # 1,000,000 events (bench_standardize's generator)
    python bench/bench_engines.py --events 100000 --json

The input is generated once and ingested into two fresh homes (not timed). Then, each engine in its
own child process:
  embedded  `EmbeddedEngine`: standardized, then curated (DuckDB + PyIceberg, in-process);
  spark     `SparkEngine` on Spark local[*] (all cores), same catalog layout: the session start is
            reported apart, then standardized and curated are timed the same way.
Both must write N Standardized and N Curated rows (every key is unique). The baseline is the
embedded engine: `ratio` = spark seconds / embedded seconds for standardize + curate. On one small
machine the embedded engine is expected to win; Spark's case is data that outgrows one machine.
A benchmark, not a test: exit code 0 whatever the figures (1 if a phase failed or wrote wrong counts).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (child_main, clear, cpu_seconds, emit, environment, measure_in_workdir,  # noqa: E402
                      peak_rss_mib, run_child)
from bench_standardize import generate  # noqa: E402

TOPIC = "bench"
SCHEMA = {
    "topic": TOPIC,
    "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
    "curated": {"merge_key": "idempotency_key", "order_by": "event_timestamp",
                "columns": {"idempotency_key": {"type": "string", "cde": True},
                            "event_timestamp": {"type": "timestamp", "cde": True},
                            "event_userid": {"type": "string", "cde": True},
                            "amount": {"type": "decimal(18,2)", "default": "0"}}},
}
ENGINES = ("embedded", "spark")


def phase_ingest(work: dict) -> dict:
    from leanops.context import Context
    from leanops.ingest import ingest_stream
    ctx = Context.open(work["home"], work["schemas"])
    with open(work["input"], "rb") as stream:
        report = ingest_stream(ctx.lake, ctx.state, ctx.settings, TOPIC, stream, work["input"])
    ctx.close()
    return {"rows": report.accepted}


def phase_engine(work: dict) -> dict:
    """Both stages on one engine; the Spark session is started (and timed) before the stages."""
    from leanops.context import Context
    ctx = Context.open(work["home"], work["schemas"], engine=work["engine"])
    schema = ctx.schema(TOPIC)
    started = time.perf_counter()
    if work["engine"] == "spark":
        ctx.engine.session  # noqa: B018 - start the JVM now, outside the stage timings
    startup = time.perf_counter() - started
    timings = {}
    for stage in ("standardized", "curated"):
        started, cpu = time.perf_counter(), cpu_seconds()
        if stage == "standardized":
            result = ctx.engine.standardized(ctx.lake, ctx.settings, TOPIC, schema.standardized)
        else:
            result = ctx.engine.curated(ctx.lake, ctx.settings, TOPIC, schema)
        timings[stage] = {"seconds": time.perf_counter() - started, "driver_cpu_seconds": cpu_seconds() - cpu,
                          "status": result.status.value, "records_in": result.records_in,
                          "rows": result.records_written, "errors": result.records_errors}
    ctx.close()
    return {"startup_seconds": startup, "stages": timings, "peak_rss_mib": peak_rss_mib()}


PHASES = {"ingest": phase_ingest, "engine": phase_engine}


def measure(n: int, workdir: Path) -> dict:
    schemas = workdir / "schemas"
    schemas.mkdir()
    (schemas / f"{TOPIC}.json").write_text(json.dumps(SCHEMA))
    data = workdir / f"events-{n}.ndjson"
    generate(data, n)
    engines = {}
    for engine in ENGINES:
        work = {"input": str(data), "home": str(workdir / f"home-{engine}"), "schemas": str(schemas), "engine": engine}
        clear(workdir / f"home-{engine}")
        ingested = run_child(__file__, "ingest", work)["rows"]
        report = run_child(__file__, "engine", work)
        report["ingested"] = ingested
        report["seconds"] = sum(s["seconds"] for s in report["stages"].values())
        report["events_per_s"] = n / report["seconds"] if report["seconds"] else None
        engines[engine] = report
    rows_ok = all(r["ingested"] == n and all(s["rows"] == n and s["errors"] == 0 for s in r["stages"].values())
                  for r in engines.values())
    return {"events": n, "baseline": "embedded", "engines": engines,
            "ratio_spark_vs_embedded_seconds": engines["spark"]["seconds"] / engines["embedded"]["seconds"],
            "rows_ok": rows_ok, "environment": environment()}


def print_table(r: dict) -> None:
    env = r["environment"]
    print(f"lean-ops engine benchmark: {r['events']:,} events, standardize + curate; "
          f"leanops {env['leanops']}, {env['cpus']} CPUs")
    print(f"{'engine':<10}{'startup s':>11}{'standardize s':>15}{'curate s':>10}{'total s':>9}{'events/s':>11}"
          f"{'driver RSS MiB':>16}")
    for name, e in r["engines"].items():
        s = e["stages"]
        print(f"{name:<10}{e['startup_seconds']:>11.1f}{s['standardized']['seconds']:>15.2f}"
              f"{s['curated']['seconds']:>10.2f}{e['seconds']:>9.2f}{e['events_per_s']:>11,.0f}{e['peak_rss_mib']:>16.0f}")
    print(f"\nspark / embedded (standardize + curate seconds) = {r['ratio_spark_vs_embedded_seconds']:.2f}x "
          "(baseline: embedded; startup not included)")
    if not r["rows_ok"]:
        print(f"ROW COUNT MISMATCH: expected {r['events']:,} rows written by every stage")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, help="where input and homes go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp workdir")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if child_main(args, PHASES):
        return 0
    if args.events < 1:
        parser.error("--events must be at least 1")
    names = ("schemas", "home-embedded", "home-spark", f"events-{args.events}.ndjson")
    result = measure_in_workdir(args.workdir, args.keep, "leanops-bench-engines-", names,
                                lambda w: measure(args.events, w))
    return emit(result, args.json, print_table, result["rows_ok"])


if __name__ == "__main__":
    sys.exit(main())
