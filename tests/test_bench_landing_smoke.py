"""The landing benchmark runs end to end at tiny sizes (no timing assertions: figures are for bench/)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_landing_smoke():
    script = Path(__file__).parent.parent / "bench" / "bench_landing.py"
    done = subprocess.run([sys.executable, str(script), "--files", "12", "--lines", "20", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["lines"] == 240 and result["files"] == 12 and result["watch_seconds"] > 0
