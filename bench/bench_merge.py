"""Benchmark: the Curated MERGE (latest wins by row delta) against PyIceberg's own `Table.upsert`.

    python bench/bench_merge.py                       # 100k batch into 1M and into 4M rows; upsert 10k into 100k
    python bench/bench_merge.py --table-rows 200000 --big-table-rows 800000 --batch-rows 20000 --json
    python bench/bench_merge.py --workdir /tmp/m --repeat 3   # every timed call 3 times, median reported

Phases (each in a fresh child process, so the peak RSS reported is that phase's own):
  load             Standardized table of N rows written directly (string columns, PyIceberg appends), then
                   the first `leanops.stages.curated.run_curated` loads curated.bench (timed: the load);
                   finally the batch is appended to Standardized: half updates of random stored keys
                   (later event_timestamp), half new keys;
  merge        (a) the second `run_curated`: MERGE of the batch into the N-row table (timed), then checked;
  load_big         the same as load with the big table (4M rows);
  merge_big    (c) the same batch merged into the big table;
  baseline_load    a plain PyIceberg table with the same typed columns and partition spec, 100k rows;
  baseline_upsert  (b) `Table.upsert(batch, join_cols=["idempotency_key"])` of 10k rows, half updates
                   and half new keys (timed).

Targets (from the issue): (a) < 5 s; (a) >= 50x faster per row than (b); (c)/(a) <= 1.5. A benchmark,
not a test: the exit code is 0 whether or not the targets are met (2 for bad usage, 1 if a phase
crashed or a correctness check failed).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_harness.py, whatever the working directory
from _harness import (child_main, clear, cpu_seconds, current_rss_mib, emit, environment,  # noqa: E402
                      measure_in_workdir, median_report, peak_rss_mib, run_child)

TOPIC = "bench"
STRING_COLUMNS = ("idempotency_key", "event_timestamp", "event_userid", "amount", "qty", "event_type",
                  "device_id", "ip_address", "user_agent", "session_id", "region")
SCHEMA = {
    "topic": TOPIC,
    "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
    "curated": {
        "merge_key": "idempotency_key",
        "order_by": "event_timestamp",
        # partition_by: the default, day(publish_time) + bucket(16, idempotency_key)
        "columns": {
            "idempotency_key": {"type": "string", "cde": True},
            "event_timestamp": {"type": "timestamp", "cde": True},
            "event_userid": {"type": "string"},
            "amount": {"type": "decimal(18,2)"},
            "qty": {"type": "int"},
            "event_type": {"type": "string"},
            "device_id": {"type": "string"},
            "ip_address": {"type": "string"},
            "user_agent": {"type": "string"},
            "session_id": {"type": "string"},
            "region": {"type": "string"},
        },
    },
}
MERGE_SECONDS_TARGET = 5.0
SPEEDUP_TARGET = 50.0
BIG_RATIO_TARGET = 1.5
SCAN_VERIFY_MAX_ROWS = 1_000_000  # above this, the live row count comes from the snapshot summary
APPEND_CHUNK_ROWS = 500_000  # rows per Standardized append while building (bounds memory)
MIB = 1024 * 1024

# Time layout: the table's rows are published over 30 days from START; the batch comes on day 31
# (from 01:00), so every batch event_timestamp is later than every stored one (updates win).
START = "2026-01-01 00:00:00+00"
TABLE_DAYS = 30
INGEST_START = "2026-02-01 00:00:00+00"  # ingestion_ts of the table's rows (+1 ms per row)
BATCH_INGEST_START = "2026-03-01 00:00:00+00"  # ingestion_ts of the batch (later than every stored row)
BATCH_EVENT_MIN = "2026-01-31 00:00:00+00:00"  # START + 30 days: every batch event_timestamp is >= this,
# every stored one is earlier

# One generated row per (n, k, pt, it, h): ordinal, key index, publish time, ingestion time, hash.
_ROW_SQL = """
SELECT {prefix} || lpad(n::VARCHAR, 10, '0') AS message_id,
       'bench' AS topic_name,
       pt AS publish_time,
       it AS ingestion_ts,
       md5('bench-key-' || k) AS idempotency_key,
       pt - to_milliseconds((h % 60000)::BIGINT) AS event_ts,
       'user-' || lpad((h % 50000)::VARCHAR, 6, '0') AS event_userid,
       (((h >> 12) % 10000000)::DECIMAL(18,2) / 100)::DECIMAL(18,2) AS amount_dec,
       ((h >> 8) % 100)::INTEGER AS qty_int,
       ['device.telemetry', 'device.status', 'user.action', 'sensor.reading', 'gateway.sync'][((h >> 20) % 5 + 1)::BIGINT]
           AS event_type,
       'dev-' || lpad(((h >> 24) % 1000000)::VARCHAR, 8, '0') AS device_id,
       '10.' || ((h >> 16) % 256) || '.' || ((h >> 28) % 256) || '.' || ((h >> 36) % 256) AS ip_address,
       'iot-agent/' || (100 + (h >> 40) % 32) || '.' || ((h >> 45) % 7) || ' (Linux; armv7l)' AS user_agent,
       md5('session-' || {prefix} || n) AS session_id,
       'eu-west-' || ((h >> 50) % 4) AS region
