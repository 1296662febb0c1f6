"""The CLI benchmark runs end to end at a tiny size (no timing assertions: figures are for bench/)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_cli_smoke():
    script = Path(__file__).parent.parent / "bench" / "bench_cli.py"
    done = subprocess.run([sys.executable, str(script), "--repeat", "1", "--events", "5", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    names = [c["name"] for c in result["commands"]]
    assert "--help" in names and "status (idle home)" in names and "accountability (empty home)" in names
    assert all(c["ok"] for c in result["commands"]), [c for c in result["commands"] if not c["ok"]]
    assert all(len(c["runs"]) == 1 and c["target_seconds"] in (0.3, 1.0) for c in result["commands"])
    assert [b["target_seconds"] for b in result["baselines"]] == [None, None]
