"""The replay benchmark runs end to end at tiny sizes (no timing assertions: figures are for bench/)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_replay_smoke():
    script = Path(__file__).parent.parent / "bench" / "bench_replay.py"
    done = subprocess.run([sys.executable, str(script), "--records", "200", "--errors", "20", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["errors_per_layer"] == 20 and result["dlq_replay_seconds"] > 0 and result["parse_ratio"] > 0
