"""The MERGE benchmark runs end to end at tiny sizes (figures not checked: it is a benchmark)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_merge.py"
PHASES = {"load", "merge", "baseline_load", "baseline_upsert", "load_big", "merge_big"}


@pytest.mark.slow
def test_bench_merge_tiny_run_reports_every_phase(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--table-rows", "1000", "--big-table-rows", "2000",
                           "--batch-rows", "100", "--baseline-table-rows", "300", "--baseline-batch-rows", "40",
                           "--json", "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)

    assert (report["table_rows"], report["big_table_rows"], report["batch_rows"], report["batch_updates"]) == (
        1000, 2000, 100, 50)
    assert (report["baseline_table_rows"], report["baseline_batch_rows"], report["baseline_updates"]) == (300, 40, 20)
    phases = report["phases"]
    assert set(phases) == PHASES
    for name, phase in phases.items():
        assert {"seconds", "cpu_seconds", "peak_rss_mib", "rows", "rows_per_s", "seconds_per_row",
                "table_rows", "batch_rows"} <= set(phase), name
        assert phase["seconds"] > 0 and phase["peak_rss_mib"] > 0

    assert phases["load"]["rows"] == 1000 and phases["load_big"]["rows"] == 2000
    for name, table_rows in (("merge", 1000), ("merge_big", 2000)):
        merge = phases[name]
        assert merge["status"] == "SUCCEEDED"
        assert (merge["records_in"], merge["records_written"], merge["records_superseded"], merge["records_errors"]) == (
            100, 100, 0, 0)
        assert merge["replaced"] == 50 and merge["message"].startswith("50 stored rows replaced")
        assert merge["rows"] == table_rows + 50 and merge["live_rows_summary"] == table_rows + 50
        assert merge["live_rows_method"] == "scan"
        assert merge["distinct_keys"] == table_rows + 50 and merge["new_versions"] == 100
        assert all(merge["checks"].values())
    upsert = phases["baseline_upsert"]
    assert (upsert["rows_updated"], upsert["rows_inserted"], upsert["rows"]) == (20, 20, 320)
    assert phases["baseline_load"]["rows"] == 300

    assert report["speedup_per_row_vs_upsert"] > 0 and report["big_vs_table_ratio"] > 0
    assert set(report["targets"]) == {"merge_seconds_max", "merge_seconds_pass", "speedup_min", "speedup_pass",
                                      "big_ratio_max", "big_ratio_pass"}
    assert report["checks_ok"] is True and report["checks_failed"] == []
    assert {"loadavg_start", "loadavg_end", "cpus", "pyiceberg"} <= set(report["environment"])
