"""Benchmark: NDJSON to a deduplicated, flattened, typed, latest-per-key table, end to end (issue 19).

    python bench/bench_e2e.py                                  # 1,000,000 events, every system once
    python bench/bench_e2e.py --repeat 3                       # medians of 3 (advised)
    python bench/bench_e2e.py --events 2000 --json --workdir /tmp/e2e
    python bench/bench_e2e.py --rss-scale 4000000              # also lean-ops alone at 4M: is its peak RSS flat?

The job: N envelopes `{"message_id", "publish_time", "payload": {"order": {...}, ...}}` of ~536 bytes,
with ~37% of the events later versions of an earlier order (keys drawn at random from N: about 63%
are distinct, as in the issue) and ~1.5% exact network duplicates (a line sent again). Every system
drops duplicate message_ids, flattens the payload, keeps the latest `updated_at` per idempotency
key (the order id), casts the amount to decimal(18,2) and two timestamps, and writes a table:

  (a) duckdb   DuckDB alone: one `COPY (SELECT ... FROM read_json(...) QUALIFY ...) TO '...parquet'`; the floor;
  (b) leanops  lean-ops through its command line, one process per step: `init`, `deploy`, `ingest`,
               then `run --once` until a run finds no new data (that last, idle run is reported, not counted);
  (c) dlt      dlt's Arrow path into duckdb: pyarrow reads the NDJSON in blocks, flattens and casts them,
               `pipeline.run(..., write_disposition="merge", primary_key=key)` with `dedup_sort` on
               updated_at; needs the `bench` extra (`pip install 'lean-ops[bench]'`), skipped without it.

Each system runs in processes of its own; wall seconds, CPU seconds and peak RSS are each process's
own (os.wait4), interpreter start and imports included. lean-ops' split: ingest is its own process;
standardize and curate run in one `run` process, so their wall seconds come from the run log
(state.db) and their CPU seconds only as the run's total.

Checks (exit 1 when one fails): every step succeeds; lean-ops' curated rows, DuckDB's and dlt's rows
all equal the distinct keys DuckDB found; ingest accepts every line; Standardized drops exactly the
duplicate message_ids; `leanops accountability` passes. Targets (issue 19, moonshot in brackets):
(a)/(b) >= 0.5 on wall and CPU [0.8]; (b) faster than (c) [2x]; ingest >= 400,000 events/s [1M];
lean-ops' peak RSS < 2 GiB (and, with --rss-scale, not growing: the largest process's peak within
1.2x of the smaller run's, the `run --once` processes' within 1.1x, as their batches are bounded by
`max_batch_rows` whatever one ingest holds). A missed target prints MISS and exits 0 unless --strict.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_harness.py, whatever the working directory
from _harness import (child_main, clear, cpu_seconds, emit, environment,  # noqa: E402
                      measure_in_workdir, median_report, run_child, run_measured)

TOPIC = "orders"
KEY = "idempotency_key"
ORDER_BY = "order_updated_at"
SCHEMA = {
    "topic": TOPIC,
    "standardized": {"column_map": {"_metadata_idempotencykeyresource": KEY}},
    "curated": {
        "merge_key": KEY,
        "order_by": ORDER_BY,
        # partition_by: the default, day(publish_time) + bucket(16, idempotency_key)
        "columns": {
            KEY: {"type": "string", "cde": True},
            ORDER_BY: {"type": "timestamp", "cde": True},
            "order_created_at": {"type": "timestamp"},
            "order_amount": {"type": "decimal(18,2)"},
        },
    },
}
# The payload's leaves: JSON path under `payload` -> the column lean-ops' flattening gives it, and the
# cast every system applies (None: kept as it comes). One list, so (a) and (c) write what (b) writes.
FIELDS = (
    ("order.id", "order_id", None),
    ("order.customer.id", "order_customer_id", None),
    ("order.customer.email", "order_customer_email", None),
    ("order.customer.tier", "order_customer_tier", None),
    ("order.customer.address.city", "order_customer_address_city", None),
    ("order.customer.address.country", "order_customer_address_country", None),
    ("order.amount", "order_amount", "DECIMAL(18,2)"),
    ("order.currency", "order_currency", None),
    ("order.status", "order_status", None),
    ("order.channel", "order_channel", None),
    ("order.item_count", "order_item_count", None),
    ("order.created_at", "order_created_at", "TIMESTAMPTZ"),
    ("order.updated_at", ORDER_BY, "TIMESTAMPTZ"),
    ("order.gift_note", "order_gift_note", None),
    ("source.app", "source_app", None),
    ("source.version", "source_version", None),
    ("_metadata.idempotencyKeyResource", KEY, None),
)
DUPLICATE_PER_MILLE = 15  # ~1.5% of the lines repeat an earlier line exactly (a network re-send)
MAX_RUNS = 10  # `run --once` calls before giving up on "no new data"
WALL_RATIO_TARGET, WALL_RATIO_MOONSHOT = 0.5, 0.8
SPEEDUP_VS_DLT_TARGET, SPEEDUP_VS_DLT_MOONSHOT = 1.0, 2.0
INGEST_TARGET, INGEST_MOONSHOT = 400_000, 1_000_000
RSS_TARGET_MIB = 2048
RSS_FLAT_MAX_GROWTH = 1.2  # "does not grow": the larger run's peak within 20% of the smaller's
RUN_RSS_FLAT_MAX_GROWTH = 1.1  # `run --once` alone: batches are bounded, so its peak within 10%
DROPPED_ENV = ("LEANOPS_FAULT", "LEANOPS_KILL_AT", "LEANOPS_FAULT_LOG", "LEANOPS_HOME", "LEANOPS_SCHEMAS")
MIB = 1024 * 1024

# One line per j in [0, n): line j is the event s (itself, or an earlier event for a re-sent line);
# event s is for order k, drawn at random from n orders; publish_time rises over one day with s.
_GENERATE_SQL = """
COPY (
  WITH lines AS (
    SELECT j, CASE WHEN j >= 1000 AND hash(j, 'dup') % 1000 < {dup} THEN j - 1 - (hash(j, 'back') % 997)::BIGINT
                   ELSE j END AS s
    FROM range({n}) t(j)
  ), events AS (
    SELECT j, s, (hash(s, 'key') % {n})::BIGINT AS k, hash(s, 'row') AS h,
           TIMESTAMP '2026-01-19 00:00:00' + to_microseconds((s * (86399.0 / {n}) * 1e6)::BIGINT) AS pt
    FROM lines
  )
  SELECT 'm-' || lpad(s::VARCHAR, 10, '0') AS message_id,
         strftime(pt, '%Y-%m-%dT%H:%M:%S.%gZ') AS publish_time,
         {{'order': {{'id': 'ord-' || lpad(k::VARCHAR, 10, '0'),
                     'customer': {{'id': 'cust-' || lpad((hash(k, 'c') % 200000)::VARCHAR, 7, '0'),
                                  'email': 'customer' || (hash(k, 'c') % 200000) || '@example.com',
                                  'tier': ['bronze', 'silver', 'gold', 'platinum'][(hash(k, 'c') % 4 + 1)::BIGINT],
                                  'address': {{'city': ['Berlin', 'Paris', 'Madrid', 'Rome', 'Vienna', 'Lisbon']
                                                      [(hash(k, 'a') % 6 + 1)::BIGINT],
                                              'country': ['DE', 'FR', 'ES', 'IT', 'AT', 'PT']
                                                         [(hash(k, 'a') % 6 + 1)::BIGINT]}}}},
                     'amount': ((h % 10000000)::DECIMAL(18,2) / 100)::DECIMAL(18,2),
                     'currency': ['EUR', 'USD', 'GBP'][(h % 3 + 1)::BIGINT],
                     'status': ['placed', 'paid', 'packed', 'shipped', 'delivered', 'cancelled']
                               [((h >> 8) % 6 + 1)::BIGINT],
                     'channel': ['web', 'ios', 'android', 'pos'][((h >> 12) % 4 + 1)::BIGINT],
                     'item_count': ((h >> 16) % 9 + 1)::INTEGER,
                     'created_at': strftime(TIMESTAMP '2026-01-01 00:00:00'
                                            + to_milliseconds((hash(k, 't') % 1555200000)::BIGINT),
                                            '%Y-%m-%dT%H:%M:%S.%gZ'),
                     'updated_at': strftime(pt - to_milliseconds(((h >> 20) % 60000)::BIGINT),
                                            '%Y-%m-%dT%H:%M:%S.%gZ'),
                     'gift_note': ['none', 'gift wrap, no invoice'][((h >> 24) % 2 + 1)::BIGINT]}},
          'source': {{'app': 'shop-' || ['web', 'ios', 'android', 'pos'][((h >> 12) % 4 + 1)::BIGINT],
                     'version': '4.' || ((h >> 28) % 10) || '.' || ((h >> 32) % 20)}},
          '_metadata': {{'idempotencyKeyResource': 'ord-' || lpad(k::VARCHAR, 10, '0')}}}}
           AS payload
  FROM events ORDER BY j
) TO '{path}' (FORMAT json)
"""


# -- phases run by run_child / run_measured (each in a fresh interpreter) -----------------------
def phase_generate(work: dict) -> dict:
    """Write the NDJSON input with DuckDB (C speed, deterministic for a given n and DuckDB version)."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(_GENERATE_SQL.format(n=int(work["events"]), dup=DUPLICATE_PER_MILLE,
                                     path=work["input"].replace("'", "''")))
    con.close()
    return {"seconds": time.perf_counter() - started, "bytes": Path(work["input"]).stat().st_size}


