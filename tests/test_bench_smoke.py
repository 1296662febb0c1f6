"""The standardize benchmark runs end to end on a small input (figures not checked: it is a benchmark)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_standardize.py"


@pytest.mark.slow
def test_bench_standardize_small_run_reports_every_phase(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--events", "2000", "--json", "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)

    assert report["events"] == 2000
    assert report["input_bytes"] > 0
    assert {"ingest", "standardize", "reference", "ingest+standardize"} <= set(report["phases"])
    for phase in ("ingest", "standardize", "reference"):
        assert {"seconds", "events_per_s", "peak_rss_mib", "rows"} <= set(report["phases"][phase])
        assert report["phases"][phase]["rows"] == 2000
    assert report["phases"]["standardize"]["status"] == "SUCCEEDED"
    assert report["phases"]["standardize"]["errors"] == 0
    assert report["ratio_standardize_vs_reference"] > 0
    assert set(report["targets"]) == {"ratio_min", "ratio_pass", "rss_max_mib", "rss_pass"}
    assert report["rows_ok"] is True
