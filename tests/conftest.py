"""Shared fixtures. Every test runs against its own temporary home, isolated from the developer's."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leanops.context import Context

pytest_plugins = ["tier_plugin"]  # the test tiers: prerequisites, progress by file, time per tier (tests/tiers.py)

LEANOPS = shutil.which("leanops", path=str(Path(sys.executable).parent)) or "leanops"
EVENTS_SCHEMA = {"topic": "events",
                 "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}}}
# an orders topic whose curated section has three CDEs: the error replays' fixture (test_ops, the kill harness)
REPLAY_SCHEMA = {"topic": "orders",
                 "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
                 "curated": {"merge_key": "idempotency_key", "order_by": "event_timestamp",
                             "columns": {"idempotency_key": {"type": "string", "cde": True},
                                         "event_timestamp": {"type": "timestamp", "cde": True},
                                         "customer": {"type": "string", "cde": True},
                                         "qty": {"type": "int"}}}}


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    """No test reads or writes ./.leanops or ./schemas of the checkout. The home exists (empty), as the CLI
    wants of a --home / $LEANOPS_HOME it is given."""
    (tmp_path / "home").mkdir(exist_ok=True)
    monkeypatch.setenv("LEANOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEANOPS_SCHEMAS", str(tmp_path / "schemas"))
    monkeypatch.delenv("LEANOPS_FAULT", raising=False)
    for name in ("LEANOPS_STATE", "LEANOPS_CATALOG", "LEANOPS_WAREHOUSE", "LEANOPS_AWS_ENDPOINT", "LEANOPS_ENGINE"):
        monkeypatch.delenv(name, raising=False)  # a developer's shell never points the tests elsewhere
    (tmp_path / "schemas").mkdir(exist_ok=True)


@pytest.fixture
def webhook():
    """A local HTTP endpoint: (its URL, the JSON bodies POSTed to it so far)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@pytest.fixture
def schemas(tmp_path) -> Path:
    return tmp_path / "schemas"


@pytest.fixture
def ctx(tmp_path, schemas) -> Context:
    context = Context.open(tmp_path / "home", schemas)
    yield context
    context.close()


def write_schema(schemas: Path, doc: dict) -> Path:
    path = schemas / f"{doc['topic']}.json"
    path.write_text(json.dumps(doc))
    return path


def envelope(message_id: str, payload, publish_time: str | None = "2026-01-19T10:00:00Z") -> str:
    doc = {"message_id": message_id, "payload": payload}
    if publish_time is not None:
        doc["publish_time"] = publish_time
    return json.dumps(doc)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def run_cli(*args: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([LEANOPS, *args], capture_output=True, text=True, env=full_env, input=input, timeout=300)


HEAVY_MODULES = ("duckdb", "pyarrow", "pyiceberg", "boto3", "botocore", "sqlalchemy", "pandas")
_IMPORTS_OF = """
import json
import sys
from leanops.cli.main import main
sys.argv = ["leanops", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
print("\\nEXIT", code)
print("MODULES", json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
print("HEAVY", json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(%r))))
""" % (HEAVY_MODULES,)


@dataclasses.dataclass
class CliImports:
    exit_code: int
    output: str  # stdout then stderr
    heavy: list[str]  # the heavy libraries (HEAVY_MODULES) the command imported
    modules: list[str]  # every top-level package the command imported


def cli_imports(args: list[str], cwd: Path, env: dict | None = None) -> CliImports:
    """Run `leanops ARGS` in a fresh interpreter and report which heavy libraries it imported."""
    done = subprocess.run([sys.executable, "-c", _IMPORTS_OF, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)
    assert done.returncode == 0 and "\nHEAVY " in done.stdout, done.stdout + done.stderr
    head, _, heavy = done.stdout.rpartition("\nHEAVY ")
    head, _, modules = head.rpartition("\nMODULES ")
    code = int(head.rpartition("\nEXIT ")[2])
    return CliImports(code, head + done.stderr, json.loads(heavy), json.loads(modules))


def ingest(ctx: Context, topic: str, lines: list[str], tmp_path: Path, name: str = "in.ndjson"):
    from leanops.ingest import ingest_stream
    path = write_lines(tmp_path / name, lines)
    with path.open("rb") as stream:
        return ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, stream, str(path))


def standardized_rows(ctx: Context, topic: str) -> list[dict]:
    table = ctx.lake.standardized_table(topic)
    return [] if table is None else table.scan().to_arrow().to_pylist()


def fake_aws_credentials(monkeypatch, region: str = "us-east-1") -> None:
    """Dummy credentials for moto; a developer's AWS profile never leaks into a test."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": region, "AWS_REGION": region}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def serialize_dynamodb_writes(monkeypatch) -> None:
    """DynamoDB's per-item atomicity for conditional writes, which moto's backend does not lock for."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend
    lock = threading.Lock()
    for method in ("put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, method)

        def atomic(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)
        monkeypatch.setattr(DynamoDBBackend, method, atomic)
