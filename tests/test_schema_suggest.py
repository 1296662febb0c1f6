"""`leanops schema suggest`: a schema file inferred from standardized.<topic> that deploys and curates every row.

The suggested types are proved the only way that counts: the file is deployed and Curated runs over the very
rows it was inferred from, with no cast error and accountability at 100%.
"""
from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from conftest import cli_imports, ingest, run_cli, write_schema
from leanops.runner import run_once
from leanops.schema.suggest import suggest_curated
from leanops.schema.suggest_file import render_document
from leanops.schema_file import parse_topic_schema
from leanops.stages.accountability import topic_accounts

DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gharchive-pinot-sample" / "events.ndjson"
MIXED_TIMES = ["2026-01-19T10:00:00Z", "2026-01-19 10:00:00", "1768816800", "1768816800000",
               "2026-01-19T10:00:00.123+02:00", "2026-01-19"]


def edge_payload(i: int) -> dict:
    """One row of a topic whose columns each test one inference rule; key k<i//2>: two versions per record."""
    return {"idempotency_key": f"k{i // 2}", "event_timestamp": f"2026-01-19T10:{i:02d}:00Z",
            "qty": "abc" if i == 7 else str(i),  # one poisoned value among integers
            "nothing": None,  # a column that never holds a value
            "mixed_time": MIXED_TIMES[i % len(MIXED_TIMES)], "created_ts": 1768816800 + i,
            "bad_time": "19/01/2026" if i == 3 else f"2026-01-19T10:{i:02d}:00Z",
            "big_number": str(123456789012345678901 + i), "giant_number": str(10 ** 39 + i),
            "amount": [12.5, 3.25, 100][i % 3], "ratio": 0.1234 * i, "exact": f"1234567890.{i:08d}12",
            "flag": i % 2 == 0, "zip": f"0{2134 + i}", "shipping_postalcode": str(94107 + i), "day": f"2026-01-{i % 28 + 1:02d}", "count": i,
            "blank": "", "sometimes": i if i % 2 else None, "col": "x", "v": i, "n": i}


def envelopes(payloads: list[dict], prefix: str = "m") -> list[str]:
    return [json.dumps({"message_id": f"{prefix}{i}", "publish_time": "2026-01-19T10:00:00Z", "payload": p})
            for i, p in enumerate(payloads)]


def suggest_cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("schema", "suggest", *args)


