"""Steady-state soak: many scheduled cycles, and whether the cost per cycle and the table layout stay flat.

Each cycle ingests `--events` envelope lines per topic (`leanops ingest`, one process per topic) and
runs `leanops run --once` (one process, the default automatic maintenance policy), exactly as the
documented 15-minute schedule does. The lines come from the demo generator (leanops.demo), sliced
into cycles, so corrections of earlier keys (some a day later), late older versions, network
duplicates, broken JSON, non-envelopes, missing CDEs and uncastable values all cross cycle
boundaries. After each cycle it records, per topic:

  run CPU s and peak RSS          of the `leanops run --once` process (rusage of the child)
  data / delete files, partitions live files of curated.<topic> (from its current snapshot)
  snapshots, metadata.json bytes  per table (max over the topic's tables), newest metadata.json
  state.db bytes
  count(*) and point lookup s     `leanops.sqlview.run_sql` in a fresh process (imports excluded),
                                  with its peak RSS; every `--sql-every` cycles

The figures are compared within the run: the median run CPU of the last 10 cycles against cycles
11-20 (the baseline: the same code, early in its life). `--big-rows N` adds a final phase that
builds a curated table of N rows (default 1,000,000) and times count(*) and a point lookup on it.

    python bench/bench_soak.py                       # 192 cycles (two days of a 15-minute schedule)
    python bench/bench_soak.py --cycles 24 --events 500 --big-rows 0 --json
    PYTHONPATH=/path/to/other/src python bench/bench_soak.py   # measure another checkout

Targets (issue 17), printed PASS/FAIL; the script exits 0 whenever it ran (a benchmark, not a test):
  last-10 / cycles-11-20 median run CPU <= 1.3 (moonshot 1.05); live files per curated table <= 4 x
  its partitions; snapshots and metadata.json bounded by the retention, not the cycle count;
  count(*) over 1,000,000 rows < 1 s (0.3 s), point lookup < 0.5 s (0.1 s).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import clear, environment, measure_in_workdir  # noqa: E402

TOPICS = ("events", "orders", "payments")
CLI = ("-c", "from leanops.cli.main import main; main()")
SQL_CHILD = r"""
import json, resource, sys, time
from leanops.context import Context
from leanops.sqlview import run_sql
ctx = Context.open(sys.argv[1])
out = {}
for name, query in json.loads(sys.argv[2]).items():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, start = usage.ru_utime + usage.ru_stime, time.perf_counter()
    result = run_sql(ctx, query)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out[name] = {"seconds": round(time.perf_counter() - start, 4),
                 "cpu_s": round(usage.ru_utime + usage.ru_stime - cpu, 4), "rows": result.num_rows,
                 "first": str(result.column(0)[0].as_py()) if result.num_rows else None}
out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def _env(home: Path, schemas: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "LEANOPS_FAULT"}
    env.update(LEANOPS_HOME=str(home), LEANOPS_SCHEMAS=str(schemas))
    return env


def _run_child(args: list[str], env: dict) -> dict:
    """One child process with its own CPU seconds and peak RSS (os.wait4), stdout kept."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.stderr.write(err.decode(errors="replace")[-4000:])
        raise SystemExit(f"bench: {' '.join(map(str, args[-4:]))} failed (exit code {proc.returncode})")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": time.perf_counter() - start,
            "peak_rss_mib": usage.ru_maxrss / 1024, "stdout": out.decode(errors="replace"), "rc": proc.returncode}


def _table_stats(catalog, ident: str) -> dict | None:
    """Live data files, delete files, partitions, snapshots and newest metadata.json bytes of one table."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.manifest import DataFileContent
    try:
        table = catalog.load_table(ident)
    except NoSuchTableError:
        return None
    data = deletes = 0
    partitions = set()
    snapshot = table.current_snapshot()
    if snapshot is not None:
        for manifest in snapshot.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                if entry.data_file.content == DataFileContent.DATA:
                    data += 1
                    partitions.add((entry.data_file.spec_id, repr(entry.data_file.partition)))
                else:
                    deletes += 1
    location = table.metadata_location
    path = location[len("file://"):] if location.startswith("file://") else location
    return {"data_files": data, "delete_files": deletes, "partitions": len(partitions),
            "snapshots": len(table.metadata.snapshots), "metadata_json_bytes": os.path.getsize(path),
            "manifests": len(snapshot.manifests(table.io)) if snapshot else 0}


