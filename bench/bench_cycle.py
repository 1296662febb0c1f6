"""Orchestrator cycle benchmark.

(1) A cycle over 200 topics with no new data (target: under 1 s on this machine, issue 19; it should
    touch only metadata, and metadata already parsed in the process is not parsed again), against a baseline measured in the same run: the time just to load every topic's RAW
    table from the catalog (the floor any metadata-only cycle pays).
(2) A cycle over 20 topics with 50,000 new events each (Standardized only), with the events/s.

    python bench/bench_cycle.py [--topics 200] [--busy-topics 20] [--events 50000] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from leanops.context import Context
from leanops.ingest import ingest_stream
from leanops.orchestrate.alerts import Fanout
from leanops.orchestrate.cycle import CycleOptions, run_cycle
from leanops.types import RunStatus


IDLE_TARGET_SECONDS = 1.0  # issue 19 (it was 5 s)


def _schema(schemas: Path, topic: str) -> None:
    (schemas / f"{topic}.json").write_text(json.dumps({"topic": topic, "standardized": {
        "column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}}}))


def _events(path: Path, topic: str, n: int) -> None:
    with path.open("wb") as out:
        for i in range(n):
            out.write(orjson.dumps({"message_id": f"{topic}-{i}", "publish_time": "2026-01-19T10:00:00Z", "payload": {
                "event": {"userId": f"u{i % 997}", "eventType": "reading", "timestamp": "2026-01-19T10:00:00Z",
                          "metadata": {"deviceId": f"dev-{i % 5000}", "ipAddress": "10.0.0.1"}},
                "_metadata": {"idempotencyKeyResource": f"{topic}:{i}"}}}) + b"\n")


def _ingest(ctx: Context, topic: str, path: Path) -> None:
    with path.open("rb") as stream:
        ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, stream, str(path))


def idle_cycle(work: Path, topics: int) -> dict:
    ctx = Context.open(work / "idle-home", work / "idle-schemas")
    (work / "idle-schemas").mkdir(exist_ok=True)
    one = work / "one.ndjson"
    _events(one, "x", 5)
    for i in range(topics):
        _schema(work / "idle-schemas", f"t{i:03d}")
        _ingest(ctx, f"t{i:03d}", one)
    run_cycle(ctx, CycleOptions(concurrency=4), Fanout([]))  # process the data once
    start = time.perf_counter()
    for i in range(topics):
        ctx.lake.raw_table(f"t{i:03d}")
    baseline = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    report = run_cycle(ctx, CycleOptions(concurrency=4), Fanout([]))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert all(o.status == RunStatus.NO_NEW_DATA for o in report.outcomes), "idle cycle did work"
    return {"topics": topics, "cycle_seconds": round(seconds, 3), "cycle_cpu_seconds": round(cpu, 3),
            "baseline_load_raw_tables_seconds": round(baseline, 3)}


def busy_cycle(work: Path, topics: int, events: int) -> dict:
    ctx = Context.open(work / "busy-home", work / "busy-schemas")
    (work / "busy-schemas").mkdir(exist_ok=True)
    for i in range(topics):
        topic = f"b{i:02d}"
        _schema(work / "busy-schemas", topic)
        path = work / f"{topic}.ndjson"
        _events(path, topic, events)
        _ingest(ctx, topic, path)
        path.unlink()
    start = time.perf_counter()
    report = run_cycle(ctx, CycleOptions(concurrency=2), Fanout([]))
    seconds = time.perf_counter() - start
    written = sum(s.records_written for o in report.outcomes for s in o.stages)
    assert written == topics * events, f"wrote {written}"
    return {"topics": topics, "events_per_topic": events, "cycle_seconds": round(seconds, 2),
            "events_per_second": round(written / seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--busy-topics", type=int, default=20)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leanops-bench-cycle-"))
    try:
        idle = idle_cycle(work, args.topics)
        busy = busy_cycle(work, args.busy_topics, args.events)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"idle": idle, "busy": busy, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
              "load_average": os.getloadavg()[0], "idle_target_seconds": IDLE_TARGET_SECONDS,
              "idle_pass": idle["cycle_seconds"] < IDLE_TARGET_SECONDS}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"idle cycle: {idle['topics']} topics, no new data: {idle['cycle_seconds']:.2f} s, "
              f"{idle['cycle_cpu_seconds']:.2f} CPU s (target < {IDLE_TARGET_SECONDS:g} s: "
              f"{'PASS' if result['idle_pass'] else 'FAIL'}); baseline, loading every RAW "
              f"table once: {idle['baseline_load_raw_tables_seconds']:.2f} s")
        print(f"busy cycle: {busy['topics']} topics x {busy['events_per_topic']:,} new events: "
              f"{busy['cycle_seconds']:.1f} s ({busy['events_per_second']:,} events/s, Standardized)")
        print(f"peak RSS {result['peak_rss_mib']} MiB, load average {result['load_average']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