FROM ({source})
"""
_STRING_PROJECTION = ("message_id, topic_name, publish_time, ingestion_ts, idempotency_key, "
                      "strftime(event_ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS event_timestamp, event_userid, "
                      "amount_dec::VARCHAR AS amount, qty_int::VARCHAR AS qty, event_type, device_id, "
                      "ip_address, user_agent, session_id, region")
_TYPED_PROJECTION = ("message_id, topic_name, publish_time, ingestion_ts, idempotency_key, "
                     "event_ts AS event_timestamp, event_userid, amount_dec AS amount, qty_int AS qty, event_type, "
                     "device_id, ip_address, user_agent, session_id, region")


def _table_source(start: int, stop: int, total: int) -> str:
    """Rows [start, stop) of a `total`-row table: publish_time rises over 30 days (+ up to 5 min jitter)."""
    span = TABLE_DAYS * 86400
    return (f"SELECT i AS n, i AS k, hash(i, 1) AS h, "
            f"TIMESTAMPTZ '{START}' + to_microseconds(least(((i * {span}::DOUBLE / {total}) * 1e6)::BIGINT "
            f"+ (hash(i, 2) % 300000000)::BIGINT, {span * 1_000_000 - 1})) AS pt, "
            f"TIMESTAMPTZ '{INGEST_START}' + to_milliseconds(i) AS it "
            f"FROM range({start}, {stop}) t(i)")


def _batch_source(table_rows: int, batch_rows: int, updates: int) -> str:
    """`updates` rows re-using random stored keys and batch_rows - updates new keys, shuffled; day 31."""
    return (f"WITH picked AS (SELECT i AS k FROM range({table_rows}) t(i) ORDER BY md5('pick-' || i) "
            f"LIMIT {updates}), "
            f"keys AS (SELECT k FROM picked UNION ALL SELECT {table_rows} + j FROM range({batch_rows - updates}) t(j)), "
            f"ordered AS (SELECT k, row_number() OVER (ORDER BY md5('order-' || k)) - 1 AS n FROM keys) "
            f"SELECT n, k, hash(n, 7) AS h, "
            f"TIMESTAMPTZ '{START}' + INTERVAL {TABLE_DAYS} DAY + INTERVAL 1 HOUR "
            f"+ to_microseconds((n * (23 * 3600)::DOUBLE / {batch_rows} * 1e6)::BIGINT) AS pt, "
            f"TIMESTAMPTZ '{BATCH_INGEST_START}' + to_milliseconds(n) AS it FROM ordered")


def generate_rows(con, source: str, prefix: str, typed: bool):
    """Arrow rows from a generator source; strings (Standardized) or typed (the baseline table)."""
    from leanops import duck
    projection = _TYPED_PROJECTION if typed else _STRING_PROJECTION
    sql = f"SELECT {projection} FROM ({_ROW_SQL.format(prefix=repr(prefix), source=source)}) ORDER BY message_id"
    return duck.arrow(con, sql)


def _generator():
    from leanops import duck
    return duck.connect()


# -- measurement helpers ----------------------------------------------------------------------
def _load1() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


class _Timed:
    """perf_counter and process CPU time around a block, the 1-minute load average before and after."""

    def __enter__(self) -> "_Timed":
        self.load_before = _load1()
        self.baseline_rss = current_rss_mib()
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = cpu_seconds() - self._cpu
        self.peak_rss = peak_rss_mib()  # before any checking, which would add its own memory
        self.load_after = _load1()

    def report(self) -> dict:
        return {"seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "baseline_rss_mib": self.baseline_rss,
                "peak_rss_mib": self.peak_rss, "load1_before": self.load_before, "load1_after": self.load_after}


def _live_rows_from_summary(table) -> tuple[int, dict]:
    summary = table.current_snapshot().summary
    props = summary.additional_properties if summary else {}
    total = int(props.get("total-records", 0))
    deleted = int(props.get("total-position-deletes", 0))
    return total - deleted, {"total_records": total, "total_position_deletes": deleted,
                             "total_data_files": int(props.get("total-data-files", 0)),
                             "total_delete_files": int(props.get("total-delete-files", 0))}


# -- phases (each runs in its own child process) --------------------------------------------
def phase_load(work: dict) -> dict:
    """Standardized of N string rows, the first run_curated (timed), then the batch into Standardized."""
    from pyiceberg.types import StringType

    from leanops.catalog.commit import conform
    from leanops.context import Context
    from leanops.stages.curated import run_curated

    n, batch, updates = work["table_rows"], work["batch_rows"], work["updates"]
    ctx = Context.open(work["home"], work["schemas"])
    con = _generator()
    setup_started = time.perf_counter()
    std = ctx.lake.standardized_table(TOPIC, create=True)
    with std.update_schema() as update:
        for name in STRING_COLUMNS:
            update.add_column(name, StringType())
    target = std.schema().as_arrow()
    row_bytes = 0
    for start in range(0, n, APPEND_CHUNK_ROWS):
        rows = generate_rows(con, _table_source(start, min(start + APPEND_CHUNK_ROWS, n), n), "m-", typed=False)
        row_bytes += rows.nbytes
        std.append(conform(rows, target))
        del rows
    setup_seconds = time.perf_counter() - setup_started

    schema = ctx.schema(TOPIC)
    runs = []
    with _Timed() as timed:  # the default settings: at most max_batch_rows per run, the rest is backlog
        while True:
            result = run_curated(ctx.lake, ctx.settings, TOPIC, schema)
            if result.status.value == "NO_NEW_DATA":
                break
            runs.append(result)
    curated = ctx.lake.curated_table(TOPIC)
    live, summary = _live_rows_from_summary(curated)

    batch_started = time.perf_counter()
    rows = generate_rows(con, _batch_source(n, batch, updates), "u-", typed=False)
    batch_bytes = rows.nbytes
    std.append(conform(rows, target))
    batch_seconds = time.perf_counter() - batch_started
    settings_max = ctx.settings.max_batch_rows
    con.close()
    ctx.close()
    report = timed.report()
    report.update({
        "rows": live, "runs": len(runs), "status": "SUCCEEDED" if all(r.status.value == "SUCCEEDED" for r in runs)
        else "FAILED", "records_in": sum(r.records_in for r in runs),
        "records_written": sum(r.records_written for r in runs), "records_errors": sum(r.records_errors for r in runs),
        "max_batch_rows": settings_max,
        "setup_seconds": setup_seconds, "batch_append_seconds": batch_seconds,
        "avg_row_bytes": row_bytes / n if n else 0, "batch_avg_row_bytes": batch_bytes / batch if batch else 0,
        "standardized_rows": n + batch, **summary,
    })
    return report


def phase_merge(work: dict) -> dict:
    """The timed second run_curated: the batch merged into the loaded table; then its checks."""
    import pyarrow.compute as pc

    from leanops.context import Context
    from leanops.stages.curated import run_curated

    n, batch, updates = work["table_rows"], work["batch_rows"], work["updates"]
    ctx = Context.open(work["home"], work["schemas"])
    schema = ctx.schema(TOPIC)
    with _Timed() as timed:
        result = run_curated(ctx.lake, ctx.settings, TOPIC, schema)
    report = timed.report()

    table = ctx.lake.curated_table(TOPIC)
    live, summary = _live_rows_from_summary(table)
    props = table.current_snapshot().summary.additional_properties
    found = re.match(r"^(\d+) stored rows replaced", result.message or "")
    report.update({
        "status": result.status.value, "records_in": result.records_in, "records_written": result.records_written,
        "records_errors": result.records_errors, "records_superseded": result.records_superseded,
        "message": result.message, "replaced": int(found.group(1)) if found else 0,
        "summary_replaced": int(props.get("leanops.replaced", -1)), "live_rows_summary": live, **summary,
    })
    if n <= SCAN_VERIFY_MAX_ROWS:  # read back through PyIceberg (position deletes applied)
        keys = table.scan(selected_fields=("idempotency_key", "event_timestamp")).to_arrow()
        cutoff = datetime.fromisoformat(BATCH_EVENT_MIN)
        report.update({
            "live_rows_method": "scan", "rows": keys.num_rows,
            "distinct_keys": pc.count_distinct(keys.column("idempotency_key")).as_py(),
            "new_versions": pc.sum(pc.greater_equal(keys.column("event_timestamp"), cutoff)).as_py() or 0,
        })
    else:
        report.update({"live_rows_method": "summary", "rows": live})
    ctx.close()

    checks = {
        "status": report["status"] == "SUCCEEDED",
        "records_in": report["records_in"] == batch,
        "records_written": report["records_written"] == batch,
        "records_errors": report["records_errors"] == 0,
        "records_superseded": report["records_superseded"] == 0,
        "replaced": report["replaced"] == updates and report["summary_replaced"] == updates,
        "live_rows": report["rows"] == n + batch - updates and live == n + batch - updates,
    }
    if report["live_rows_method"] == "scan":
        checks["distinct_keys"] = report["distinct_keys"] == report["rows"]
        checks["new_versions"] = report["new_versions"] == batch
    report["checks"] = checks
    return report


def _baseline_catalog(work: dict):
    from pyiceberg.catalog.sql import SqlCatalog
    home = Path(work["baseline_home"])
    (home / "warehouse").mkdir(parents=True, exist_ok=True)
    return SqlCatalog("baseline", uri=f"sqlite:///{home / 'catalog.db'}", warehouse=(home / "warehouse").as_uri())


def _baseline_schema():
    from pyiceberg.schema import Schema
    from pyiceberg.types import DecimalType, IntegerType, NestedField, StringType, TimestamptzType
    types = {"publish_time": TimestamptzType(), "ingestion_ts": TimestamptzType(), "event_timestamp": TimestamptzType(),
             "amount": DecimalType(18, 2), "qty": IntegerType()}
    names = ("message_id", "topic_name", "publish_time", "ingestion_ts") + STRING_COLUMNS
    return Schema(*[NestedField(i, name, types.get(name, StringType()), required=i <= 4)
                    for i, name in enumerate(names, 1)])


def phase_baseline_load(work: dict) -> dict:
    """A plain PyIceberg table: curated's typed columns, day(publish_time) + bucket(16, key), N rows."""
    from leanops.catalog.commit import conform
    from leanops.catalog.partitioning import partition_spec
    from leanops.schema_file import default_partitions

    n = work["baseline_table_rows"]
    catalog = _baseline_catalog(work)
    catalog.create_namespace("bench")
    schema = _baseline_schema()
    spec = partition_spec(default_partitions("idempotency_key"), schema)  # curated's default
    table = catalog.create_table("bench.upsert", schema=schema, partition_spec=spec)
    con = _generator()
    rows = conform(generate_rows(con, _table_source(0, n, n), "m-", typed=True), table.schema().as_arrow())
    con.close()
    with _Timed() as timed:
        table.append(rows)
    report = timed.report()
    report.update({"rows": int(table.current_snapshot().summary.additional_properties.get("total-records", 0)),
                   "data_files": len(table.inspect.files())})
    report["checks"] = {"rows": report["rows"] == n}
    return report


