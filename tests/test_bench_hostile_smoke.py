"""The hostile-shape benchmark runs end to end at tiny sizes (no timing assertions: figures are for bench/)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_hostile_smoke(tmp_path):
    script = Path(__file__).parent.parent / "bench" / "bench_hostile.py"
    done = subprocess.run([sys.executable, str(script), "--rows", "20", "--depths", "300", "--widths", "1200",
                           "--workdir", str(tmp_path / "work"), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["checks_failed"] == []
    cases = {c["case"]: c for c in result["cases"]}
    assert list(cases) == ["flat", "deep-300", "wide-1200"]
    assert (cases["flat"]["run"]["written"], cases["flat"]["run"]["errors"]) == (21, 0)
    for name in ("deep-300", "wide-1200"):
        run = cases[name]["run"]
        assert (run["written"], run["errors"], run["columns_added"]) == (20, 1, cases["flat"]["run"]["columns_added"])
        assert cases[name]["accountable"] and cases[name]["next_run"]["x_flat"] is not None
