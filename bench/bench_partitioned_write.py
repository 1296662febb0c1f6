"""Partitioned Iceberg write: PyIceberg's writer (before) against lean-ops' one-pass split (after).

    .venv/bin/python bench/bench_partitioned_write.py                 # 632,134 rows, day x bucket(16)
    .venv/bin/python bench/bench_partitioned_write.py --rows 100000 --days 3 --repeat 5 --json

A Curated-like table (14 columns: ids, three timestamps, a decimal(18,2), string attributes) partitioned
by `day(publish_time)` and `bucket(16, idempotency_key)`. Each run writes the same Arrow table as data
files of a fresh table (nothing committed: the write is what differs):
  - before: `pyiceberg.io.pyarrow._dataframe_to_data_files` (filters the whole table once per partition);
  - after:  `leanops.catalog.partitioned_write.data_files` (what `StagedAppend.write` calls).
Each figure is the median of `--repeat` runs (wall and CPU seconds of this process, all threads), for
the whole write (split + Parquet files) and for the split alone. Both must yield the same partitions
and row count, else the script exits 1.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import cpu_seconds, emit  # noqa: E402


def generate(rows: int, days: int):
    """Deterministic Curated-like rows: publish_time spread over `days` days, ~1 key in 1.6 rows distinct."""
    import duckdb

    from leanops import duck
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    seconds = days * 86400
    return duck.arrow(con, f"""
        SELECT 'm-' || i AS message_id, 'bench' AS topic_name,
               'key-' || (hash(i) % {max(1, int(rows / 1.582))}) AS idempotency_key,
               TIMESTAMPTZ '2026-01-19 00:00:00+00' + to_seconds((i * {seconds}) // {rows}) AS publish_time,
               TIMESTAMPTZ '2026-01-22 00:00:00+00' + to_microseconds(i) AS ingestion_ts,
               TIMESTAMPTZ '2026-01-19 00:00:00+00' + to_seconds((i * 7919) % {seconds}) AS event_ts,
               ((hash(i * 3) % 10000000)::DECIMAL(18, 2) / 100)::DECIMAL(18, 2) AS amount,
               'user-' || (i % 5000) AS user_id, ['click', 'view', 'buy', 'share'][i % 4 + 1] AS event_type,
               ['GET', 'POST'][i % 2 + 1] AS verb, '10.0.' || (i % 256) || '.' || (i % 253) AS ip_address,
               'device-' || (i % 20000) AS device_id,
               'Mozilla/5.0 (X11; Linux x86_64) bench/' || (i % 50) AS user_agent,
               'session-' || (i // 7) AS session_id
        FROM range({rows}) t(i) ORDER BY i""")


def make_table(workdir: Path, name: str, arrow_schema):
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField

    from leanops.catalog.partitioning import partition_spec
    catalog = SqlCatalog("bench", uri=f"sqlite:///{workdir}/catalog.db", warehouse=f"file://{workdir}/wh")
    catalog.create_namespace_if_not_exists("bench")
    schema = Schema(*[NestedField(i + 1, f.name, _iceberg_type(f.type), required=False)
                      for i, f in enumerate(arrow_schema)])
    spec = partition_spec(["day(publish_time)", "bucket(16, idempotency_key)"], schema)
    return catalog.create_table(f"bench.{name}", schema=schema, partition_spec=spec)


def _iceberg_type(arrow_type):
    import pyarrow as pa
    from pyiceberg.types import DecimalType, StringType, TimestamptzType
    if pa.types.is_timestamp(arrow_type):
        return TimestamptzType()
    if pa.types.is_decimal(arrow_type):
        return DecimalType(arrow_type.precision, arrow_type.scale)
    return StringType()


def _timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu, out


def measure(rows: int, days: int, repeat: int, workdir: Path) -> dict:
    import pyiceberg
    import pyarrow as pa
    from pyiceberg.io.pyarrow import _dataframe_to_data_files, _determine_partitions

    from leanops.catalog.partitioned_write import data_files, split_by_partition

    data = generate(rows, days)
    schema = make_table(workdir, "schema_probe", data.schema).schema()
    data = data.cast(schema.as_arrow())
    ways = {
        "before": (lambda t: _dataframe_to_data_files(table_metadata=t.metadata, df=data, io=t.io,
                                                      write_uuid=uuid.uuid4(), counter=itertools.count()),
                   lambda t: list(_determine_partitions(t.spec(), t.schema(), data))),
        "after": (lambda t: data_files(table_metadata=t.metadata, rows=data, io=t.io, write_uuid=uuid.uuid4(),
                                       counter=itertools.count()),
                  lambda t: split_by_partition(t.metadata, data)),
    }
    runs: dict[str, dict[str, list[float]]] = {w: {"write_s": [], "write_cpu_s": [], "split_s": [],
                                                    "split_cpu_s": []} for w in ways}
    layout = {}
    for i in range(repeat):
        for way, (write, split) in ways.items():  # alternate, so both see the same machine load
            table = make_table(workdir, f"{way}_{i}", data.schema)
            wall, cpu, files = _timed(lambda: list(write(table)))  # noqa: B023
            runs[way]["write_s"].append(wall)
            runs[way]["write_cpu_s"].append(cpu)
            layout[way] = (Counter(tuple(f.partition) for f in files), sum(f.record_count for f in files))
            wall, cpu, _ = _timed(lambda: split(table))  # noqa: B023
            runs[way]["split_s"].append(wall)
            runs[way]["split_cpu_s"].append(cpu)
    result = {"rows": rows, "days": days, "repeat": repeat, "partitions": len(layout["after"][0]),
              "files": sum(layout["after"][0].values()), "arrow_mib": round(data.nbytes / 2**20, 1),
              "same_partitions_and_rows": layout["before"] == layout["after"] and layout["after"][1] == rows,
              "versions": {"pyiceberg": pyiceberg.__version__, "pyarrow": pa.__version__}, "runs": runs}
    for way in ways:
        result[way] = {k: round(statistics.median(v), 3) for k, v in runs[way].items()}
    result["speedup_write"] = round(result["before"]["write_s"] / max(result["after"]["write_s"], 1e-9), 2)
    result["speedup_split"] = round(result["before"]["split_s"] / max(result["after"]["split_s"], 1e-9), 2)
    return result


def print_table(r: dict) -> None:
    print(f"partitioned write: {r['rows']:,} rows ({r['arrow_mib']} MiB Arrow), day x bucket(16) over "
          f"{r['days']} day(s): {r['partitions']} partitions, {r['files']} files; median of {r['repeat']}; "
          f"pyiceberg {r['versions']['pyiceberg']}, pyarrow {r['versions']['pyarrow']}")
    print(f"{'':8} {'write s':>9} {'write CPU s':>12} {'split s':>9} {'split CPU s':>12}")
    for way in ("before", "after"):
        f = r[way]
        print(f"{way:8} {f['write_s']:9.3f} {f['write_cpu_s']:12.3f} {f['split_s']:9.3f} {f['split_cpu_s']:12.3f}")
    print(f"speed-up: write {r['speedup_write']}x, split {r['speedup_split']}x; "
          f"same partitions and rows: {r['same_partitions_and_rows']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=632_134, help="rows written (default 632,134)")
    parser.add_argument("--days", type=int, default=1, help="days of publish_time the rows span (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per writer; medians reported (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.days < 1 or args.repeat < 1:
        parser.error("--rows, --days and --repeat must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-partitioned-write-") as workdir:
        result = measure(args.rows, args.days, args.repeat, Path(workdir))
    return emit(result, args.json, print_table, ok=result["same_partitions_and_rows"])


if __name__ == "__main__":
    sys.exit(main())
