"""The cycle benchmark runs end to end at tiny sizes (no timing assertions: figures are for bench/)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_cycle_smoke():
    script = Path(__file__).parent.parent / "bench" / "bench_cycle.py"
    done = subprocess.run([sys.executable, str(script), "--topics", "5", "--busy-topics", "2", "--events", "300",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["idle"]["topics"] == 5 and result["busy"]["events_per_topic"] == 300
