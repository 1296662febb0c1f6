"""`leanops demo`: fresh home, generated events with injected faults, 100% accountability."""
from __future__ import annotations

import collections
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leanops.context import Context
from leanops.demo import INJECTED_KINDS, RATES, SCHEMA_TOPICS, UNSCHEMED_TOPIC, expected_counts, run_demo, topic_lines
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

    resent = injected["corrections"] + injected["late_versions"]
    ingestion = _account(summary, topic, "ingestion")
    assert ingestion["errors"] == data["ingest"]["rejected"] == injected["non_envelope"]
    assert ingestion["written"] == data["ingest"]["accepted"] == EVENTS + resent + injected["duplicates"]

    std = _account(summary, topic, "standardized")
    assert std["records_in"] == data["ingest"]["accepted"]
    assert std["pending"] == 0
    assert std["duplicates"] == injected["duplicates"] > 0
    assert std["errors"] == injected["broken_json"] + injected["non_object"] > 0
    assert std["written"] == EVENTS + resent - injected["broken_json"] - injected["non_object"]
    assert _run(summary, topic)["status"] == "SUCCEEDED"


@pytest.mark.slow
@pytest.mark.parametrize("topic", SCHEMA_TOPICS)
def test_curated_figures_are_exactly_the_expected_ones(demo, topic):
    _, summary = demo
    data = summary["topics"][topic]
    injected, expected = data["injected"], data["expected"]
    assert expected == expected_counts(injected, EVENTS)
    assert injected["corrections_next_day"] > 0 and injected["late_versions"] > 0
    assert expected["curated_errors"] == injected["cde_violations"] + injected["bad_casts"]
    assert expected["superseded"] == injected["corrections"] + injected["late_versions"]
    assert expected["curated_rows"] == EVENTS - injected["broken_json"] - injected["non_object"] - \
        injected["cde_violations"] - injected["bad_casts"]

    curated = _account(summary, topic, "curated")
    assert curated["records_in"] == _account(summary, topic, "standardized")["written"] == expected["standardized_rows"]
    assert curated["errors"] == expected["curated_errors"] > 0
    assert curated["superseded"] == expected["superseded"] > 0
    assert curated["written"] == expected["curated_rows"]
    assert curated["pending"] == 0 and curated["ok"] and curated["percent"] == 100.0

    [stage] = [s for s in _run(summary, topic)["stages"] if s["stage"] == "curated"]
    assert stage["status"] == "SUCCEEDED"
    assert (stage["records_in"], stage["records_written"], stage["records_errors"], stage["records_superseded"]) == (
        expected["standardized_rows"], expected["curated_rows"], expected["curated_errors"], expected["superseded"])


@pytest.mark.slow
def test_accountability_covers_every_layer(demo):
    _, summary = demo
    for topic in SCHEMA_TOPICS:
        layers = {a["layer"]: a for a in summary["accountability"] if a["topic"] == topic}
        semantic = {"semantic"} if topic == "events" else set()  # the one demo schema with a semantic section
        assert set(layers) == {"ingestion", "standardized", "curated"} | semantic
        assert all(a["ok"] and a["percent"] == 100.0 for a in layers.values()), layers
    assert {a["layer"] for a in summary["accountability"] if a["topic"] == UNSCHEMED_TOPIC} == {
        "ingestion", "standardized"}


# What the schema files declare, as the test reads the input file (independent of the generator's internals).
_TYPED = {("event", "reading", "temperatureC"): "not a number", ("event", "reading", "batteryPct"): "not an integer",
          ("order", "amount"): "not a decimal", ("order", "itemCount"): "not an integer",
          ("payment", "amount"): "not a decimal"}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_TIMESTAMP_REASON = "not an ISO-8601 timestamp or epoch seconds/milliseconds"


