"""Replay benchmark: `leanops errors replay --layer dlq|parse` against landing the same fixes as new data.

A topic is ingested with some lines that are not envelopes (DLQ) and some payloads that are broken
JSON (parse errors), and standardized. Every error is then exported, corrected and replayed.

Baselines (same run, same machine), on a second home:
- dlq: `ingest_stream` of the same corrected lines: what an operator would do without replay (at
  the price of counting each record twice). The replay adds the export, the key matching, the
  DLQ deletion and the accountability-safe commit summary.
- parse: a Standardized run over the same corrected records, ingested as new RAW rows: the same
  screening, flattening and commit. The replay adds the export, the corrections table and the
  parse-error deletion.

    python bench/bench_replay.py [--records 200000] [--errors 20000] [--json]
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from leanops.context import Context
from leanops.ingest import ingest_stream
from leanops.ops.corrections import export_errors, replay_dlq, replay_parse
from leanops.stages.accountability import topic_accounts
from leanops.stages.standardized import run_standardized

SCHEMA = {"topic": "events", "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}}}


def _payload(i: int) -> dict:
    return {"event": {"userId": f"u{i % 97}", "n": i, "kind": "click"}, "_metadata": {"idempotencyKeyResource": str(i)}}


def _lines(records: int, errors: int) -> bytes:
    """`records` lines: the first `errors` lack a message_id (DLQ), the next `errors` carry broken JSON."""
    out = []
    for i in range(records):
        if i < errors:
            doc = {"payload": _payload(i)}
        elif i < 2 * errors:
            doc = {"message_id": f"m-{i}", "payload": orjson.dumps(_payload(i)).decode()[:-1]}
        else:
            doc = {"message_id": f"m-{i}", "payload": _payload(i)}
        out.append(orjson.dumps({**doc, "publish_time": "2026-01-19T10:00:00Z"}))
    return b"\n".join(out) + b"\n"


def _ingest(ctx: Context, body: bytes) -> None:
    ingest_stream(ctx.lake, ctx.state, ctx.settings, "events", io.BytesIO(body), "bench.ndjson")


def run(records: int, errors: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="leanops-bench-replay-"))
    try:
        (work / "schemas").mkdir()
        (work / "schemas" / "events.json").write_text(json.dumps(SCHEMA))
        ctx = Context.open(work / "home", work / "schemas")
        _ingest(ctx, _lines(records, errors))
        run_standardized(ctx.lake, ctx.settings, "events", ctx.schema("events").standardized)

        start = time.perf_counter()
        exported = list(export_errors(ctx.lake, "events", "dlq")) + list(export_errors(ctx.lake, "events", "parse"))
        export_seconds = time.perf_counter() - start
        dlq_fixes = [orjson.dumps({**row, "envelope": {"message_id": f"m-{row['line_number'] - 1}",
                                                       "payload": _payload(row["line_number"] - 1)}}).decode()
                     for row in exported if "line_number" in row]
        parse_fixes = [orjson.dumps({"message_id": row["message_id"], "payload": row["payload"] + "}"}).decode()
                       for row in exported if "message_id" in row]
        start = time.perf_counter()
        dlq = replay_dlq(ctx, "events", dlq_fixes)
        dlq_seconds = time.perf_counter() - start
        start = time.perf_counter()
        parse = replay_parse(ctx, "events", parse_fixes)
        parse_seconds = time.perf_counter() - start
        ok = all(a.ok for a in topic_accounts(ctx.lake, "events"))
        assert dlq.fixed == errors and parse.fixed == errors and ok, (dlq.as_dict(), parse.as_dict())
        ctx.close()

        base = Context.open(work / "base-home", work / "schemas")
        corrected = b"".join(orjson.dumps(json.loads(line)["envelope"]) + b"\n" for line in dlq_fixes)
        start = time.perf_counter()
        _ingest(base, corrected)
        ingest_seconds = time.perf_counter() - start
        run_standardized(base.lake, base.settings, "events", base.schema("events").standardized)
        _ingest(base, b"".join(orjson.dumps({"message_id": f"x-{i}", "payload": json.loads(line)["payload"]}) + b"\n"
                               for i, line in enumerate(parse_fixes)))
        start = time.perf_counter()
        run_standardized(base.lake, base.settings, "events", base.schema("events").standardized)
        standardize_seconds = time.perf_counter() - start
        base.close()
        return {"records": records, "errors_per_layer": errors, "export_seconds": round(export_seconds, 3),
                "dlq_replay_seconds": round(dlq_seconds, 3), "baseline_ingest_seconds": round(ingest_seconds, 3),
                "dlq_ratio": round(dlq_seconds / ingest_seconds, 2),
                "parse_replay_seconds": round(parse_seconds, 3),
                "baseline_standardize_seconds": round(standardize_seconds, 3),
                "parse_ratio": round(parse_seconds / standardize_seconds, 2),
                "dlq_fixes_per_second": round(errors / dlq_seconds), "parse_fixes_per_second": round(errors / parse_seconds)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--errors", type=int, default=20_000, help="DLQ lines, and as many parse errors")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if 2 * args.errors > args.records:
        parser.error("--errors may be at most half of --records")
    result = run(args.records, args.errors)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['records']:,} records; {result['errors_per_layer']:,} DLQ lines and as many parse errors, "
              f"all exported ({result['export_seconds']:.3f} s, not in the figures below), corrected and replayed")
        print(f"  dlq:   replay {result['dlq_replay_seconds']:8.3f} s ({result['dlq_fixes_per_second']:,} fixes/s); "
              f"baseline ingest of the corrected lines {result['baseline_ingest_seconds']:.3f} s; "
              f"ratio {result['dlq_ratio']}x")
        print(f"  parse: replay {result['parse_replay_seconds']:8.3f} s ({result['parse_fixes_per_second']:,} fixes/s); "
              f"baseline Standardized run of the same records {result['baseline_standardize_seconds']:.3f} s; "
              f"ratio {result['parse_ratio']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