def _layout(home: Path) -> dict:
    from pyiceberg.catalog.sql import SqlCatalog
    catalog = SqlCatalog("leanops", uri=f"sqlite:///{home / 'catalog.db'}", warehouse=(home / "warehouse").as_uri())
    out = {}
    for topic in TOPICS:
        tables = {zone: _table_stats(catalog, ident) for zone, ident in (
            ("raw", f"raw.{topic}_staging"), ("standardized", f"standardized.{topic}"),
            ("curated", f"curated.{topic}"), ("semantic", f"semantic.{topic}"))}
        out[topic] = {zone: stats for zone, stats in tables.items() if stats is not None}
    catalog.engine.dispose()
    return out


def _metadata_dir_bytes(home: Path) -> int:
    total = 0
    for directory, _, names in os.walk(home / "warehouse"):
        if os.path.basename(directory) == "metadata":
            total += sum(os.path.getsize(os.path.join(directory, n)) for n in names)
    return total


def _first_key(lines: list[str]) -> str | None:
    for line in lines:
        try:
            payload = json.loads(line).get("payload")
        except ValueError:
            continue
        if isinstance(payload, dict):
            key = (payload.get("_metadata") or {}).get("idempotencyKeyResource")
            if key:
                return key
    return None


def soak(work: Path, cycles: int, events: int, sql_every: int, seed: int, log) -> dict:
    from leanops.demo import _install_schemas, topic_lines
    home, schemas, inbox = work / "home", work / "schemas", work / "inbox"
    for path in (home, schemas, inbox):
        clear(path)
    _install_schemas(schemas)
    inbox.mkdir()
    env = _env(home, schemas)
    _run_child([*CLI, "init", "--json"], env)
    streams = {t: topic_lines(t, seed, events * cycles + events) for t in TOPICS}
    key = None
    rows = []
    for cycle in range(1, cycles + 1):
        for topic in TOPICS:
            lines = list(itertools.islice(streams[topic], events))
            if key is None and topic == "events":
                key = _first_key(lines)
            path = inbox / f"{topic}.ndjson"
            path.write_text("".join(line + "\n" for line in lines))
            _run_child([*CLI, "ingest", "--topic", topic, str(path), "--json"], env)
        run = _run_child([*CLI, "run", "--once", "--json"], env)
        layout = _layout(home)
        row = {"cycle": cycle, "run_cpu_s": round(run["cpu_s"], 3), "run_wall_s": round(run["wall_s"], 3),
               "run_peak_rss_mib": round(run["peak_rss_mib"], 1), "run_rc": run["rc"],
               "state_db_bytes": os.path.getsize(home / "state.db"),
               "metadata_dir_bytes": _metadata_dir_bytes(home), "tables": layout}
        curated = [layout[t]["curated"] for t in TOPICS if "curated" in layout[t]]
        row["curated_data_files"] = max((c["data_files"] for c in curated), default=0)
        row["curated_delete_files"] = max((c["delete_files"] for c in curated), default=0)
        row["curated_partitions"] = max((c["partitions"] for c in curated), default=0)
        row["max_snapshots"] = max((s["snapshots"] for t in TOPICS for s in layout[t].values()), default=0)
        row["max_metadata_json_bytes"] = max((s["metadata_json_bytes"] for t in TOPICS for s in layout[t].values()),
                                             default=0)
        if sql_every and (cycle % sql_every == 0 or cycle == 1 or cycle == cycles):
            row["sql"] = _sql(home, schemas, key)
        rows.append(row)
        log(row)
    return {"cycles": rows, "lookup_key": key}


def _sql(home: Path, schemas: Path, key: str | None) -> dict:
    queries = {"count": "SELECT count(*) FROM curated.events"}
    if key:
        quoted = key.replace("'", "''")
        queries["lookup"] = f"SELECT idempotency_key FROM curated.events WHERE idempotency_key = '{quoted}'"
    child = _run_child(["-c", SQL_CHILD, str(home), json.dumps(queries)], _env(home, schemas))
    report = json.loads(child["stdout"].strip().splitlines()[-1])
    return report


