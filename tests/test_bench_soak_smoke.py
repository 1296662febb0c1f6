"""The soak benchmark runs end to end at tiny sizes (no timing assertions: figures are for bench/)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_soak_smoke(tmp_path):
    script = Path(__file__).parent.parent / "bench" / "bench_soak.py"
    done = subprocess.run([sys.executable, str(script), "--cycles", "2", "--events", "120", "--big-rows", "400",
                           "--big-commits", "1", "--sql-every", "2", "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [r["cycle"] for r in result["per_cycle"]] == [1, 2]
    assert result["per_cycle"][-1]["curated_data_files"] > 0 and "count" in result["per_cycle"][-1]["sql"]
    assert result["big"]["rows"] == 400 and result["big"]["sql"]["count"]["first"] == "400"
