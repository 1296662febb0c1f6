"""AWS artifacts: same sources give the same bytes; the Lambda zip holds what the handlers import."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import run_cli
from leanops.aws.package import LAMBDA_ZIP, build_glue_artifacts, build_lambda_zip, project_root

HANDLERS = ("leanops/aws/lambdas/sqs_to_firehose.py", "leanops/aws/lambdas/dlq_drainer.py",
            "leanops/aws/lambdas/orchestration.py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lambda_zip_is_byte_identical_across_builds(tmp_path):
    first, second = build_lambda_zip(tmp_path / "a"), build_lambda_zip(tmp_path / "b")
    assert first.name == second.name == LAMBDA_ZIP
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {"leanops/__init__.py", "leanops/py.typed", "tenacity/__init__.py", *HANDLERS} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_forwarder_runs_from_the_zip_without_the_heavy_dependencies(tmp_path):
    """Only boto3 (the Lambda runtime's) besides the zip: pyiceberg, pyarrow, duckdb, pydantic are blocked."""
    archive = build_lambda_zip(tmp_path)
    script = f"""
import importlib.abc, json, sys
HEAVY = ("pyiceberg", "pyarrow", "duckdb", "pydantic", "orjson", "typer", "rich", "yaml")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
for name in [m for m in sys.modules if m.split(".")[0] in ("leanops", "tenacity")]:
    del sys.modules[name]
sys.path.insert(0, {str(archive)!r})
from leanops.aws.lambdas import sqs_to_firehose as f
import tenacity
class Firehose:
    def put_record_batch(self, DeliveryStreamName, Records):
        return {{"FailedPutCount": 0, "RequestResponses": [{{"RecordId": "r"}} for _ in Records]}}
event = {{"Records": [{{"messageId": "m1", "body": "{{}}", "attributes": {{"ApproximateReceiveCount": "1"}},
          "eventSourceARN": "arn:aws:sqs:us-east-1:1:events"}}]}}
print(json.dumps([f.__file__, tenacity.__file__, f.forward(event, Firehose(), "s-{{topic}}").counters()]))
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    module, vendored, counters = json.loads(done.stdout)
    assert module.startswith(str(archive)) and vendored.startswith(str(archive))
    assert counters["delivered"] == 1


@pytest.mark.slow
def test_glue_artifacts_and_the_cli_build_identical_bytes(tmp_path):
    """Builds the wheel twice (pip wheel --no-deps; pip fetches setuptools for the isolated build)."""
    first = build_glue_artifacts(tmp_path / "a")
    done = run_cli("package", "--out", str(tmp_path / "b"), "--json")
    assert done.returncode == 0, done.stderr
    listed = {Path(a["path"]).relative_to(tmp_path / "b").as_posix(): a["sha256"]
              for a in json.loads(done.stdout)["artifacts"]}
    assert listed[LAMBDA_ZIP] == digest(build_lambda_zip(tmp_path / "a"))
    for path in first:
        assert listed[path.relative_to(tmp_path / "a").as_posix()] == digest(path)
    wheel, *scripts = first
    assert wheel.name.startswith("lean_ops-") and wheel.suffix == ".whl"
    assert sorted(p.name for p in scripts) == sorted(p.name for p in (project_root() / "glue").glob("*.py"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert set(HANDLERS) <= set(names) and names[-1].endswith(".dist-info/RECORD")