def _reference_sql(parquet: str) -> str:
    """(a): one COPY: read_json, dedup on message_id (first wins), flatten + casts, latest per key."""
    def leaf(path: str) -> str:
        return "payload." + ".".join(f'"{part}"' for part in path.split("."))

    columns = ", ".join(f"{leaf(path)}{'::' + cast if cast else ''} AS \"{name}\"" for path, name, cast in FIELDS)
    return (f"COPY (SELECT message_id, publish_time::TIMESTAMPTZ AS publish_time, {columns} "
            "FROM (SELECT * FROM (SELECT *, row_number() OVER () AS line "
            "                     FROM read_json($path, format = 'newline_delimited')) "
            "      QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY line) = 1) "
            f'QUALIFY row_number() OVER (PARTITION BY "{KEY}" ORDER BY "{ORDER_BY}" DESC, line DESC) = 1) '
            f"TO '{parquet.replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")


def phase_duckdb(work: dict) -> dict:
    """(a), measured: the one statement and nothing else (its checks run in another process)."""
    import duckdb

    started, cpu = time.perf_counter(), cpu_seconds()
    con = duckdb.connect()
    con.execute(_reference_sql(work["parquet"]), {"path": work["input"]})
    work_seconds, work_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.close()
    return {"work_seconds": work_seconds, "work_cpu_seconds": work_cpu, "threads": threads}