def phase_baseline_upsert(work: dict) -> dict:
    """The timed `Table.upsert` of the baseline batch; then its checks."""
    from leanops.catalog.commit import conform

    n, batch, updates = work["baseline_table_rows"], work["baseline_batch_rows"], work["baseline_updates"]
    table = _baseline_catalog(work).load_table("bench.upsert")
    con = _generator()
    rows = conform(generate_rows(con, _batch_source(n, batch, updates), "u-", typed=True), table.schema().as_arrow())
    con.close()
    with _Timed() as timed:
        outcome = table.upsert(rows, join_cols=["idempotency_key"])
    report = timed.report()
    live = table.scan(selected_fields=("idempotency_key",)).to_arrow().num_rows
    report.update({"rows": live, "rows_updated": outcome.rows_updated, "rows_inserted": outcome.rows_inserted,
                   "data_files": len(table.inspect.files())})
    report["checks"] = {"rows_updated": outcome.rows_updated == updates,
                        "rows_inserted": outcome.rows_inserted == batch - updates,
                        "live_rows": live == n + batch - updates}
    return report


PHASES = {"load": phase_load, "merge": phase_merge, "baseline_load": phase_baseline_load,
          "baseline_upsert": phase_baseline_upsert}


# -- driver -----------------------------------------------------------------------------------
def _timed_runs(phase: str, work: dict, home_key: str, repeat: int) -> dict:
    """The timed phase `repeat` times, each on the same built home (restored from a copy between runs).

    The home is restored to the very same path, so the catalog's absolute file URIs stay valid.
    Reports the median run (by seconds), the largest peak RSS and every run's seconds.
    """
    home = Path(work[home_key])
    saved = home.with_name(home.name + ".saved")
    if repeat > 1:
        shutil.copytree(home, saved)
    reports = []
    for i in range(repeat):
        if i:
            shutil.rmtree(home)
            shutil.copytree(saved, home)
        reports.append(run_child(__file__, phase, work))
    if repeat > 1:
        shutil.rmtree(saved)
    report = median_report(reports)
    report["checks"] = {k: all(r["checks"][k] for r in reports) for k in report["checks"]}
    return report


