"""The end-to-end benchmark runs at a tiny size and its correctness checks hold (figures not checked: a benchmark)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_e2e.py"
HAS_DLT = importlib.util.find_spec("dlt") is not None


@pytest.mark.slow
def test_bench_e2e_tiny_run_checks_every_system(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--events", "2000", "--json", "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)

    assert report["events"] == 2000 and report["avg_line_bytes"] > 400
    # the generator's shape: some re-sent lines, and keys drawn with repeats (later versions of an order)
    assert 1900 < report["distinct_message_ids"] < 2000
    assert 1000 < report["distinct_keys"] < report["distinct_message_ids"]
    assert report["checks_ok"] is True and all(report["checks"].values())
    assert report["checks"]["leanops curated rows = duckdb distinct keys"] is True

    systems = report["systems"]
    assert set(systems) == ({"duckdb", "leanops", "dlt"} if HAS_DLT else {"duckdb", "leanops"})
    for system in systems.values():
        assert system["rows"] == report["distinct_keys"]
        assert system["seconds"] > 0 and system["cpu_seconds"] > 0 and system["peak_rss_mib"] > 0
    leanops = systems["leanops"]
    assert {"init", "deploy", "ingest", "run 1"} <= set(leanops["steps"])
    assert leanops["idle_run"] is not None and leanops["runs"] >= 1
    assert leanops["ingest_accepted"] == 2000
    assert leanops["standardized_duplicates"] == 2000 - report["distinct_message_ids"]
    assert leanops["curated_superseded"] == report["distinct_message_ids"] - report["distinct_keys"]
    split = report["leanops_split"]
    assert split["standardize"]["seconds"] > 0 and split["curate"]["seconds"] > 0
    assert split["ingest"]["seconds"] == leanops["steps"]["ingest"]["seconds"]
    assert (report["dlt_skipped"] is None) == HAS_DLT
    expected_targets = {"wall (a)/(b)", "CPU (a)/(b)", "ingest events/s", "peak RSS MiB at 2,000"}
    if HAS_DLT:
        expected_targets.add("(b) speed-up over (c), wall")
    assert set(report["targets"]) == expected_targets
    assert report["targets"]["peak RSS MiB at 2,000"]["pass"] is True  # 2,000 events stay far below 2 GiB


@pytest.mark.slow
def test_bench_e2e_refuses_a_foreign_workdir(tmp_path):
    (tmp_path / "somebody-elses-file").write_text("keep me")
    proc = subprocess.run([sys.executable, str(BENCH), "--events", "10", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not made by this benchmark" in proc.stderr
    assert (tmp_path / "somebody-elses-file").read_text() == "keep me"
