"""The unified error view and the metrics, on a demo home (every kind of error, three topics)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from conftest import REPLAY_SCHEMA, run_cli
from leanops.cli.ops import parse_since
from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.ops.errors import LAYERS, error_view
from leanops.ops.metrics import Sample, emf_line, prometheus_text, run_metrics
from leanops.stages.accountability import topic_accounts
from leanops.state.base import RunRecord

PROM_LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$|^# (HELP|TYPE) [a-z_]+ .*$')


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("ops") / "demo"
    done = run_cli("demo", "--events", "300", "--home", str(home), "--json")
    assert done.returncode == 0, done.stderr
    ctx = Context.open(home, home / "schemas")
    yield ctx
    ctx.close()


def test_error_view_counts_every_error_table(demo):
    view = error_view(demo.lake)
    tables = {"dlq": demo.lake.dlq_table(), "parse": demo.lake.parse_errors_table(),
              "curated": demo.lake.curated_errors_table(), "semantic": demo.lake.semantic_errors_table()}
    assert view.totals == {layer: len(t.scan().to_arrow()) for layer, t in tables.items()}
    assert view.totals["dlq"] and view.totals["parse"] and view.totals["curated"]
    assert sum(g.count for g in view.groups) == view.total
    assert [g.count for g in view.groups] == sorted((g.count for g in view.groups), reverse=True)
    assert all(0 < len(g.samples) <= min(3, g.count) for g in view.groups)
    curated = [g for g in view.groups if g.layer == "curated"]
    assert all(g.column for g in curated) and all(s["column_name"] == g.column for g in curated for s in g.samples)


def test_error_view_agrees_with_accountability(demo):
    for topic in demo.topics():
        accounts = {a.layer: a for a in topic_accounts(demo.lake, topic)}
        view = error_view(demo.lake, topic=topic)
        assert view.totals["parse"] == accounts["standardized"].errors
        if "curated" in accounts:
            assert view.totals["curated"] == accounts["curated"].errors


def test_error_view_filters(demo):
    only = error_view(demo.lake, topic="orders", layer="curated", samples=1)
    assert set(only.totals) == {"curated"} and {g.topic for g in only.groups} == {"orders"}
    assert all(len(g.samples) == 1 for g in only.groups)
    future = error_view(demo.lake, since=datetime.now(timezone.utc) + timedelta(hours=1))
    assert future.total == 0 and future.groups == []
    past = error_view(demo.lake, since=datetime.now(timezone.utc) - timedelta(days=1))
    assert past.total == error_view(demo.lake).total
    with pytest.raises(LeanOpsError, match="unknown error layer"):
        error_view(demo.lake, layer="gold")


def test_parse_since():
    now = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert parse_since("2026-11-01T10:00:00Z", now) == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    with pytest.raises(LeanOpsError):
        parse_since("yesterday", now)


def test_cli_errors(demo):
    home = ["--home", str(demo.settings.home), "--schemas", str(demo.settings.schemas_dir)]
    data = json.loads(run_cli("errors", "--json", "--samples", "2", *home).stdout)
    assert data["total"] == error_view(demo.lake).total and set(data["totals"]) == set(LAYERS)
    text = run_cli("errors", "--topic", "events", "--layer", "dlq", *home)
    assert text.returncode == 0 and "dlq" in text.stdout
    bad = run_cli("errors", "--layer", "gold", *home)
    assert bad.returncode == 2 and "unknown error layer" in bad.stderr


def test_metrics_agree_with_the_tables(demo):
    from leanops.ops.metrics import collect
    samples = collect(demo)
    by = {(s.name, s.labels): s.value for s in samples}
    for topic in demo.topics():
        for account in topic_accounts(demo.lake, topic):
            labels = (("topic", topic), ("layer", account.layer))
            assert by[("leanops_layer_records_in", labels)] == account.records_in
            assert by[("leanops_layer_errors", labels)] == account.errors
            assert by[("leanops_layer_accounted_ratio", labels)] == 1.0
        assert by[("leanops_error_rows", (("topic", topic), ("layer", "parse")))] == \
            error_view(demo.lake, topic=topic, layer="parse").total
        for account in topic_accounts(demo.lake, topic):  # a lag exactly where rows wait for a layer
            lag = by.get(("leanops_layer_lag_seconds", (("topic", topic), ("layer", account.layer))))
            if account.layer != "ingestion" and lag is not None:
                assert (lag > 0) == (account.pending > 0), (topic, account.layer, lag, account.pending)
        assert any(s.name == "leanops_layer_lag_seconds" for s in samples)
    runs = [s for s in samples if s.name == "leanops_last_run_records_in"]
    assert runs and all(s.value >= 0 for s in runs)
    text = prometheus_text(samples)
    assert all(PROM_LINE.match(line) for line in text.splitlines()), \
        [line for line in text.splitlines() if not PROM_LINE.match(line)][:3]
    assert text.count("# TYPE leanops_layer_records_in gauge") == 1


def test_prometheus_escaping_and_emf():
    text = prometheus_text([Sample("x_total", 1.5, (("reason", 'say "hi"\\\nnow'),), "help")])
    assert 'x_total{reason="say \\"hi\\"\\\\\\nnow"} 1.5' in text
    start = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
    run = RunRecord("events", "curated", start, "SUCCEEDED", ended_at=start + timedelta(seconds=4), records_in=100,
                    records_written=90, records_errors=10)
    assert run_metrics(run)["throughput_records_per_second"] == 25.0
    doc = json.loads(emf_line(run))
    [directive] = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["topic", "stage"]] and doc["records_written"] == 90.0
    assert {m["Name"] for m in directive["Metrics"]} <= set(doc)


def test_runs_print_emf_when_asked(tmp_path, monkeypatch, capsys):
    from conftest import envelope, ingest, write_schema
    from leanops.orchestrate.cycle import run_cycle
    schemas = tmp_path / "schemas"
    write_schema(schemas, {"topic": "events", "standardized": {}})
    ctx = Context.open(tmp_path / "home", schemas)
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    monkeypatch.setenv("LEANOPS_EMF", "1")
    run_cycle(ctx)
    ctx.close()
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    assert (line["topic"], line["stage"], line["records_in"]) == ("events", "standardized", 1.0)


# -- replay ---------------------------------------------------------------------------------------

def _order(mid: str, key: str, ts: str, qty: str, customer: str | None = None) -> str:
    from conftest import envelope
    payload = {"_metadata": {"idempotencyKeyResource": key}, "event": {"timestamp": ts}, "qty": qty}
    if customer is not None:
        payload["customer"] = customer
    return envelope(mid, payload)


def _fixed_schema() -> dict:
    """The fix: `customer` is not a critical data element after all (a SCHEMA_EVOLVE, no type change)."""
    schema = json.loads(json.dumps(REPLAY_SCHEMA))
    schema["curated"]["columns"]["customer"] = {"type": "string"}
    return schema


@pytest.fixture
def rejected(tmp_path):
    """orders rejected for a missing `customer` (one an older version of a stored key) or a bad quantity."""
    from conftest import ingest, write_schema
    from leanops.orchestrate.cycle import run_cycle
    schemas = tmp_path / "schemas"
    write_schema(schemas, REPLAY_SCHEMA)
    ctx = Context.open(tmp_path / "home", schemas)
    ingest(ctx, "orders", [_order("m1", "k1", "2026-01-19T10:00:00Z", "1", "c1"),
                           _order("m2", "k2", "2026-01-19T10:00:00Z", "2"),
                           _order("m3", "k3", "2026-01-19T10:00:00Z", "x3", "c3"),  # no int: fails with any fix
                           _order("m4", "k1", "2026-01-19T09:00:00Z", "4")], tmp_path)  # older than m1
    run_cycle(ctx)
    yield ctx, schemas
    ctx.close()


def _curated(ctx) -> dict:
    return {r["idempotency_key"]: r for r in ctx.lake.curated_table("orders").scan().to_arrow().to_pylist()}


def test_replay_after_a_schema_fix_moves_fixed_rows_once(rejected):
    from conftest import write_schema
    from leanops.ops.replay import replay_curated
    ctx, schemas = rejected
    [before] = [a for a in topic_accounts(ctx.lake, "orders") if a.layer == "curated"]
    assert before.errors == 3 and before.ok  # m2, m4: no customer; m3: no int
    nothing = replay_curated(ctx, "orders")  # no fix yet: everything still fails, nothing moves or doubles
    assert (nothing.selected, nothing.fixed, nothing.still_failing) == (3, 0, 3)
    assert error_view(ctx.lake, topic="orders", layer="curated").total == 3

    write_schema(schemas, _fixed_schema())
    report = replay_curated(ctx, "orders")

    assert (report.selected, report.fixed, report.still_failing) == (3, 2, 1)  # x3 still is no int
    assert (report.written, report.superseded) == (1, 1)  # k2 stored; m4 is older than the stored k1
    rows = _curated(ctx)
    assert rows["k2"]["qty"] == 2 and rows["k2"]["customer"] is None and rows["k1"]["message_id"] == "m1"
    [after] = [a for a in topic_accounts(ctx.lake, "orders") if a.layer == "curated"]
    assert after.ok and after.records_in == before.records_in and after.errors == 1
    assert after.written == before.written + 1 and after.superseded == before.superseded + 1
    [left] = error_view(ctx.lake, topic="orders", layer="curated").groups
    assert left.samples[0]["message_id"] == "m3"
    again = replay_curated(ctx, "orders")  # idempotent: the remaining error is still an error, once
    assert (again.fixed, again.still_failing) == (0, 1)
    assert [a for a in topic_accounts(ctx.lake, "orders") if a.layer == "curated"][0].ok


def test_replay_resumes_after_a_crash_before_the_error_deletion(rejected, monkeypatch):
    from conftest import write_schema
    from pyiceberg.table import Table
    from leanops.ops.replay import replay_curated
    ctx, schemas = rejected
    write_schema(schemas, _fixed_schema())

    def die(self, *args, **kwargs):
        raise KeyboardInterrupt("the process died between the Curated commit and the deletion")
    monkeypatch.setattr(Table, "delete", die)
    monkeypatch.setattr(Table, "overwrite", die)
    with pytest.raises(KeyboardInterrupt):
        replay_curated(ctx, "orders")
    monkeypatch.undo()
    merged = _curated(ctx)
    assert "k2" in merged and "k3" not in merged

    resumed = replay_curated(ctx, "orders")

    assert (resumed.fixed, resumed.resumed, resumed.written) == (2, 2, 0)  # nothing merged a second time
    assert _curated(ctx) == merged and error_view(ctx.lake, topic="orders", layer="curated").total == 1
    assert all(a.ok for a in topic_accounts(ctx.lake, "orders"))


def test_cli_errors_replay(rejected):
    ctx, schemas = rejected
    home = ["--home", str(ctx.settings.home), "--schemas", str(schemas)]
    done = run_cli("errors", "replay", "--topic", "orders", "--column", "customer", "--json", *home)
    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["selected"], json.loads(done.stdout)["fixed"]) == (2, 0)  # no fix yet
    other = run_cli("errors", "replay", "--topic", "orders", "--layer", "dlq", *home)
    assert other.returncode == 2 and "needs --from" in other.stderr


def test_semantic_replay_after_a_rule_fix(tmp_path):
    """semantic.errors rows (a value outside `allowed`) projected again once the rule is fixed."""
    from conftest import ingest, write_schema
    from leanops.orchestrate.cycle import run_cycle
    from leanops.ops.replay import replay_semantic
    doc = json.loads(json.dumps(REPLAY_SCHEMA))
    doc["curated"]["columns"]["customer"] = {"type": "string"}
    doc["semantic"] = {"merge_key": "idempotency_key",
                       "columns": {"idempotency_key": {"type": "string"},
                                   "customer": {"type": "string", "allowed": ["c1", "c2"]}}}
    schemas = tmp_path / "schemas"
    write_schema(schemas, doc)
    ctx = Context.open(tmp_path / "home", schemas)
    try:
        ingest(ctx, "orders", [_order("m1", "k1", "2026-01-19T10:00:00Z", "1", "c1"),
                               _order("m2", "k2", "2026-01-19T10:00:00Z", "2", "c9"),
                               _order("m3", "k3", "2026-01-19T10:00:00Z", "3", "zz")], tmp_path)
        run_cycle(ctx)
        [before] = [a for a in topic_accounts(ctx.lake, "orders") if a.layer == "semantic"]
        assert (before.written, before.errors, before.ok) == (1, 2, True)
        doc["semantic"]["columns"]["customer"]["allowed"] = ["c1", "c2", "c9"]  # the fix
        write_schema(schemas, doc)

        report = replay_semantic(ctx, "orders")

        assert (report.selected, report.fixed, report.still_failing, report.stale) == (2, 1, 1, 0)
        [after] = [a for a in topic_accounts(ctx.lake, "orders") if a.layer == "semantic"]
        assert after.ok and after.records_in == before.records_in and (after.written, after.errors) == (2, 1)
        keys = sorted(r["idempotency_key"] for r in ctx.lake.semantic_table("orders").scan().to_arrow().to_pylist())
        assert keys == ["k1", "k2"]
        again = replay_semantic(ctx, "orders")
        assert (again.fixed, again.still_failing) == (0, 1)
        run_cycle(ctx)  # the next runs are not disturbed: nothing new, nothing counted twice
        assert all(a.ok for a in topic_accounts(ctx.lake, "orders"))
    finally:
        ctx.close()