def measure(args: argparse.Namespace, workdir: Path) -> dict:
    schemas = workdir / "schemas"
    schemas.mkdir()
    (schemas / f"{TOPIC}.json").write_text(json.dumps(SCHEMA))
    updates, baseline_updates = args.batch_rows // 2, args.baseline_batch_rows // 2
    common = {"schemas": str(schemas), "batch_rows": args.batch_rows, "updates": updates,
              "baseline_home": str(workdir / "baseline"), "baseline_table_rows": args.baseline_table_rows,
              "baseline_batch_rows": args.baseline_batch_rows, "baseline_updates": baseline_updates}
    load_before = os.getloadavg()
    started = time.perf_counter()
    phases: dict[str, dict] = {}

    def merge_pair(tag: str, rows: int) -> None:
        work = {**common, "home": str(workdir / f"home-{tag}"), "table_rows": rows}
        load = run_child(__file__, "load", work)
        load["checks"] = {"status": load["status"] == "SUCCEEDED",
                          "rows": load["rows"] == rows and load["records_written"] == rows}
        suffix = "" if tag == "table" else "_big"
        phases["load" + suffix] = {**load, "table_rows": rows, "batch_rows": rows}
        phases["merge" + suffix] = {**_timed_runs("merge", work, "home", args.repeat), "table_rows": rows,
                                    "batch_rows": args.batch_rows}
        if not args.keep_homes:
            clear(Path(work["home"]))

    merge_pair("table", args.table_rows)
    baseline_load = run_child(__file__, "baseline_load", common)
    phases["baseline_load"] = {**baseline_load, "table_rows": args.baseline_table_rows,
                               "batch_rows": args.baseline_table_rows}
    phases["baseline_upsert"] = {**_timed_runs("baseline_upsert", common, "baseline_home", args.repeat),
                                 "table_rows": args.baseline_table_rows, "batch_rows": args.baseline_batch_rows}
    if args.big_table_rows:
        merge_pair("big", args.big_table_rows)

    for p in phases.values():
        p["rows_per_s"] = p["batch_rows"] / p["seconds"] if p["seconds"] else None
        p["seconds_per_row"] = p["seconds"] / p["batch_rows"] if p["batch_rows"] else None
    merge, upsert, big = phases["merge"], phases["baseline_upsert"], phases.get("merge_big")
    speedup = upsert["seconds_per_row"] / merge["seconds_per_row"] if merge["seconds_per_row"] else None
    cpu_speedup = ((upsert["cpu_seconds"] / upsert["batch_rows"]) / (merge["cpu_seconds"] / merge["batch_rows"])
                   if merge["cpu_seconds"] else None)
    big_ratio = big["seconds"] / merge["seconds"] if big and merge["seconds"] else None
    failed = [f"{name}.{check}" for name, p in phases.items() for check, ok in p.get("checks", {}).items() if not ok]
    return {
        "table_rows": args.table_rows,
        "big_table_rows": args.big_table_rows,
        "batch_rows": args.batch_rows,
        "batch_updates": updates,
        "baseline_table_rows": args.baseline_table_rows,
        "baseline_batch_rows": args.baseline_batch_rows,
        "baseline_updates": baseline_updates,
        "repeat": args.repeat,
        "avg_row_bytes": phases["load"]["avg_row_bytes"],
        "total_seconds": time.perf_counter() - started,
        "phases": phases,
        "speedup_per_row_vs_upsert": speedup,
        # the same on CPU seconds: steadier than wall time when other work shares the machine
        "cpu_speedup_per_row_vs_upsert": cpu_speedup,
        "big_vs_table_ratio": big_ratio,
        "cpu_big_vs_table_ratio": big["cpu_seconds"] / merge["cpu_seconds"] if big and merge["cpu_seconds"] else None,
        "targets": {
            "merge_seconds_max": MERGE_SECONDS_TARGET,
            "merge_seconds_pass": merge["seconds"] < MERGE_SECONDS_TARGET,
            "speedup_min": SPEEDUP_TARGET,
            "speedup_pass": speedup is not None and speedup >= SPEEDUP_TARGET,
            "big_ratio_max": BIG_RATIO_TARGET,
            "big_ratio_pass": None if big_ratio is None else big_ratio <= BIG_RATIO_TARGET,
        },
        "checks_failed": failed,
        "checks_ok": not failed,
        "environment": {**environment(), "loadavg_start": list(load_before), "loadavg_end": list(os.getloadavg())},
    }


