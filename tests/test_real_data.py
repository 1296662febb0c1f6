"""Real, wide, sparse events (800 GitHub Archive events, 747 leaf paths, nesting up to 6 levels)
through ingest -> Standardized, checked value by value against an independent walk of the JSON."""
import json
from pathlib import Path

import pytest

from conftest import write_lines, write_schema
from leanops.ingest import ingest_stream
from leanops.naming import column_name
from leanops.runner import run_once
from leanops.stages.accountability import topic_accounts

pytestmark = pytest.mark.slow
DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gharchive-pinot-sample" / "events.ndjson"


def leaves(obj, path=()):
    """The documented flattening rules, written independently of the engine."""
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, path + (key,))
        elif isinstance(value, dict):
            yield path + (key,), "{}"
        elif isinstance(value, list):
            yield path + (key,), json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        elif isinstance(value, bool):
            yield path + (key,), "true" if value else "false"
        elif value is not None:
            yield path + (key,), str(value)


@pytest.mark.skipif(not DATASET.exists(), reason="shared/datasets is not beside this checkout")
def test_github_archive_events_flatten_exactly(ctx, schemas, tmp_path):
    events = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines()]
    envelopes = [json.dumps({"message_id": e["id"], "publish_time": e["created_at"], "payload": e}) for e in events]
    write_schema(schemas, {"topic": "github", "standardized": {}})
    path = write_lines(tmp_path / "github.ndjson", envelopes)
    with path.open("rb") as stream:
        report = ingest_stream(ctx.lake, ctx.state, ctx.settings, "github", stream, str(path))
    assert (report.accepted, report.rejected) == (800, 0)
    [outcome] = run_once(ctx)
    assert outcome.stages[0].records_written == 800 and outcome.stages[0].records_errors == 0
    rows = {r["message_id"]: r for r in ctx.lake.standardized_table("github").scan().to_arrow().to_pylist()}
    checked = 0
    for event in events:
        row = rows[event["id"]]
        expected = dict(leaves(event))
        names = {column_name(p) for p in expected}
        assert len(names) == len(expected), "this sample has no colliding keys"
        for leaf_path, value in expected.items():
            assert row[column_name(leaf_path)] == value, (event["id"], leaf_path)
            checked += 1
        present = {k for k, v in row.items() if v is not None} - {"message_id", "topic_name", "publish_time",
                                                                     "ingestion_ts"}
        assert present == names, event["id"]  # nothing extra, nothing missing
    assert checked > 40_000
    assert all(a.ok for a in topic_accounts(ctx.lake, "github"))
