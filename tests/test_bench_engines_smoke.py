"""The engine benchmark runs end to end on a small input (figures not checked: it is a benchmark)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_engines.py"


@pytest.mark.slow
@pytest.mark.spark
def test_bench_engines_small_run_reports_both_engines(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--events", "3000", "--json", "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["baseline"] == "embedded" and set(report["engines"]) == {"embedded", "spark"}
    for engine in report["engines"].values():
        assert {s: engine["stages"][s]["rows"] for s in ("standardized", "curated")} == \
            {"standardized": 3000, "curated": 3000}
    assert report["ratio_spark_vs_embedded_seconds"] > 0 and report["rows_ok"] is True