def curate(ctx, topic: str):
    """Deploy the schema directory (the CLI, as a user would), run once; the topic's curated stage result."""
    deployed = run_cli("deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    [outcome] = run_once(ctx, [topic])
    [stage] = [s for s in outcome.stages if s.stage == "curated"]
    return stage


def curated_errors(ctx, topic: str) -> list[dict]:
    return [r for r in ctx.lake.curated_errors_table().scan().to_arrow().to_pylist() if r["topic_name"] == topic]


# -- no data read: refusals answer before DuckDB, Arrow and PyIceberg load --------------------------------
def test_an_existing_file_is_kept_without_force_before_the_heavy_imports(schemas, tmp_path):
    path = write_schema(schemas, {"topic": "clicks", "standardized": {}})
    done = cli_imports(["schema", "suggest", "clicks"], cwd=tmp_path)
    assert done.exit_code == 2 and done.heavy == []
    assert "clicks.json exists (it has no curated section yet)" in done.output and "--force" in done.output
    assert json.loads(path.read_text()) == {"topic": "clicks", "standardized": {}}
    assert not any((tmp_path / "home").iterdir())


@pytest.mark.parametrize("args, message", [
    (["schema", "suggest", "Bad Topic"], "invalid topic name"),
    (["schema", "suggest", "clicks", "--output", "clicks.txt"], "ends in .json, .yaml or .yml"),
    (["schema", "suggest", "clicks", "--output", "missing/clicks.json"], "no directory missing"),
])
def test_usage_errors_answer_before_the_heavy_imports(tmp_path, args, message):
    done = cli_imports(args, cwd=tmp_path)
    assert done.exit_code == 2 and done.heavy == [] and message in done.output


def test_the_suggestion_replaces_only_the_curated_section(schemas):
    current = {"topic": "orders", "description": "orders from the shop",
               "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
               "curated": {"merge_key": "idempotency_key", "order_by": "event_timestamp",
                           "columns": {"idempotency_key": {"type": "string"}, "event_timestamp": {"type": "string"}}},
               "semantic": {"columns": {"ts": {"type": "timestamp", "from": "event_timestamp"}}}}
    write_schema(schemas, current)
    curated = {"merge_key": "idempotency_key", "order_by": "event_timestamp",
               "columns": {"idempotency_key": {"type": "string", "cde": True},
                           "event_timestamp": {"type": "timestamp", "cde": True}, "qty": {"type": "long"}}}
    text = render_document(schemas, "orders", curated)
    assert json.loads(text) == {**current, "curated": curated}
    assert '"qty": {"type": "long"}' in text  # one column a line, as the example files are written
    as_yaml = render_document(schemas, "orders", curated, ".yaml")
    assert yaml.safe_load(as_yaml) == {**current, "curated": curated}


# -- real data: GitHub Archive events, ingested and run, then curated by the suggested file -----------
@pytest.mark.slow
@pytest.mark.skipif(not DATASET.exists(), reason="shared/datasets is not beside this checkout")
def test_github_events_curate_every_row_under_the_suggested_file(ctx, schemas, tmp_path):
    events = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines()]
    lines = [json.dumps({"message_id": e["id"], "publish_time": e["created_at"], "payload": e}) for e in events]
    write_schema(schemas, {"topic": "github", "standardized": {}})
    env = git_repo(tmp_path)
    assert ingest(ctx, "github", lines, tmp_path).accepted == 800
    run_once(ctx)

    done = suggest_cli("github", "--force", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["rows_in_table"], report["rows_sampled"], report["file"]) == (800, 800, str(schemas / "github.json"))
    assert report["merge_key"]["column"] == "id" and report["order_by"]["column"] == "created_at"
    types = {c["name"]: c["type"] for c in report["columns"]}
    standardized = [f.name for f in ctx.lake.standardized_table("github").schema().fields][4:]  # after the metadata
    assert list(types) == sorted(standardized) and len(types) > 700  # every payload column, typed
    assert {"string", "long", "boolean", "timestamp"} <= set(types.values())
    assert (types["id"], types["created_at"], types["public"], types["payload_size"],
            types["payload_pull_request_merged"], types["payload_issue_closed_at"]) == (
        "long", "timestamp", "boolean", "long", "boolean", "timestamp")
    assert {"id", "created_at", "type", "actor_login", "repo_name"} <= set(report["cde_candidates"])
    assert "payload_action" not in report["cde_candidates"]  # absent from most event types
    schema = parse_topic_schema(schemas / "github.json")
    assert schema.curated.columns["id"].cde and schema.standardized is not None

    linted = run_cli("lint", "--base", "main", str(schemas), "--json", env=env)  # as CI checks a pull request
    assert linted.returncode == 0, linted.stdout + linted.stderr
    [linted_topic] = json.loads(linted.stdout)["topics"]
    assert linted_topic["topic"] == "github" and linted_topic["ok"]

    stage = curate(ctx, "github")
    assert (stage.records_in, stage.records_written, stage.records_errors) == (800, 800, 0)
    assert curated_errors(ctx, "github") == []
    assert all(a.ok for a in topic_accounts(ctx.lake, "github"))
    rows = {r["id"]: r for r in ctx.lake.curated_table("github").scan().to_arrow().to_pylist()}
    first = events[0]
    row = rows[int(first["id"])]
    assert row["created_at"] == datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    assert row["public"] is first["public"] and row["actor_id"] == first["actor"]["id"]


def git_repo(root: Path) -> dict:
    """`root` as a git repository whose main branch holds the schema files as they are; HEAD on a branch."""
    env = {**os.environ, "HOME": str(root), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True)
    git("init", "-q", "-b", "main")
    git("config", "user.name", "suggest test")
    git("config", "user.email", "suggest@example.com")
    git("add", "schemas")
    git("commit", "-q", "-m", "the topic's standardized section")
    git("checkout", "-q", "-b", "feature")
    return env


