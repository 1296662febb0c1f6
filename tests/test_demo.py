"""`leanops demo`: fresh home, generated events with injected faults, 100% accountability."""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leanops.context import Context
from leanops.demo import INJECTED_KINDS, SCHEMA_TOPICS, UNSCHEMED_TOPIC, run_demo, topic_lines
from leanops.errors import LeanOpsError
from leanops.schema_file import parse_topic_schema

REPO = Path(__file__).resolve().parents[1]
LEANOPS = shutil.which("leanops", path=str(Path(sys.executable).parent)) or "leanops"
EVENTS = 300


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo") / "home"
    summary = run_demo(home, seed=11, events=EVENTS, quiet=True)
    return home, summary


def _account(summary: dict, topic: str, layer: str) -> dict:
    [found] = [a for a in summary["accountability"] if a["topic"] == topic and a["layer"] == layer]
    return found


def _run(summary: dict, topic: str) -> dict:
    [found] = [r for r in summary["runs"] if r["topic"] == topic]
    return found


@pytest.mark.slow
def test_demo_is_accountable_and_json_serialisable(demo):
    home, summary = demo
    assert summary["accountable"] is True
    assert summary["home"] == str(home)
    assert set(summary["topics"]) == {*SCHEMA_TOPICS, UNSCHEMED_TOPIC}
    assert json.loads(json.dumps(summary)) == summary
    assert all(a["ok"] for a in summary["accountability"])


@pytest.mark.slow
@pytest.mark.parametrize("topic", SCHEMA_TOPICS)
def test_every_injected_fault_lands_where_it_should(demo, topic):
    _, summary = demo
    data = summary["topics"][topic]
    injected = data["injected"]
    assert all(injected[k] > 0 for k in INJECTED_KINDS), injected

    ingestion = _account(summary, topic, "ingestion")
    assert ingestion["errors"] == data["ingest"]["rejected"] == injected["non_envelope"]
    assert ingestion["written"] == data["ingest"]["accepted"] == EVENTS + injected["corrections"] + injected["duplicates"]

    std = _account(summary, topic, "standardized")
    assert std["records_in"] == data["ingest"]["accepted"]
    assert std["pending"] == 0
    assert std["duplicates"] == injected["duplicates"] > 0
    assert std["errors"] == injected["broken_json"] + injected["non_object"] > 0
    assert std["written"] == EVENTS + injected["corrections"] - injected["broken_json"] - injected["non_object"]
    assert _run(summary, topic)["status"] == "SUCCEEDED"


@pytest.mark.slow
def test_topic_without_schema_waits_in_raw(demo):
    home, summary = demo
    raw_rows = summary["topics"][UNSCHEMED_TOPIC]["ingest"]["accepted"]
    std = _account(summary, UNSCHEMED_TOPIC, "standardized")
    assert raw_rows > 0
    assert std["pending"] == raw_rows and std["records_in"] == 0 and std["written"] == 0
    assert _run(summary, UNSCHEMED_TOPIC)["status"] == "SKIPPED"
    ctx = Context.open(home, home / "schemas")
    try:
        assert ctx.lake.standardized_table(UNSCHEMED_TOPIC) is None
        assert ctx.lake.raw_table(UNSCHEMED_TOPIC).scan().to_arrow().num_rows == raw_rows
    finally:
        ctx.close()


@pytest.mark.slow
def test_standardized_has_the_seed_key_columns_and_error_reasons(demo):
    home, _ = demo
    ctx = Context.open(home, home / "schemas")
    try:
        columns = set(ctx.lake.standardized_table("events").schema().column_names)
        reasons = ctx.lake.parse_errors_table().scan().to_arrow().column("reason").to_pylist()
        dlq = ctx.lake.dlq_table().scan().to_arrow().column("reason").to_pylist()
    finally:
        ctx.close()
    assert {"message_id", "idempotency_key", "publish_time", "ingestion_ts", "topic_name", "event_timestamp",
            "event_userid", "event_eventtype", "event_verb", "sessionid", "event_metadata_ipaddress",
            "event_metadata_deviceid", "event_metadata_useragent"} <= columns
    assert "_metadata_idempotencykeyresource" not in columns
    assert "invalid JSON" in reasons and any("not an object" in r for r in reasons)
    assert dlq and all(r for r in dlq)


def test_generator_is_deterministic_per_seed():
    first, second = collections.Counter(), collections.Counter()
    lines = list(topic_lines("events", 5, 400, first))
    assert lines == list(topic_lines("events", 5, 400, second))
    assert first == second
    assert lines != list(topic_lines("events", 6, 400))
    assert len(lines) == 400 + first["duplicates"] + first["corrections"] + first["non_envelope"]
    assert len(set(lines)) == len(lines) - first["duplicates"]  # a network duplicate is an identical line


def _payloads(topic: str) -> list[dict]:
    """Payloads of a fault-free topic; some producers send the payload as JSON text."""
    payloads = [json.loads(line)["payload"] for line in topic_lines(topic, 5, 100, rates={})]
    assert any(isinstance(p, str) for p in payloads) and any(isinstance(p, dict) for p in payloads)
    return [json.loads(p) if isinstance(p, str) else p for p in payloads]


def test_payments_pay_the_generated_orders():
    orders = {p["order"]["id"]: p["order"]["amount"] for p in _payloads("orders")}
    paid = {p["payment"]["orderId"]: p["payment"]["amount"] for p in _payloads("payments")}
    assert paid.items() <= orders.items()


def test_schema_files_are_valid_and_the_repo_copies_match_the_packaged_ones():
    packaged = REPO / "src" / "leanops" / "examples" / "schemas"
    for topic in SCHEMA_TOPICS:
        schema = parse_topic_schema(packaged / f"{topic}.json")
        assert schema.standardized.column_map == {"_metadata_idempotencykeyresource": "idempotency_key"}
        assert schema.curated.merge_key == "idempotency_key" and schema.curated.order_by == "event_timestamp"
        assert {"idempotency_key", "event_timestamp", "event_userid"} <= {
            name for name, col in schema.curated.columns.items() if col.cde}
        assert (REPO / "schemas" / f"{topic}.json").read_text() == (packaged / f"{topic}.json").read_text()
    assert not (packaged / f"{UNSCHEMED_TOPIC}.json").exists()


def test_refuses_to_delete_a_directory_that_is_not_a_home(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(LeanOpsError, match="was not built by `leanops demo`"):
        run_demo(folder, seed=1, events=10, quiet=True)
    assert (folder / "thesis.tex").read_text() == "precious"


def test_refuses_to_delete_a_real_deployment(tmp_path):
    from leanops.context import Context
    real = tmp_path / "prod-home"
    Context.open(real, tmp_path / "schemas").close()
    with pytest.raises(LeanOpsError, match="was not built by `leanops demo`"):
        run_demo(real, seed=1, events=10, quiet=True)
    assert (real / "catalog.db").is_file()


@pytest.mark.slow
def test_cli_demo_json_exits_zero(tmp_path):
    home = tmp_path / "cli-home"
    env = {k: v for k, v in os.environ.items() if k not in ("LEANOPS_HOME", "LEANOPS_SCHEMAS")}
    done = subprocess.run([LEANOPS, "demo", "--home", str(home), "--events", "200", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accountable"] is True and summary["home"] == str(home)
    # a second demo on the same home rebuilds it from scratch
    again = subprocess.run([LEANOPS, "demo", "--home", str(home), "--events", "200", "--json"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["accountability"] == summary["accountability"]