def _get(payload: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(payload, dict) or key not in payload:
            return None
        payload = payload[key]
    return payload


def _envelopes(home: Path, topic: str) -> list[dict]:
    """The input file's distinct envelopes with an object payload, in file order (payload decoded)."""
    seen, found = set(), []
    for line in (home / "input" / f"{topic}.ndjson").read_text(encoding="utf-8").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or "message_id" not in doc or doc["message_id"] in seen:
            continue
        payload = doc["payload"]
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                continue
        if isinstance(payload, dict):
            seen.add(doc["message_id"])
            found.append({"message_id": doc["message_id"], "publish_time": doc["publish_time"], "payload": payload})
    return found


def _judge(payload: dict) -> tuple[str, str] | None:
    """(column, reason) Curated must give this payload, or None when it is valid."""
    for path, column in ((("event", "userId"), "event_userid"), (("event", "timestamp"), "event_timestamp"),
                         (("order", "id"), "order_id"), (("payment", "id"), "payment_id")):
        if _get(payload, path) is None and (path[0] == "event" or path[0] in payload):
            return column, "missing critical data element"
    if not _ISO.match(payload["event"]["timestamp"]):
        return "event_timestamp", _TIMESTAMP_REASON
    for path, reason in _TYPED.items():
        if isinstance(_get(payload, path), str):
            return "_".join(path).lower(), reason
    return None


@pytest.mark.slow
@pytest.mark.parametrize("topic", SCHEMA_TOPICS)
def test_curated_errors_hold_every_cde_violation_and_bad_cast_with_its_reason(demo, topic):
    home, summary = demo
    want = {e["message_id"]: _judge(e["payload"]) for e in _envelopes(home, topic)}
    want = {m: j for m, j in want.items() if j is not None}
    ctx = Context.open(home, home / "schemas")
    try:
        rows = ctx.lake.curated_errors_table().scan().to_arrow().to_pylist()
    finally:
        ctx.close()
    got = {r["message_id"]: (r["column_name"], r["reason"]) for r in rows if r["topic_name"] == topic}
    assert got == want
    assert len(got) == summary["topics"][topic]["expected"]["curated_errors"]
    reasons = {reason for _, reason in got.values()}
    assert "missing critical data element" in reasons and reasons - {"missing critical data element"}
    for row in rows:
        if row["topic_name"] == topic:
            assert row["idempotency_key"].startswith(f"{topic}:") and json.loads(row["failures"])


@pytest.mark.slow
@pytest.mark.parametrize("topic", SCHEMA_TOPICS)
def test_latest_version_wins_and_a_late_older_version_never_overwrites(demo, topic):
    home, summary = demo
    versions = collections.defaultdict(list)  # idempotency key -> valid versions in file order
    for e in _envelopes(home, topic):
        if _judge(e["payload"]) is None:
            versions[e["payload"]["_metadata"]["idempotencyKeyResource"]].append(e)
    late_older, corrected, next_day = set(), set(), set()
    for key, sent in versions.items():
        for n, version in enumerate(sent[1:], start=1):
            newest_before = max(v["payload"]["event"]["timestamp"] for v in sent[:n])
            if version["payload"]["event"]["timestamp"] < newest_before:
                late_older.add(key)
            else:
                corrected.add(key)
                if version["publish_time"][:10] > sent[0]["publish_time"][:10]:
                    next_day.add(key)
    injected = summary["topics"][topic]["injected"]
    assert len(late_older) == injected["late_versions"] > 0
    assert len(corrected) == injected["corrections"] > 0
    assert len(next_day) == injected["corrections_next_day"] > 0

    ctx = Context.open(home, home / "schemas")
    try:
        stored = ctx.lake.curated_table(topic).scan(
            selected_fields=("idempotency_key", "message_id", "event_timestamp", "publish_time")).to_arrow()
    finally:
        ctx.close()
    rows = collections.defaultdict(list)
    for row in stored.to_pylist():
        rows[row["idempotency_key"]].append(row)
    assert len(rows) == len(versions) == stored.num_rows == summary["topics"][topic]["expected"]["curated_rows"]
    for key in late_older | corrected:
        newest = max(versions[key], key=lambda v: v["payload"]["event"]["timestamp"])
        [row] = rows[key]
        assert row["message_id"] == newest["message_id"], key
        assert row["event_timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" == \
            newest["payload"]["event"]["timestamp"]
    for key in late_older:  # the newer version was sent first and stays
        assert rows[key][0]["message_id"] == versions[key][0]["message_id"]
    for key in next_day:  # stored under the later day's publish_time
        assert rows[key][0]["publish_time"].date().isoformat() > versions[key][0]["publish_time"][:10]


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
    resent = first["corrections"] + first["late_versions"]
    assert len(lines) == 400 + first["duplicates"] + resent + first["non_envelope"]
    assert len(set(lines)) == len(lines) - first["duplicates"]  # a network duplicate is an identical line


@pytest.mark.parametrize("count", [50, 120])
def test_every_kind_is_injected_once_a_topic_has_50_events(count):
    for topic in SCHEMA_TOPICS:
        injected = collections.Counter()
        lines = list(topic_lines(topic, 3, count, injected))
        assert all(injected[k] >= 1 for k in INJECTED_KINDS), (topic, injected)
        assert injected["corrections_next_day"] <= injected["corrections"]
        envelopes = [json.loads(line) for line in lines if line.startswith('{"message_id"') and line.endswith("}")]
        assert len(envelopes) == count + injected["duplicates"] + injected["corrections"] + injected["late_versions"]
    assert set(INJECTED_KINDS) == set(RATES) | {"corrections_next_day"}


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
    done = subprocess.run([LEANOPS, "demo", "--home", str(home), "--events", "100", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accountable"] is True and summary["home"] == str(home)
    # a second demo on the same home rebuilds it from scratch
    again = subprocess.run([LEANOPS, "demo", "--home", str(home), "--events", "100", "--json"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["accountability"] == summary["accountability"]


@pytest.mark.slow
def test_expected_notices_are_collected_not_logged(demo):
    """clicks has no schema file (alert MissingSchema, shown in the summary); orders and payments have no
    semantic layer by design ("semantic": null), so no MissingSemanticSchema alert at all."""
    _, summary = demo
    assert [(a["kind"], a["topic"]) for a in summary["alerts"]] == [("MissingSchema", UNSCHEMED_TOPIC)]
    assert {t for t, data in summary["topics"].items() if data["no_semantic_by_design"]} == {"orders", "payments"}


def _try_next(stdout: str) -> list[str]:
    """The command lines printed under "Try next" (indented two spaces; their explanations six)."""
    block = stdout.split("\nTry next", 1)[1].splitlines()[1:]
    return [line[2:] for line in block if line.startswith("  ") and not line.startswith("   ")]


@pytest.mark.slow
def test_cli_demo_is_quiet_and_its_hints_work_pasted_in_a_new_shell(tmp_path):
    home = tmp_path / "demo home"  # a space: the printed paths are quoted for the shell
    env = {k: v for k, v in os.environ.items() if k not in ("LEANOPS_HOME", "LEANOPS_SCHEMAS")}
    done = subprocess.run([LEANOPS, "demo", "--home", str(home), "--events", "60"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""  # no WARNING (nor anything else) from a successful run
    first_line = done.stdout.splitlines()[0]
    assert first_line.startswith("lean-ops demo: RAW -> Standardized -> Curated -> Semantic, on a fresh home")
    assert "2. pipeline run (RAW -> Standardized -> Curated -> Semantic)" in done.stdout
    assert "clicks: no schema with a standardized section: data waits in RAW\n    alert MissingSchema" in done.stdout
    assert 'orders, payments: no semantic layer, by design ("semantic": null in the schema file)' in done.stdout

    lines = _try_next(done.stdout)
    if sys.prefix != sys.base_prefix:  # the tests run in a virtual environment, as scripts/demo.sh makes one
        assert lines[0] == f"source {Path(sys.prefix) / 'bin' / 'activate'}"
    assert len([line for line in lines if "leanops" in line.split(" ", 1)[0]]) == 5, lines
    # one new shell with a bare PATH and no lean-ops variables, the lines pasted in order; each must succeed
    script = "\n".join(f"{line} || {{ echo {shlex.quote('FAILED: ' + line)} >&2; exit 1; }}" for line in lines)
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    shell = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=clean, capture_output=True, text=True,
                           timeout=600)
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert "100.00" in shell.stdout, shell.stdout  # the accountability table
    assert re.search(r"events: \d+ lines read, \d+ accepted", shell.stdout), shell.stdout  # the re-sent file
    assert (home / "schemas" / "clicks.json").is_file()
