"""Semantic zone: governed projection of Curated, drift log, token passing, lag and refresh."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone


from conftest import envelope, ingest
from leanops.orchestrate.cycle import run_cycle
from leanops.orchestrate.health import Thresholds, check, semantic_lag_seconds, topic_status
from leanops.runner import run_once
from leanops.stages.accountability import topic_accounts
from leanops.stages.curated import run_curated
from leanops.stages.semantic import run_semantic, table_schema
from leanops.stages.standardized import run_standardized

CURATED = {
    "merge_key": "idempotency_key", "order_by": "event_timestamp",
    "columns": {"idempotency_key": {"type": "string", "cde": True},
                "event_timestamp": {"type": "timestamp", "cde": True},
                "amount": {"type": "decimal(10,2)", "default": "0"},
                "status": {"type": "string"}},
}
SEMANTIC = {
    "merge_key": "idempotency_key",
    "columns": {"idempotency_key": {"type": "string", "pattern": "k[0-9]+"},
                "event_time": {"type": "timestamp", "from": "event_timestamp"},
                "amount_eur": {"type": "double", "from": "amount", "min": 0, "max": 1000},
                "status": {"type": "string", "allowed": ["new", "paid", "void"]},
                "qty": {"type": "int"}},  # undeclared in curated: a string there, cast here
}


def write(schemas, semantic=SEMANTIC, curated=CURATED):
    doc = {"topic": "orders",
           "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
           "curated": curated}
    if semantic is not None:
        doc["semantic"] = semantic
    (schemas / "orders.json").write_text(json.dumps(doc))


def order(mid, key, ts, **fields):
    return envelope(mid, {"_metadata": {"idempotencyKeyResource": key}, "event": {"timestamp": ts}, **fields})


def rows(table):
    table.refresh()
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["idempotency_key"])


def expected_projection(ctx) -> list[dict]:
    """Semantic computed independently, in Python, from the live Curated rows."""
    out = []
    for r in rows(ctx.lake.curated_table("orders")):
        amount = float(r["amount"]) if r["amount"] is not None else None
        qty_text = r.get("qty")
        if qty_text is not None and not re.fullmatch(r"[+-]?[0-9]+", qty_text.strip()):
            continue  # not an int: semantic.errors
        qty = int(qty_text) if qty_text is not None else None
        if not re.fullmatch("k[0-9]+", r["idempotency_key"]) or (amount is not None and not 0 <= amount <= 1000) \
                or (r["status"] is not None and r["status"] not in ("new", "paid", "void")):
            continue
        out.append({"message_id": r["message_id"], "idempotency_key": r["idempotency_key"],
                    "event_time": r["event_timestamp"], "amount_eur": amount, "status": r["status"], "qty": qty})
    return out


def semantic_view(ctx) -> list[dict]:
    keep = ("message_id", "idempotency_key", "event_time", "amount_eur", "status", "qty")
    return [{k: r[k] for k in keep} for r in rows(ctx.lake.semantic_table("orders"))]


def test_semantic_is_the_governed_projection_of_curated(ctx, schemas, tmp_path):
    write(schemas)
    ingest(ctx, "orders", [
        order("m1", "k1", "2026-01-19T10:00:00Z", amount="10.50", status="new", qty="2"),
        order("m2", "k2", "2026-01-19T10:00:00Z", amount="20", status="paid"),
        order("m3", "k3", "2026-01-19T10:00:00Z", amount="5000", status="new"),  # above max
        order("m4", "k4", "2026-01-19T10:00:00Z", amount="1", status="lost"),  # not allowed
        order("m5", "X5", "2026-01-19T10:00:00Z", amount="1", status="new"),  # pattern
        order("m6", "k6", "2026-01-19T10:00:00Z", amount="1", status="new", qty="two"),  # bad cast
    ], tmp_path, "a.ndjson")
    run_once(ctx)
    ingest(ctx, "orders", [
        order("m7", "k1", "2026-01-19T11:00:00Z", amount="11", status="paid", qty="3"),  # correction
        order("m8", "k2", "2026-01-19T09:00:00Z", amount="99", status="void"),  # older: superseded in curated
        order("m9", "k3", "2026-01-19T11:00:00Z", amount="50", status="paid"),  # now valid
    ], tmp_path, "b.ndjson")
    run_once(ctx)

    assert semantic_view(ctx) == expected_projection(ctx)
    by_key = {r["idempotency_key"]: r for r in semantic_view(ctx)}
    assert by_key["k1"]["message_id"] == "m7" and by_key["k1"]["qty"] == 3 and by_key["k1"]["amount_eur"] == 11.0
    assert by_key["k3"]["message_id"] == "m9"

    errors = {r["message_id"]: r for r in ctx.lake.semantic_errors_table().scan().to_arrow().to_pylist()}
    assert set(errors) == {"m3", "m4", "m5", "m6"}
    assert (errors["m3"]["column_name"], errors["m3"]["reason"]) == ("amount_eur", "above the maximum 1000")
    assert (errors["m4"]["column_name"], errors["m4"]["value"]) == ("status", "lost")
    assert errors["m4"]["reason"] == "not one of the allowed values"
    assert errors["m5"]["reason"] == "does not match the pattern k[0-9]+"
    assert errors["m6"]["column_name"] == "qty" and "integer" in errors["m6"]["reason"]

    [account] = [a for a in topic_accounts(ctx.lake, "orders") if a.layer == "semantic"]
    assert account.ok and account.pending == 0
    # batch 2 changed only k1 and k3 in Curated (m8 lost there); k1 replaced its stored row
    assert (account.records_in, account.written, account.errors, account.superseded) == (6 + 2, 3, 4, 1)


def test_drift_is_logged_once_and_never_added(ctx, schemas, tmp_path):
    write(schemas)
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1", status="new",
                                 coupon="SPRING", qty="1")], tmp_path, "a.ndjson")
    run_once(ctx)
    ingest(ctx, "orders", [order("m2", "k2", "2026-01-19T10:00:00Z", amount="2", status="new",
                                 coupon="SUMMER", qty="1")], tmp_path, "b.ndjson")
    run_once(ctx)

    table = ctx.lake.semantic_table("orders")
    table.refresh()
    assert [f.name for f in table.schema().fields] == [f.name for f in table_schema(ctx.schema("orders").semantic).fields]
    drift = {(d.column_name, d.kind): d for d in ctx.state.list_drift("orders")}
    assert set(drift) == {("coupon", "undeclared_column"), ("amount_eur", "type_conflict"), ("qty", "type_conflict")}
    assert drift[("coupon", "undeclared_column")].sample_value == "SPRING"  # the first sighting stays
    assert "decimal(10,2)" in drift[("amount_eur", "type_conflict")].detail


def test_a_curated_commit_between_the_steps_waits_for_the_next_run(ctx, schemas, tmp_path):
    write(schemas)
    schema = ctx.schema("orders")
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1", status="new")], tmp_path, "a.ndjson")
    run_standardized(ctx.lake, ctx.settings, "orders", schema.standardized)
    token = run_curated(ctx.lake, ctx.settings, "orders", schema).target_snapshot_id
    # another Curated commit lands after the Curated step handed over its token
    ingest(ctx, "orders", [order("m2", "k2", "2026-01-19T10:00:00Z", amount="2", status="new")], tmp_path, "b.ndjson")
    run_standardized(ctx.lake, ctx.settings, "orders", schema.standardized)
    later = run_curated(ctx.lake, ctx.settings, "orders", schema).target_snapshot_id

    first = run_semantic(ctx.lake, ctx.settings, "orders", schema, up_to=token)
    assert first.source_snapshot_id == token and first.records_in == 1
    assert [r["idempotency_key"] for r in semantic_view(ctx)] == ["k1"]
    report = run_cycle(ctx)
    [outcome] = report.outcomes
    assert "RunSemantic" in outcome.trace
    assert [r["idempotency_key"] for r in semantic_view(ctx)] == ["k1", "k2"]
    assert ctx.state.get_checkpoint("orders", "semantic").last_snapshot_id == later


def test_missing_semantic_schema_is_logged_and_alerted_once(ctx, schemas, tmp_path):
    write(schemas, semantic=None)
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1")], tmp_path, "a.ndjson")
    first = run_cycle(ctx)
    ingest(ctx, "orders", [order("m2", "k2", "2026-01-19T10:00:00Z", amount="1")], tmp_path, "b.ndjson")
    second = run_cycle(ctx)
    assert [a.kind for a in first.alerts] == ["MissingSemanticSchema"]
    assert "missing Semantic Schema" in first.alerts[0].reason
    assert second.alerts == []
    assert [(d.column_name, d.kind) for d in ctx.state.list_drift("orders")] == [("*", "missing_schema")]
    assert ctx.lake.semantic_table("orders") is None


def test_no_semantic_layer_by_design_raises_no_alert(ctx, schemas, tmp_path):
    """`"semantic": null` says the topic has no semantic layer on purpose: no alert, no drift entry, ever; the
    linter sees no change in writing it out (the canonical form drops it)."""
    from leanops.schema_file import fingerprint
    write(schemas, semantic=None)
    before = fingerprint(ctx.schema("orders"))
    assert not ctx.schema("orders").no_semantic_by_design  # no key: the alert-once case above
    doc = json.loads((schemas / "orders.json").read_text())
    (schemas / "orders.json").write_text(json.dumps({**doc, "semantic": None}))
    assert ctx.schema("orders").no_semantic_by_design and fingerprint(ctx.schema("orders")) == before
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1")], tmp_path, "a.ndjson")
    first = run_cycle(ctx)
    ingest(ctx, "orders", [order("m2", "k2", "2026-01-19T10:00:00Z", amount="1")], tmp_path, "b.ndjson")
    second = run_cycle(ctx)
    assert [o.status.value for o in first.outcomes + second.outcomes] == ["SUCCEEDED", "SUCCEEDED"]
    assert "NotifyMissingSchema" in first.outcomes[0].trace  # the flow's shape is the seed's, the step is silent
    assert first.alerts == [] and second.alerts == []
    assert ctx.state.list_drift("orders") == [] and ctx.lake.semantic_table("orders") is None


def test_semantic_lag_shows_in_status_and_check(ctx, schemas, tmp_path):
    write(schemas)
    schema = ctx.schema("orders")
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1", status="new")], tmp_path)
    run_standardized(ctx.lake, ctx.settings, "orders", schema.standardized)
    run_curated(ctx.lake, ctx.settings, "orders", schema)  # Semantic has not run
    lag = semantic_lag_seconds(ctx, "orders", now=datetime.now(timezone.utc) + timedelta(hours=3))
    assert lag > 3 * 3600 - 60
    assert topic_status(ctx, "orders")["semantic_lag_seconds"] >= 0
    assert [a.kind for a in check(ctx, Thresholds(semantic_lag_hours=0.0))] == ["SemanticLag"]
    assert check(ctx) == []  # under the default 2 hours
    run_once(ctx)
    assert semantic_lag_seconds(ctx, "orders") == 0.0


def test_refresh_hook_is_told_about_each_change(ctx, schemas, tmp_path, monkeypatch, webhook):
    url, received = webhook
    monkeypatch.setenv("LEANOPS_REFRESH_WEBHOOK", url)
    write(schemas)
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1", status="new")], tmp_path)
    run_once(ctx)
    run_once(ctx)  # nothing changed: no notice
    [event] = received
    table = ctx.lake.semantic_table("orders")
    assert (event["kind"], event["table"], event["records_written"]) == ("SemanticRefreshed", "semantic.orders", 1)
    assert event["metadata_location"] == table.metadata_location and event["schema_changed"] is True


def test_undeclared_merge_key_and_missing_source(ctx, schemas, tmp_path):
    write(schemas, semantic={"columns": {"status": {"type": "string"},
                                         "region": {"type": "string", "from": "shipping_region"}}})
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1", status="new")], tmp_path)
    run_once(ctx)
    table = ctx.lake.semantic_table("orders")
    names = [f.name for f in table.schema().fields]
    assert names[4:] == ["idempotency_key", "status", "region"]  # the merge key comes first, as a string
    assert [(r["idempotency_key"], r["status"], r["region"]) for r in rows(table)] == [("k1", "new", None)]
    kinds = {(d.column_name, d.kind) for d in ctx.state.list_drift("orders")}
    assert ("region", "missing_source") in kinds and ("amount", "undeclared_column") in kinds


def test_lag_threshold_and_status_from_the_command_line(ctx, schemas, tmp_path):
    from conftest import run_cli
    write(schemas)
    schema = ctx.schema("orders")
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1", status="new")], tmp_path)
    run_standardized(ctx.lake, ctx.settings, "orders", schema.standardized)
    run_curated(ctx.lake, ctx.settings, "orders", schema)
    [status] = json.loads(run_cli("status", "--json").stdout)
    assert status["semantic_lag_seconds"] >= 0 and status["checkpoints"]["semantic"] is None
    crossed = run_cli("check", "--semantic-lag-hours", "0", "--json")
    assert crossed.returncode == 1 and [a["kind"] for a in json.loads(crossed.stdout)] == ["SemanticLag"]
    assert run_cli("check", "--json").returncode == 0


def test_rebuild_archives_and_rebuilds_semantic(ctx, schemas, tmp_path):
    from leanops.schema.rebuild import rebuild
    write(schemas)
    ingest(ctx, "orders", [order(f"m{i}", f"k{i}", "2026-01-19T10:00:00Z", amount="1", status="new")
                           for i in range(4)], tmp_path)
    run_once(ctx)
    before = semantic_view(ctx)
    report = rebuild(ctx, "orders")
    assert report.status == "SUCCEEDED" and report.semantic_rows == 4
    assert ctx.lake.load(f"semantic.orders_{report.archive_suffix}") is not None
    assert semantic_view(ctx) == before
    ingest(ctx, "orders", [order("m9", "k9", "2026-01-19T10:00:00Z", amount="1", status="new")], tmp_path, "b.ndjson")
    [outcome] = run_once(ctx)  # the new tables' checkpoints chain on: no lost checkpoint
    assert outcome.status.value == "SUCCEEDED" and len(semantic_view(ctx)) == 5