def phase_duckdb_check(work: dict) -> dict:
    """Not measured: what (a) wrote, and the input's distinct message ids (the truth for the checks)."""
    import duckdb

    con = duckdb.connect()
    rows, keys = con.execute(f'SELECT count(*), count(DISTINCT "{KEY}") FROM read_parquet($p)',
                             {"p": work["parquet"]}).fetchone()
    message_ids = con.execute("SELECT count(DISTINCT message_id) FROM read_json($path, format = 'newline_delimited',"
                              " columns = {'message_id': 'VARCHAR'})", {"path": work["input"]}).fetchone()[0]
    con.close()
    return {"rows": rows, "distinct_keys": keys, "distinct_message_ids": message_ids}


def _arrow_batches(path: str):
    """The NDJSON as flattened, cast Arrow tables, block by block (memory follows the block)."""
    import pyarrow as pa
    import pyarrow.json as pj

    names = {"payload." + p: name for p, name, _ in FIELDS}
    casts = {name: cast for _, name, cast in FIELDS if cast}
    arrow_types = {"DECIMAL(18,2)": pa.decimal128(18, 2), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC")}
    reader = pj.open_json(path, read_options=pj.ReadOptions(block_size=16 * MIB))
    for batch in reader:
        table = pa.Table.from_batches([batch])
        while any(pa.types.is_struct(field.type) for field in table.schema):
            table = table.flatten()
        table = table.rename_columns([names.get(c, c) for c in table.column_names])
        for name, cast in casts.items():
            column = table[name]
            if cast == "DECIMAL(18,2)" and pa.types.is_floating(column.type):
                column = column.cast(pa.decimal128(38, 10), safe=False)  # a double's 2 decimals, then rounded
            table = table.set_column(table.schema.get_field_index(name), name, column.cast(arrow_types[cast]))
        table = table.set_column(table.schema.get_field_index("publish_time"), "publish_time",
                                 table["publish_time"].cast(pa.timestamp("us", tz="UTC")))
        yield table


def phase_dlt(work: dict) -> dict:
    """(c), measured: read, flatten, cast and load with merge (its checks run in another process)."""
    import dlt

    started, cpu = time.perf_counter(), cpu_seconds()
    orders = dlt.resource(_arrow_batches(work["input"]), name=TOPIC, write_disposition="merge", primary_key=KEY,
                          columns={ORDER_BY: {"dedup_sort": "desc"}})
    pipeline = dlt.pipeline(pipeline_name="bench_e2e", pipelines_dir=work["pipelines_dir"],
                            destination=dlt.destinations.duckdb(work["database"]), dataset_name="e2e")
    info = pipeline.run(orders)
    work_seconds, work_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {"work_seconds": work_seconds, "work_cpu_seconds": work_cpu, "dlt": dlt.__version__,
            "failed_jobs": bool(info.has_failed_jobs)}


def phase_dlt_check(work: dict) -> dict:
    """Not measured: the rows and distinct keys of dlt's table."""
    import duckdb

    con = duckdb.connect(work["database"], read_only=True)
    rows, keys = con.execute(f'SELECT count(*), count(DISTINCT "{KEY}") FROM e2e.{TOPIC}').fetchone()
    con.close()
    return {"rows": rows, "distinct_keys": keys}


PHASES = {"generate": phase_generate, "duckdb": phase_duckdb, "duckdb_check": phase_duckdb_check,
          "dlt": phase_dlt, "dlt_check": phase_dlt_check}


# -- systems (the driver) ----------------------------------------------------------------------
def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(extra)
    return env


def _fail(what: str, step: dict) -> None:
    sys.stderr.write(step["stderr"][-4000:])
    raise SystemExit(f"bench: {what} failed (exit code {step['returncode']})")


def _measured_phase(phase: str, work: dict, out: Path, env: dict | None = None) -> dict:
    """A phase of this script in its own process, measured from outside; its JSON report merged in."""
    step = run_measured([sys.executable, __file__, "--child", phase, json.dumps(work)], env or _env(), out)
    if step["returncode"] != 0:
        _fail(f"the {phase} phase", step)
    report = json.loads(step["stdout"].strip().splitlines()[-1])
    report.update({k: step[k] for k in ("seconds", "cpu_seconds", "peak_rss_mib")})
    return report


def run_duckdb(workdir: Path, data: Path) -> dict:
    out = workdir / "duckdb"
    out.mkdir()
    work = {"input": str(data), "parquet": str(out / "orders.parquet")}
    report = _measured_phase("duckdb", work, out / "stdout.json")
    return {**report, **run_child(__file__, "duckdb_check", work)}


def run_dlt(workdir: Path, data: Path) -> dict:
    out = workdir / "dlt"
    out.mkdir()
    work = {"input": str(data), "pipelines_dir": str(out / "pipelines"), "database": str(out / "dlt.duckdb")}
    report = _measured_phase("dlt", work, out / "stdout.json", _env(RUNTIME__DLTHUB_TELEMETRY="false"))
    return {**report, **run_child(__file__, "dlt_check", work)}


def leanops_command() -> list[str]:
    """The installed `leanops` console script next to this interpreter, else the same entry point via -c."""
    script = Path(sys.executable).parent / "leanops"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from leanops.cli.main import main; main()"]


def run_leanops(workdir: Path, data: Path, n: int) -> dict:
    """(b): init, deploy, ingest, `run --once` until idle; each a process measured on its own."""
    out = workdir / "leanops"
    schemas = out / "schemas"
    schemas.mkdir(parents=True)
    (schemas / f"{TOPIC}.json").write_text(json.dumps(SCHEMA, indent=2))
    env = _env(LEANOPS_HOME=str(out / "home"), LEANOPS_SCHEMAS=str(schemas))
    cli = leanops_command()

    def step(name: str, *args: str) -> dict:
        done = run_measured([*cli, *args], env, out / f"{name}.out")
        if done["returncode"] != 0:
            _fail(f"`leanops {' '.join(args)}`", done)
        return done

    steps = {"init": step("init", "init", "--json"), "deploy": step("deploy", "deploy", "--json"),
             "ingest": step("ingest", "ingest", "--topic", TOPIC, str(data), "--json")}
    ingested = json.loads(steps["ingest"]["stdout"])
    runs, idle_run, counted_log = [], None, None
    state_db = out / "home" / "state.db"
    for i in range(MAX_RUNS):
        counted_log = _last_run_id(state_db)  # the run log up to here belongs to the runs that did work
        done = step(f"run-{i + 1}", "run", "--once", "--json")
        cycle = json.loads(done["stdout"])
        done["stages"] = [s for t in cycle["topics"] for s in t["stages"]]
        if not any(s["records_in"] for s in done["stages"]):
            idle_run = done
            break
        runs.append(done)
    stage_seconds = _stage_seconds(state_db, counted_log if idle_run else None)
    # checks, not timed: the curated row count and the accountability of every layer
    count = step("count", "sql", f'SELECT count(*) AS n, count(DISTINCT "{KEY}") AS keys FROM curated.{TOPIC}',
                 "--json")
    counted = json.loads(count["stdout"])[0]
    accountability = run_measured([*cli, "accountability", "--json"], env, out / "accountability.out")

    counted_steps = [steps["init"], steps["deploy"], steps["ingest"], *runs]
    run_wall = sum(r["seconds"] for r in runs)
    split = {"ingest": {"seconds": steps["ingest"]["seconds"], "cpu_seconds": steps["ingest"]["cpu_seconds"]},
             "standardize": {"seconds": stage_seconds.get("standardized", 0.0)},
             "curate": {"seconds": stage_seconds.get("curated", 0.0)},
             # table maintenance, when the topic's policy finds it due within the run (its own run-log rows)
             "maintenance": {"seconds": stage_seconds.get("maintenance", 0.0)},
             "run": {"seconds": run_wall, "cpu_seconds": sum(r["cpu_seconds"] for r in runs)}}
    split["run"]["other_seconds"] = run_wall - sum(split[name]["seconds"] for name in ("standardize", "curate",
                                                                                 "maintenance"))

    def by_stage(name: str, field: str) -> int:
        return sum(s[field] for r in runs for s in r["stages"] if s["stage"] == name)

    return {
        "seconds": sum(s["seconds"] for s in counted_steps),
        "cpu_seconds": sum(s["cpu_seconds"] for s in counted_steps),
        "peak_rss_mib": max(s["peak_rss_mib"] for s in counted_steps),
        "run_peak_rss_mib": max((r["peak_rss_mib"] for r in runs), default=0.0),  # the `run --once` processes
        "steps": {name: _public(s) for name, s in
                  [*steps.items(), *((f"run {i + 1}", r) for i, r in enumerate(runs))]},
        "idle_run": _public(idle_run) if idle_run else None,
        "runs": len(runs), "run_stages": [r["stages"] for r in runs], "stage_seconds": stage_seconds, "split": split,
        "ingest_accepted": ingested["accepted"], "ingest_rejected": ingested["rejected"],
        "standardized_written": by_stage("standardized", "records_written"),
        "standardized_duplicates": by_stage("standardized", "records_duplicates"),
        "curated_written": by_stage("curated", "records_written"),
        "curated_superseded": by_stage("curated", "records_superseded"),
        "curated_errors": by_stage("curated", "records_errors"),
        "rows": counted["n"], "distinct_keys": counted["keys"],
        "accountability_ok": accountability["returncode"] == 0,
        "reached_idle": idle_run is not None,
        "events_ingested": n,
    }


def _public(step: dict) -> dict:
    return {k: step[k] for k in ("seconds", "cpu_seconds", "peak_rss_mib")}


def _read_run_log(state_db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _last_run_id(state_db: Path) -> int:
    return _read_run_log(state_db, "SELECT coalesce(max(run_id), 0) FROM run_log")[0][0]


def _stage_seconds(state_db: Path, up_to_run_id: int | None) -> dict[str, float]:
    """Wall seconds per stage from the run log, up to a run id (stages of one `run` process have no
    rusage of their own); the idle run's rows are left out, as its process is."""
    last = 2 ** 62 if up_to_run_id is None else up_to_run_id
    rows = _read_run_log(state_db, "SELECT stage, started_at, ended_at FROM run_log "
                                   "WHERE ended_at IS NOT NULL AND run_id <= ?", (last,))
    seconds: dict[str, float] = {}
    for stage, started, ended in rows:
        seconds[stage] = seconds.get(stage, 0.0) + (datetime.fromisoformat(ended)
                                                    - datetime.fromisoformat(started)).total_seconds()
    return seconds


def dlt_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("dlt") is not None


# -- one measurement ---------------------------------------------------------------------------
def generate(workdir: Path, n: int) -> tuple[Path, dict]:
    data = workdir / f"events-{n}.ndjson"
    clear(data)
    return data, run_child(__file__, "generate", {"events": n, "input": str(data)})


def measure(n: int, workdir: Path, repeat: int, dlt_skipped: str | None, rss_scale: int | None) -> dict:
    """Every system `repeat` times on one generated input (a fresh home each time); medians and checks."""
    data, generated = generate(workdir, n)
    samples: dict[str, list[dict]] = {"duckdb": [], "leanops": [], "dlt": []}
    for _ in range(repeat):
        for name in ("duckdb", "leanops", "dlt"):
            clear(workdir / name)
        samples["duckdb"].append(run_duckdb(workdir, data))
        samples["leanops"].append(run_leanops(workdir, data, n))
        if not dlt_skipped:
            samples["dlt"].append(run_dlt(workdir, data))
    systems = {name: median_report(reports) for name, reports in samples.items() if reports}
    for report in systems.values():
        report["events_per_s"] = n / report["seconds"]
    a, b, c = systems["duckdb"], systems["leanops"], systems.get("dlt")
    truth = a["distinct_keys"]
    scale = None
    if rss_scale:
        clear(data)
        big, _ = generate(workdir, rss_scale)
        clear(workdir / "leanops")
        big_run = run_leanops(workdir, big, rss_scale)
        clear(big)
        run_peak = max(r["run_peak_rss_mib"] for r in samples["leanops"])
        scale = {"events": rss_scale, "peak_rss_mib": big_run["peak_rss_mib"], "seconds": big_run["seconds"],
                 "run_peak_rss_mib": big_run["run_peak_rss_mib"], "run_peak_rss_mib_at_events": run_peak,
                 "run_growth": big_run["run_peak_rss_mib"] / run_peak,
                 "cpu_seconds": big_run["cpu_seconds"], "rows": big_run["rows"], "steps": big_run["steps"],
                 "records_in_per_run": [[s["records_in"] for s in r] for r in big_run["run_stages"]],
                 "ok": (big_run["ingest_accepted"] == rss_scale and big_run["curated_errors"] == 0
                        and big_run["reached_idle"] and big_run["accountability_ok"]
                        and big_run["rows"] == big_run["distinct_keys"]),
                 "growth": big_run["peak_rss_mib"] / b["peak_rss_mib"]}

    checks = {
        "duckdb wrote one row per distinct key": all(r["rows"] == r["distinct_keys"] == truth
                                                      for r in samples["duckdb"]),
        "leanops ingest accepted every line": all(r["ingest_accepted"] == n and r["ingest_rejected"] == 0
                                                  for r in samples["leanops"]),
        "leanops standardized dropped exactly the duplicate message_ids": all(
            r["standardized_written"] == a["distinct_message_ids"]
            and r["standardized_duplicates"] == n - a["distinct_message_ids"] for r in samples["leanops"]),
        "leanops curated rows = duckdb distinct keys": all(r["rows"] == r["distinct_keys"] == truth
                                                           for r in samples["leanops"]),
        "leanops curated has no errors": all(r["curated_errors"] == 0 for r in samples["leanops"]),
        "leanops runs reached no new data": all(r["reached_idle"] for r in samples["leanops"]),
        "leanops accountability passes": all(r["accountability_ok"] for r in samples["leanops"]),
    }
    if c:
        checks["dlt rows = duckdb distinct keys"] = all(
            r["rows"] == r["distinct_keys"] == truth and not r["failed_jobs"] for r in samples["dlt"])
    if scale:
        checks[f"leanops at {rss_scale:,} events: every line ingested, no curated errors, accountability passes"] = (
            scale["ok"])

    ingest_rate = n / b["split"]["ingest"]["seconds"]
    ratios = {"wall_duckdb_over_leanops": a["seconds"] / b["seconds"],
              "cpu_duckdb_over_leanops": a["cpu_seconds"] / b["cpu_seconds"]}
    if c:
        ratios["wall_dlt_over_leanops"] = c["seconds"] / b["seconds"]
        ratios["cpu_dlt_over_leanops"] = c["cpu_seconds"] / b["cpu_seconds"]
    targets = {
        "wall (a)/(b)": _target(ratios["wall_duckdb_over_leanops"], WALL_RATIO_TARGET, WALL_RATIO_MOONSHOT),
        "CPU (a)/(b)": _target(ratios["cpu_duckdb_over_leanops"], WALL_RATIO_TARGET, WALL_RATIO_MOONSHOT),
        "ingest events/s": _target(ingest_rate, INGEST_TARGET, INGEST_MOONSHOT),
        f"peak RSS MiB at {n:,}": _target(b["peak_rss_mib"], RSS_TARGET_MIB, None, below=True),
    }
    if c:
        targets["(b) speed-up over (c), wall"] = _target(ratios["wall_dlt_over_leanops"], SPEEDUP_VS_DLT_TARGET,
                                                          SPEEDUP_VS_DLT_MOONSHOT, strictly=True)
    if scale:
        targets[f"peak RSS MiB at {rss_scale:,}"] = _target(scale["peak_rss_mib"], RSS_TARGET_MIB, None, below=True)
        targets[f"peak RSS growth {n:,} -> {rss_scale:,}"] = _target(scale["growth"], RSS_FLAT_MAX_GROWTH, None,
                                                                      below=True, inclusive=True)
        targets[f"peak RSS growth {n:,} -> {rss_scale:,}, run"] = _target(
            scale["run_growth"], RUN_RSS_FLAT_MAX_GROWTH, None, below=True, inclusive=True)
    return {
        "events": n, "repeat": repeat, "input_bytes": generated["bytes"], "input_mib": generated["bytes"] / MIB,
        "avg_line_bytes": generated["bytes"] / n, "generate_seconds": generated["seconds"],
        "distinct_message_ids": a["distinct_message_ids"], "distinct_keys": truth,
        "systems": systems, "dlt_skipped": dlt_skipped,
        "leanops_split": b["split"], "ingest_events_per_s": ingest_rate,
        "ratios": ratios, "targets": targets, "rss_scale": scale,
        "checks": checks, "checks_ok": all(checks.values()),
        "targets_ok": all(t["pass"] for t in targets.values()),
        "load_average": os.getloadavg(), "environment": environment(),
    }


def _target(value: float, target: float, moonshot: float | None, below: bool = False, strictly: bool = False,
            inclusive: bool = False) -> dict:
    if below:
        ok = value <= target if inclusive else value < target
        return {"value": value, "target": target, "moonshot": None, "pass": ok, "moonshot_pass": None}
    ok = value > target if strictly else value >= target
    return {"value": value, "target": target, "moonshot": moonshot, "pass": ok,
            "moonshot_pass": value >= moonshot if moonshot is not None else None}


# -- output ------------------------------------------------------------------------------------
def print_table(r: dict) -> None:
    env = r["environment"]
    print(f"lean-ops end-to-end benchmark: {r['events']:,} events ({r['distinct_message_ids']:,} distinct "
          f"message_ids, {r['distinct_keys']:,} distinct keys), {r['input_mib']:.0f} MiB NDJSON "
          f"({r['avg_line_bytes']:.0f} bytes/line), generated in {r['generate_seconds']:.1f} s")
    print(f"leanops {env['leanops']}, python {env['python']}, duckdb {env['duckdb']}, pyarrow {env['pyarrow']}, "
          f"pyiceberg {env['pyiceberg']}, {env['cpus']} CPUs, load average {r['load_average'][0]:.2f}")
    print(f"{'median of ' + str(r['repeat']) + ' runs' if r['repeat'] > 1 else 'one run'}; every figure is whole "
          "processes (start and imports included); peak RSS: the largest process")
    print()
    print(f"{'system':<34}{'wall s':>8}{'CPU s':>8}{'events/s':>11}{'peak RSS MiB':>14}{'rows':>11}")
    labels = {"duckdb": "(a) DuckDB alone, one COPY", "leanops": "(b) lean-ops CLI",
              "dlt": "(c) dlt Arrow -> duckdb merge"}
    for name, s in r["systems"].items():
        print(f"{labels[name]:<34}{s['seconds']:>8.2f}{s['cpu_seconds']:>8.2f}{s['events_per_s']:>11,.0f}"
              f"{s['peak_rss_mib']:>14.0f}{s['rows']:>11,}")
    if r["dlt_skipped"]:
        print(f"(c) skipped: {r['dlt_skipped']}")
    b = r["systems"]["leanops"]
    print()
    print("lean-ops, step by step (wall s, CPU s, peak RSS MiB):")
    for name, s in b["steps"].items():
        print(f"  {name:<12}{s['seconds']:>8.2f}{s['cpu_seconds']:>8.2f}{s['peak_rss_mib']:>8.0f}")
    if b["idle_run"]:
        s = b["idle_run"]
        print(f"  {'idle run':<12}{s['seconds']:>8.2f}{s['cpu_seconds']:>8.2f}{s['peak_rss_mib']:>8.0f}"
              "   (the run that found no new data; not counted)")
    sp = r["leanops_split"]
    print(f"split: ingest {sp['ingest']['seconds']:.2f} s ({sp['ingest']['cpu_seconds']:.2f} CPU s, "
          f"{r['ingest_events_per_s']:,.0f} events/s); run {sp['run']['seconds']:.2f} s "
          f"({sp['run']['cpu_seconds']:.2f} CPU s) = standardize {sp['standardize']['seconds']:.2f} s + curate "
          f"{sp['curate']['seconds']:.2f} s + maintenance {sp['maintenance']['seconds']:.2f} s + other "
          f"{sp['run']['other_seconds']:.2f} s (start, imports, checks; stage seconds from the run log)")
    ra = r["ratios"]
    print()
    print(f"(a)/(b): wall {ra['wall_duckdb_over_leanops']:.3f}, CPU {ra['cpu_duckdb_over_leanops']:.3f}"
          f"  (lean-ops needs {1 / ra['wall_duckdb_over_leanops']:.1f}x wall, "
          f"{1 / ra['cpu_duckdb_over_leanops']:.1f}x CPU of DuckDB alone)")
    if "wall_dlt_over_leanops" in ra:
        faster = ra["wall_dlt_over_leanops"] > 1
        print(f"(c)/(b): wall {ra['wall_dlt_over_leanops']:.3f}, CPU {ra['cpu_dlt_over_leanops']:.3f}"
              f"  ({'lean-ops is faster than dlt' if faster else 'dlt is faster than lean-ops'})")
    if r["rss_scale"]:
        s = r["rss_scale"]
        print(f"lean-ops at {s['events']:,} events: {s['seconds']:.1f} s, {s['cpu_seconds']:.1f} CPU s, "
              f"peak RSS {s['peak_rss_mib']:.0f} MiB ({s['growth']:.2f}x the {r['events']:,}-event peak); "
              "peak RSS MiB by command: " + ", ".join(f"{name} {step['peak_rss_mib']:.0f}"
                                                       for name, step in s["steps"].items()))
        print(f"`run --once` peak RSS: {s['run_peak_rss_mib_at_events']:.0f} MiB at {r['events']:,} events, "
              f"{s['run_peak_rss_mib']:.0f} MiB at {s['events']:,} ({s['run_growth']:.2f}x; rows per run: "
              + ", ".join("/".join(f"{n:,}" for n in run) for run in s["records_in_per_run"]) + ")")
    print()
    print("targets (issue 19):")
    for name, t in r["targets"].items():
        bound = ("<=" if name.startswith("peak RSS growth") else "<") if name.startswith("peak RSS") else (
            ">" if name.startswith("(b) speed-up") else ">=")
        moon = ""
        if t["moonshot"] is not None:
            moon = f", moonshot {_figure(t['moonshot'])}: {'PASS' if t['moonshot_pass'] else 'MISS'}"
        print(f"  {name:<36}{_figure(t['value']):>12}  (target {bound} {_figure(t['target'])}{moon})  "
              f"{'PASS' if t['pass'] else 'MISS'}")
    print()
    for name, ok in r["checks"].items():
        print(f"check: {name}: {'ok' if ok else 'FAILED'}")


def _figure(value: float) -> str:
    """A ratio with 3 decimals, a count or a size in whole units."""
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="NDJSON lines to generate (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="run every system this many times; report the median "
                                                              "(3 advised)")
    parser.add_argument("--rss-scale", type=int, metavar="EVENTS",
                        help="also run lean-ops alone at EVENTS (e.g. 4000000): is its peak RSS flat?")
    parser.add_argument("--no-dlt", action="store_true", help="leave (c) out")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, too")
    parser.add_argument("--workdir", type=Path, help="where input and outputs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (a --workdir is always kept)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if child_main(args, PHASES):
        return 0
    if args.events < 1 or args.repeat < 1 or (args.rss_scale is not None and args.rss_scale < 1):
        parser.error("--events, --repeat and --rss-scale must be at least 1")
    dlt_skipped = "--no-dlt" if args.no_dlt else None
    if not args.no_dlt and not dlt_available():
        dlt_skipped = "dlt is not installed: the bench extra is missing (pip install 'lean-ops[bench]')"
        print(f"bench: {dlt_skipped}; (c) is skipped", file=sys.stderr)
    result = measure_in_workdir(args.workdir, args.keep, "leanops-bench-e2e-", ("duckdb", "leanops", "dlt"),
                                lambda workdir: measure(args.events, workdir, args.repeat, dlt_skipped,
                                                        args.rss_scale))
    return emit(result, args.json, print_table, result["checks_ok"] and (result["targets_ok"] or not args.strict))


if __name__ == "__main__":
    sys.exit(main())