# -- edge cases: each column of one topic tests one rule; then the file curates every row ------------------
@pytest.mark.slow
def test_edge_columns_are_typed_so_that_no_row_fails(ctx, schemas, tmp_path):
    write_schema(schemas, {"topic": "edge", "standardized": {}})
    ingest(ctx, "edge", envelopes([edge_payload(i) for i in range(40)]), tmp_path)
    run_once(ctx)
    done = suggest_cli("edge", "--force", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    columns = {c["name"]: c for c in report["columns"]}
    assert {name: c["type"] for name, c in columns.items()} == {
        "idempotency_key": "string", "event_timestamp": "timestamp", "qty": "string", "nothing": "string",
        "mixed_time": "timestamp", "created_ts": "timestamp", "bad_time": "string", "big_number": "decimal(38,0)",
        "giant_number": "string", "amount": "decimal(18,2)", "ratio": "double", "exact": "decimal(38,10)",
        "flag": "boolean", "zip": "string", "shipping_postalcode": "string", "day": "date", "count": "long", "blank": "string", "sometimes": "long",
        "col": "string", "v": "long", "n": "long"}
    assert "1 of 40 values is not a long integer (e.g. 'abc')" in columns["qty"]["reason"]
    assert "(e.g. '19/01/2026')" in columns["bad_time"]["reason"]
    assert columns["nothing"]["reason"] == "no values in the sample" and not columns["nothing"]["cde"]
    assert "epoch numbers: 14" in columns["mixed_time"]["reason"] and "without a zone, read as UTC: 7" in \
        columns["mixed_time"]["reason"]
    assert "past long" in columns["big_number"]["reason"] and "40 digits" in columns["giant_number"]["reason"]
    assert "leading zeros" in columns["zip"]["reason"] and "says a code" in columns["shipping_postalcode"]["reason"]
    assert report["merge_key"]["column"] == "idempotency_key" and "20 distinct of 40" in report["merge_key"]["reason"]
    assert report["order_by"]["column"] == "event_timestamp"
    assert "sometimes" not in report["cde_candidates"] and columns["sometimes"]["missing"] == 20
    assert set(report["cde_candidates"]) == set(columns) - {"nothing", "sometimes"}
    assert report["file"] == str(schemas / "edge.json") and "sampled all 40 rows" == f"sampled {report['sampling']}"

    stage = curate(ctx, "edge")  # two versions of each key: 20 win, 20 are superseded, none fails
    assert (stage.records_in, stage.records_written, stage.records_superseded, stage.records_errors) == (40, 20, 20, 0)
    assert curated_errors(ctx, "edge") == []
    assert all(a.ok for a in topic_accounts(ctx.lake, "edge"))
    row = next(r for r in ctx.lake.curated_table("edge").scan().to_arrow().to_pylist() if r["idempotency_key"] == "k1")
    assert str(row["big_number"]) == str(123456789012345678901 + 3) and str(row["exact"]) == "1234567890.0000000312"
    assert row["created_ts"] == datetime.fromtimestamp(1768816800 + 3, timezone.utc) and row["qty"] == "3"


@pytest.mark.slow
def test_a_topic_without_standardized_rows_is_told_what_to_run_first(ctx, schemas, tmp_path):
    never = suggest_cli("clicks", "--output", "-")
    assert never.returncode == 2 and "no data for topic 'clicks' yet" in never.stderr
    assert "leanops ingest --topic clicks" in never.stderr and never.stdout == ""

    ingest(ctx, "clicks", envelopes([{"x": 1}]), tmp_path)
    waiting = suggest_cli("clicks", "--output", "-")
    assert waiting.returncode == 2 and "waits in RAW" in waiting.stderr and '"standardized": {}' in waiting.stderr

    write_schema(schemas, {"topic": "broken", "standardized": {}})
    ingest(ctx, "broken", [json.dumps({"message_id": "b1", "publish_time": "2026-01-19T10:00:00Z",
                                       "payload": "[not json"})], tmp_path, name="broken.ndjson")
    run_once(ctx, ["broken"])  # its one payload goes to parse_errors: standardized.broken exists, empty
    assert ctx.lake.standardized_table("broken") is not None
    empty = suggest_cli("broken", "--force")
    assert empty.returncode == 2 and "standardized.broken holds no rows" in empty.stderr
    assert json.loads((schemas / "broken.json").read_text()) == {"topic": "broken", "standardized": {}}


@pytest.mark.slow
def test_a_big_table_is_sampled_from_files_spread_over_it(ctx, schemas, tmp_path):
    write_schema(schemas, {"topic": "wide", "standardized": {}, "maintenance": {"enabled": False}})  # no compaction
    for batch in range(6):  # one commit, and at least one data file, per run
        ingest(ctx, "wide", envelopes([{"id": f"{batch}-{i}", "qty": i} for i in range(20)], prefix=f"b{batch}-"),
               tmp_path, name=f"b{batch}.ndjson")
        run_once(ctx)
    suggestion = suggest_curated(ctx.lake, ctx.settings, "wide", sample_rows=3)
    assert (suggestion.rows_in_table, suggestion.rows_sampled) == (120, 3)
    assert 1 <= suggestion.files_read < suggestion.files_in_table
    assert "3 of 120 rows" in suggestion.sampling
    assert {c.name: c.type for c in suggestion.columns} == {"id": "string", "qty": "long"}
    again = suggest_curated(ctx.lake, ctx.settings, "wide", sample_rows=3)
    assert again == suggestion  # seeded: the same table gives the same suggestion
    printed = suggest_cli("wide", "--output", "-", "--sample-rows", "1000")
    assert printed.returncode == 0 and "sampled all 120 rows" in printed.stderr
    printed_schema = parse_topic_schema(Path("wide.json"), text=printed.stdout)
    assert printed_schema.curated.columns["qty"].type == "long" and not printed_schema.maintenance.enabled