def big_table(work: Path, rows: int, seed: int, log, commits: int = 10) -> dict:
    """A curated table of `rows` rows (one topic, ingested in `commits` commits, one run each), then
    count(*) and a point lookup, as the soak measures them."""
    from leanops.demo import _install_schemas, topic_lines
    home, schemas, inbox = work / "big-home", work / "big-schemas", work / "big-inbox"
    for path in (home, schemas, inbox):
        clear(path)
    _install_schemas(schemas)
    for extra in ("events", "payments"):
        (schemas / f"{extra}.json").unlink()
    inbox.mkdir()
    env = _env(home, schemas)
    _run_child([*CLI, "init", "--json"], env)  # the CLI refuses a $LEANOPS_HOME that does not exist
    rates = {k: 0.0 for k in ("duplicates", "broken_json", "non_object", "non_envelope", "corrections",
                              "late_versions", "cde_violations", "bad_casts")}
    stream = topic_lines("orders", seed, rows, rates=rates)
    key, chunk = None, max(1, -(-rows // commits))
    for i in range(0, rows, chunk):
        lines = list(itertools.islice(stream, chunk))
        key = key or _first_key(lines)
        path = inbox / "orders.ndjson"
        path.write_text("".join(line + "\n" for line in lines))
        _run_child([*CLI, "ingest", "--topic", "orders", str(path), "--json"], env)
        _run_child([*CLI, "run", "--once", "--json"], env)
    layout = _layout(home)["orders"].get("curated", {})
    quoted = (key or "").replace("'", "''")
    queries = {"count": "SELECT count(*) FROM curated.orders",
               "lookup": f"SELECT idempotency_key FROM curated.orders WHERE idempotency_key = '{quoted}'"}
    child = _run_child(["-c", SQL_CHILD, str(home), json.dumps(queries)], env)
    report = json.loads(child["stdout"].strip().splitlines()[-1])
    result = {"rows": rows, "layout": layout, "sql": report}
    log({"big": result})
    return result


def summarize(rows: list[dict]) -> dict:
    def median(values):
        return round(statistics.median(values), 3) if values else None

    early = [r["run_cpu_s"] for r in rows if 11 <= r["cycle"] <= 20]
    last = [r["run_cpu_s"] for r in rows[-10:]]
    first20 = rows[:20]
    out = {"median_run_cpu_cycles_1_10": median([r["run_cpu_s"] for r in rows[:10]]),
           "median_run_cpu_cycles_11_20": median(early), "median_run_cpu_last_10": median(last),
           "ratio_last10_vs_11_20": round(statistics.median(last) / statistics.median(early), 3)
           if early and last else None}
    for name in ("curated_data_files", "curated_delete_files", "curated_partitions", "max_snapshots",
                 "max_metadata_json_bytes", "state_db_bytes", "run_peak_rss_mib"):
        out[f"{name}_at_20"] = first20[-1][name] if first20 else None
        out[f"{name}_last"] = rows[-1][name] if rows else None
        out[f"{name}_max"] = max(r[name] for r in rows) if rows else None
    sql = [r["sql"] for r in rows if "sql" in r]
    if sql:
        out["count_s_first"], out["count_s_last"] = sql[0]["count"]["seconds"], sql[-1]["count"]["seconds"]
        if "lookup" in sql[-1]:
            out["lookup_s_first"], out["lookup_s_last"] = sql[0]["lookup"]["seconds"], sql[-1]["lookup"]["seconds"]
        out["sql_peak_rss_mib_first"], out["sql_peak_rss_mib_last"] = sql[0]["peak_rss_mib"], sql[-1]["peak_rss_mib"]
    return out


def checks(summary: dict, rows: list[dict], big: dict | None) -> list[tuple[str, str, bool]]:
    found = []
    ratio = summary.get("ratio_last10_vs_11_20")
    if ratio is not None:
        found.append(("run CPU last 10 / cycles 11-20 <= 1.3 (moonshot 1.05)", f"{ratio:.2f}", ratio <= 1.3))
    if rows:
        files, parts = rows[-1]["curated_data_files"], max(1, rows[-1]["curated_partitions"])
        found.append(("live files per curated table <= 4 x partitions", f"{files} files / {parts} partitions",
                      files <= 4 * parts))
        half = rows[len(rows) // 2]
        grew = rows[-1]["max_snapshots"] > 1.5 * max(1, half["max_snapshots"]) and len(rows) >= 40
        found.append(("snapshots bounded (second half does not keep growing)",
                      f"{half['max_snapshots']} -> {rows[-1]['max_snapshots']}", not grew))
        meta_grew = rows[-1]["max_metadata_json_bytes"] > 1.5 * max(1, half["max_metadata_json_bytes"]) \
            and len(rows) >= 40
        found.append(("metadata.json bounded", f"{half['max_metadata_json_bytes']} -> "
                      f"{rows[-1]['max_metadata_json_bytes']} B", not meta_grew))
    if big:
        count_s, lookup_s = big["sql"]["count"]["seconds"], big["sql"]["lookup"]["seconds"]
        found.append((f"count(*) over {big['rows']:,} rows < 1 s (moonshot 0.3)", f"{count_s:.3f} s", count_s < 1))
        found.append(("point lookup by merge key < 0.5 s (moonshot 0.1)", f"{lookup_s:.3f} s", lookup_s < 0.5))
    return found


def print_table(result: dict) -> None:
    env = result["environment"]
    print(f"soak: {result['cycles']} cycles x {len(TOPICS)} topics x {result['events']} lines "
          f"(leanops {env['leanops']}, python {env['python']}, {env['cpus']} cpus)")
    s = result["summary"]
    print(f"  median run CPU s: cycles 1-10 {s['median_run_cpu_cycles_1_10']}, 11-20 "
          f"{s['median_run_cpu_cycles_11_20']}, last 10 {s['median_run_cpu_last_10']} "
          f"(ratio {s['ratio_last10_vs_11_20']})")
    print(f"  {'':28}{'cycle 20':>12}{'last':>12}{'max':>12}")
    for name in ("curated_data_files", "curated_delete_files", "curated_partitions", "max_snapshots",
                 "max_metadata_json_bytes", "state_db_bytes", "run_peak_rss_mib"):
        print(f"  {name:28}{str(s[name + '_at_20']):>12}{str(s[name + '_last']):>12}{str(s[name + '_max']):>12}")
    if "count_s_first" in s:
        print(f"  count(*) s first/last: {s['count_s_first']} / {s['count_s_last']}; lookup s: "
              f"{s.get('lookup_s_first')} / {s.get('lookup_s_last')}; sql peak RSS MiB: "
              f"{s['sql_peak_rss_mib_first']} / {s['sql_peak_rss_mib_last']}")
    if result.get("big"):
        b = result["big"]
        print(f"  big table: {b['rows']:,} rows, {b['layout'].get('data_files')} files; count(*) "
              f"{b['sql']['count']['seconds']} s, lookup {b['sql']['lookup']['seconds']} s, "
              f"sql peak RSS {b['sql']['peak_rss_mib']} MiB")
    for name, value, ok in result["checks"]:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=192)
    parser.add_argument("--events", type=int, default=2000, help="envelope lines per topic per cycle")
    parser.add_argument("--sql-every", type=int, default=8, help="measure the SQL reads every N cycles (0: never)")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the count/lookup table (0: skip)")
    parser.add_argument("--big-commits", type=int, default=10, help="ingest + run rounds building the big table")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--progress", type=Path, default=None, help="append each cycle's JSON line to this file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.cycles < 1 or args.events < 1:
        parser.error("--cycles and --events must be at least 1")

    def log(row: dict) -> None:
        if args.progress:
            with args.progress.open("a") as out:
                out.write(json.dumps(row) + "\n")
        if not args.json and "cycle" in row:
            sql = row.get("sql", {})
            print(f"  cycle {row['cycle']:4}: run {row['run_cpu_s']:6.2f} CPU s, curated files "
                  f"{row['curated_data_files']:5} + {row['curated_delete_files']:5} deletes, snapshots "
                  f"{row['max_snapshots']:4}, metadata.json {row['max_metadata_json_bytes']:8} B"
                  + (f", count {sql['count']['seconds']:.3f} s" if sql else ""), flush=True)

    def measure(work: Path) -> dict:
        soaked = soak(work, args.cycles, args.events, args.sql_every, args.seed, log)
        big = big_table(work, args.big_rows, args.seed, log, args.big_commits) if args.big_rows else None
        summary = summarize(soaked["cycles"])
        return {"cycles": args.cycles, "events": args.events, "environment": environment(), "summary": summary,
                "checks": checks(summary, soaked["cycles"], big), "big": big, "per_cycle": soaked["cycles"]}

    result = measure_in_workdir(args.workdir, args.keep, "leanops-soak-", ("home", "schemas", "inbox", "big-home",
                                                                              "big-schemas", "big-inbox"), measure)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
