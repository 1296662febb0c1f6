"""The partitioned-write benchmark runs end to end at a tiny size (figures not checked: it is a benchmark)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_partitioned_write.py"


@pytest.mark.slow
def test_bench_partitioned_write_tiny_run_reports_both_writers():
    proc = subprocess.run([sys.executable, str(BENCH), "--rows", "3000", "--days", "2", "--repeat", "1", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["rows"], report["days"], report["repeat"]) == (3000, 2, 1)
    assert report["same_partitions_and_rows"] is True
    assert report["partitions"] == 2 * 16 and report["files"] == 32
    for way in ("before", "after"):
        assert set(report[way]) == {"write_s", "write_cpu_s", "split_s", "split_cpu_s"}
        assert report[way]["write_s"] > 0
        assert all(len(v) == 1 for v in report["runs"][way].values())


def test_bench_partitioned_write_refuses_bad_usage():
    proc = subprocess.run([sys.executable, str(BENCH), "--rows", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--rows" in proc.stderr
