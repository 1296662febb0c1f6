"""File landing benchmark: `leanops watch` over many small files vs `leanops ingest` of the same lines.

Baseline (same run, same machine): one `ingest_stream` of all the lines concatenated into one file
— the floor, since a manifest is ingested by the same code. What the landing adds on top is per-file
work: discovery, a sha256 of each file, one tracking record per file, the manifest claim and the
per-file status updates. Reported: seconds, lines/s, and the overhead per file.

    python bench/bench_landing.py [--files 400] [--lines 500] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from leanops.context import Context
from leanops.ingest import ingest_stream
from leanops.landing.manifests import LandingOptions
from leanops.landing.watch import watch_pass


def _write_files(landing: Path, files: int, lines: int) -> Path:
    (landing / "events").mkdir(parents=True)
    old = time.time() - 60
    everything = landing.parent / "all.ndjson"
    with everything.open("wb") as joined:
        for f in range(files):
            path = landing / "events" / f"part-{f:05d}.ndjson"
            body = b"".join(orjson.dumps({"message_id": f"m-{f}-{i}", "publish_time": "2026-01-19T10:00:00Z",
                                          "payload": {"event": {"userId": f"u{i % 97}", "n": i},
                                                      "_metadata": {"idempotencyKeyResource": f"{f}:{i}"}}}) + b"\n"
                            for i in range(lines))
            path.write_bytes(body)
            os.utime(path, (old, old))
            joined.write(body)
    return everything


def run(files: int, lines: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="leanops-bench-landing-"))
    try:
        joined = _write_files(work / "landing", files, lines)
        base = Context.open(work / "base-home", work / "schemas")
        start = time.perf_counter()
        with joined.open("rb") as stream:
            ingest_stream(base.lake, base.state, base.settings, "events", stream, str(joined))
        baseline = time.perf_counter() - start
        base.close()

        ctx = Context.open(work / "home", work / "schemas")
        start = time.perf_counter()
        report = watch_pass(ctx, work / "landing", "events", LandingOptions(settle_seconds=1), flush=True)
        landing = time.perf_counter() - start
        rows = len(ctx.lake.raw_table("events").scan(selected_fields=("message_id",)).to_arrow())
        ctx.close()
        total = files * lines
        assert rows == total and report.tracked == files, (rows, report.tracked)
        return {"files": files, "lines_per_file": lines, "lines": total, "manifests": len(report.results),
                "baseline_ingest_seconds": round(baseline, 3), "watch_seconds": round(landing, 3),
                "baseline_lines_per_second": round(total / baseline), "watch_lines_per_second": round(total / landing),
                "overhead_ms_per_file": round(1000 * (landing - baseline) / files, 2),
                "ratio": round(landing / baseline, 2)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.files, args.lines)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['files']} files x {result['lines_per_file']} lines = {result['lines']:,} lines "
              f"in {result['manifests']} manifests")
        print(f"  baseline  ingest of one concatenated file: {result['baseline_ingest_seconds']:8.3f} s "
              f"({result['baseline_lines_per_second']:,} lines/s)")
        print(f"  leanops watch --once:                      {result['watch_seconds']:8.3f} s "
              f"({result['watch_lines_per_second']:,} lines/s)")
        print(f"  overhead: {result['overhead_ms_per_file']} ms per file; ratio {result['ratio']}x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