def _short(n: int) -> str:
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return f"{n:,}"


def print_table(r: dict) -> None:
    env, ph = r["environment"], r["phases"]
    print(f"lean-ops curated MERGE benchmark: batch of {r['batch_rows']:,} rows ({r['batch_updates']:,} updates of "
          f"random stored keys + {r['batch_rows'] - r['batch_updates']:,} new keys), "
          f"~{r['avg_row_bytes']:.0f} bytes/row (Arrow, Standardized strings); total {r['total_seconds']:.0f} s")
    print(f"leanops {env['leanops']}, python {env['python']}, duckdb {env['duckdb']}, pyarrow {env['pyarrow']}, "
          f"pyiceberg {env['pyiceberg']}, {env['cpus']} CPUs; load average "
          f"{' '.join(f'{x:.2f}' for x in env['loadavg_start'])} at start, "
          f"{' '.join(f'{x:.2f}' for x in env['loadavg_end'])} at end")
    print()
    labels = {
        "load": f"load {_short(r['table_rows'])} (run_curated)",
        "merge": f"(a) MERGE into {_short(r['table_rows'])}",
        "baseline_load": f"baseline append {_short(r['baseline_table_rows'])}",
        "baseline_upsert": f"(b) upsert into {_short(r['baseline_table_rows'])}",
        "load_big": f"load {_short(r['big_table_rows'])} (run_curated)",
        "merge_big": f"(c) MERGE into {_short(r['big_table_rows'])}",
    }
    print(f"{'phase':<26}{'table rows':>12}{'batch':>11}{'seconds':>9}{'CPU s':>8}{'rows/s':>11}{'us/row':>9}"
          f"{'peak RSS MiB':>14}{'load1':>7}")
    for name, p in ph.items():
        print(f"{labels[name]:<26}{p['table_rows']:>12,}{p['batch_rows']:>11,}{p['seconds']:>9.2f}"
              f"{p['cpu_seconds']:>8.2f}{p['rows_per_s']:>11,.0f}{p['seconds_per_row'] * 1e6:>9.1f}"
              f"{p['peak_rss_mib']:>14.0f}{(p['load1_before'] or 0):>7.2f}")
    if r["repeat"] > 1:
        print(f"median of {r['repeat']} runs (peak RSS: the largest); seconds of every run:")
        for name in ("merge", "baseline_upsert", "merge_big"):
            if name in ph:
                print(f"  {labels[name]:<24}{', '.join(f'{x:.2f}' for x in ph[name]['samples_seconds'])}")
    loads = [ph[n] for n in ("load", "load_big") if n in ph]
    print("('load' rows: Standardized written directly (took "
          + " and ".join(f"{p['setup_seconds']:.1f} s" for p in loads)
          + "), then run_curated until no new data, timed: "
          + " and ".join(f"{p['runs']} run{'s' if p['runs'] != 1 else ''}" for p in loads)
          + f" of at most max_batch_rows = {ph['load']['max_batch_rows']} rows)")
    print()
    t = r["targets"]
    merge = ph["merge"]
    print(f"(a) MERGE {r['batch_rows']:,} into {r['table_rows']:,}: {merge['seconds']:.2f} s  "
          f"(target < {t['merge_seconds_max']:g} s)  {'PASS' if t['merge_seconds_pass'] else 'FAIL'}")
    up = ph["baseline_upsert"]
    print(f"(a) vs (b) per row: {merge['seconds_per_row'] * 1e6:.1f} us vs {up['seconds_per_row'] * 1e6:.1f} us = "
          f"{r['speedup_per_row_vs_upsert']:.1f}x faster  (target >= {t['speedup_min']:g}x)  "
          f"{'PASS' if t['speedup_pass'] else 'FAIL'}")
    if r.get("cpu_speedup_per_row_vs_upsert"):
        print(f"  (on CPU seconds: {r['cpu_speedup_per_row_vs_upsert']:.1f}x)")
    if r["big_vs_table_ratio"] is not None:
        print(f"(c)/(a) = {ph['merge_big']['seconds']:.2f} s / {merge['seconds']:.2f} s = {r['big_vs_table_ratio']:.2f}  "
              f"(target <= {t['big_ratio_max']:g})  {'PASS' if t['big_ratio_pass'] else 'FAIL'}")
        print(f"  (on CPU seconds: {r['cpu_big_vs_table_ratio']:.2f}; wall time well above CPU time means the "
              "process waited: a busy machine or I/O)")
    else:
        print("(c) skipped (--big-table-rows 0)")
    print()
    for name in ("merge", "merge_big"):
        if name in ph:
            p = ph[name]
            extra = (f", {p['distinct_keys']:,} distinct keys, {p['new_versions']:,} rows of the batch's time"
                     if p["live_rows_method"] == "scan" else "")
            print(f"{labels[name]}: written {p['records_written']:,}, superseded {p['records_superseded']:,}, "
                  f"errors {p['records_errors']:,}, replaced {p['replaced']:,}; live rows {p['rows']:,} "
                  f"({p['live_rows_method']}{extra}); {p['total_data_files']} data files, "
                  f"{p['total_delete_files']} delete files")
    print(f"{labels['baseline_upsert']}: updated {up['rows_updated']:,}, inserted {up['rows_inserted']:,}; "
          f"live rows {up['rows']:,}; {up['data_files']} data files")
    if r["checks_ok"]:
        print("correctness checks: all passed")
    else:
        print("CORRECTNESS CHECKS FAILED: " + ", ".join(r["checks_failed"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table-rows", type=int, default=1_000_000, help="rows of the table for (a) (default 1M)")
    parser.add_argument("--big-table-rows", type=int, default=4_000_000,
                        help="rows of the table for (c) (default 4M; 0 skips (c))")
    parser.add_argument("--batch-rows", type=int, default=100_000,
                        help="rows merged in (a) and (c), half updates (default 100k)")
    parser.add_argument("--baseline-table-rows", type=int, default=100_000,
                        help="rows of the PyIceberg table for (b) (default 100k)")
    parser.add_argument("--baseline-batch-rows", type=int, default=10_000,
                        help="rows upserted in (b), half updates (default 10k)")
    parser.add_argument("--workdir", type=Path, help="where the homes go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (a --workdir is always kept)")
    parser.add_argument("--keep-homes", action="store_true",
                        help="keep the merged homes (by default each is removed after its phase to save disk)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every timed MERGE/upsert this many times on the same built table; report the median")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--json-file", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if child_main(args, PHASES):
        return 0
    if min(args.table_rows, args.batch_rows, args.baseline_table_rows, args.baseline_batch_rows, args.repeat) < 1:
        parser.error("--table-rows, --batch-rows, --baseline-table-rows, --baseline-batch-rows and --repeat "
                     "must be at least 1")
    if args.big_table_rows < 0:
        parser.error("--big-table-rows must be 0 (skip) or more")
    if args.batch_rows // 2 > min(args.table_rows, args.big_table_rows or args.table_rows):
        parser.error("half the batch updates stored keys: --batch-rows must be at most twice the table rows")
    if args.baseline_batch_rows // 2 > args.baseline_table_rows:
        parser.error("--baseline-batch-rows must be at most twice --baseline-table-rows")
    result = measure_in_workdir(args.workdir, args.keep, "leanops-bench-merge-", (
        "schemas", "home-table", "home-big", "baseline", "home-table.saved", "home-big.saved", "baseline.saved"),
        lambda workdir: measure(args, workdir))
    if args.json_file:
        args.json_file.write_text(json.dumps(result, indent=2) + "\n")
    return emit(result, args.json, print_table, result["checks_ok"])


if __name__ == "__main__":
    sys.exit(main())
