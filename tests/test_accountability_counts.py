"""Accountability counts error rows from the error tables' commit summaries (leanops.catalog.shared_rows),
and `--deep` counts them by scanning the rows: both agree, on real tables, through everything that changes
an error table — two topics' errors in every layer, crash-orphaned error commits and DLQ rows, compaction,
snapshot expiry (the roll-up), replays, a rebuild (NUCLEAR_RESET), and a delete that names no topic (the
summaries cannot tell: the scan answers)."""
from __future__ import annotations

import json

import pytest
from pyiceberg.expressions import EqualTo

import leanops.stages.accountability as accountability
from conftest import envelope, ingest, run_cli, write_schema
from leanops.catalog import rollups
from leanops.catalog.local_reader import read_only_lakehouse
from leanops.catalog.shared_rows import AS_OF, ROWS, shared_rows
from leanops.catalog.tables import Lakehouse
from leanops.context import Context
from leanops.maintenance.run import maintain
from leanops.orchestrate.cycle import run_cycle
from leanops.stages.accountability import topic_accounts

pytestmark = pytest.mark.slow

SHARED = (Lakehouse.DLQ, Lakehouse.PARSE_ERRORS, Lakehouse.CURATED_ERRORS, Lakehouse.SEMANTIC_ERRORS)
EVERYTHING = '{"keep_snapshots_hours": 0, "keep_min_snapshots": 1, "orphan_age_hours": 0}'


def _schema(topic: str, allowed: list[str]) -> dict:
    return {"topic": topic,
            "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
            "curated": {"merge_key": "idempotency_key", "order_by": "event_timestamp",
                        "columns": {"idempotency_key": {"type": "string", "cde": True},
                                    "event_timestamp": {"type": "timestamp", "cde": True},
                                    "customer": {"type": "string", "cde": True}, "qty": {"type": "int"}}},
            "semantic": {"merge_key": "idempotency_key",
                         "columns": {"idempotency_key": {"type": "string"},
                                     "customer": {"type": "string", "allowed": allowed}}}}


def _order(mid: str, key: str, customer: str | None = "c1", qty: str = "1", minute: int = 0) -> str:
    payload = {"_metadata": {"idempotencyKeyResource": key}, "event": {"timestamp": f"2026-01-19T10:{minute:02d}:00Z"},
               "qty": qty}
    if customer is not None:
        payload["customer"] = customer
    return envelope(mid, payload)


def _batch(topic: str, n: int) -> list[str]:
    """Good rows, and one error for each layer: a non-envelope line (DLQ), a broken payload (parse error),
    a missing CDE and an uncastable int (curated errors), a customer the semantic rule refuses."""
    return ([_order(f"{topic}-{n}-{i}", f"{topic}-k{i}", minute=n) for i in range(6)]
            + ["not an envelope", envelope(f"{topic}-{n}-broken", "{x"),
               _order(f"{topic}-{n}-nocust", f"{topic}-nc{n}", customer=None, minute=n),
               _order(f"{topic}-{n}-badqty", f"{topic}-bq{n}", qty="many", minute=n),
               _order(f"{topic}-{n}-refused", f"{topic}-r{n}", customer="zz", minute=n)])


@pytest.fixture
def home(tmp_path, schemas):
    for topic in ("orders", "events"):
        write_schema(schemas, _schema(topic, ["c1", "c2"]))
    ctx = Context.open(tmp_path / "home", schemas)
    yield ctx
    ctx.close()


def feed(ctx: Context, tmp_path, n: int, topics=("orders", "events")) -> None:
    for topic in topics:
        ingest(ctx, topic, _batch(topic, n), tmp_path, f"{topic}-{n}.ndjson")
    report = run_cycle(ctx)
    assert not report.failed, [o.as_dict() for o in report.outcomes]


def both(ctx: Context, monkeypatch, from_summaries: bool = True, topics=("orders", "events")) -> dict:
    """The accounts as `leanops accountability` reads them (table metadata, through the read-only catalog)
    and as `--deep` does (scans): they must agree. `from_summaries`: the first reads no row at all."""
    reader = read_only_lakehouse(ctx.settings)
    with monkeypatch.context() as patch:
        if from_summaries:  # any row scan of the accounts fails the test
            def no_scan(*args, **kwargs):
                raise AssertionError("accountability scanned rows where the summaries tell")
            patch.setattr(accountability, "_scan", no_scan)
            patch.setattr(accountability, "_dlq_split_by_scan", no_scan)
        fast = [a.as_dict() for t in topics for a in topic_accounts(reader, t)]
    deep = [a.as_dict() for t in topics for a in topic_accounts(ctx.lake, t, deep=True)]
    assert fast == deep
    counted = [shared_rows(ctx.lake.load(ident)) is not None for ident in SHARED if ctx.lake.load(ident)]
    assert all(counted) if from_summaries else not all(counted)
    return {(a["topic"], a["layer"]): a for a in fast}


def fed_then_due_for_maintenance(home, tmp_path, monkeypatch, schemas) -> tuple[dict, Context]:
    """Three batches fed, their counts taken, then a context on the home with every maintenance action due."""
    for n in range(3):
        feed(home, tmp_path, n)
    before = both(home, monkeypatch)
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    return before, Context.open(tmp_path / "home", schemas)


def test_every_layers_errors_of_two_topics(home, tmp_path, monkeypatch):
    feed(home, tmp_path, 0)
    feed(home, tmp_path, 1)
    accounts = both(home, monkeypatch)
    for topic in ("orders", "events"):
        errors = [accounts[(topic, layer)]["errors"] for layer in ("ingestion", "standardized", "curated", "semantic")]
        assert errors == [2, 2, 4, 2], (topic, errors)
        assert all(accounts[(topic, layer)]["ok"] for layer in ("ingestion", "standardized", "curated", "semantic"))


@pytest.mark.parametrize("fault", ["after-parse-errors-commit", "after-curated-errors-commit",
                                   "after-semantic-errors-commit"])
def test_a_crash_orphaned_error_commit(home, tmp_path, monkeypatch, fault):
    """A run killed between its error commit and its data commit: the orphaned errors exist, so both count
    them (the layer reads open until the rerun redoes the range, without writing the errors again)."""
    feed(home, tmp_path, 0)
    ingest(home, "orders", _batch("orders", 1), tmp_path, "orders-1.ndjson")
    died = run_cli("run", "--once", env={"LEANOPS_FAULT": fault})
    assert died.returncode == 75, died.stderr
    layer = {"after-parse-errors-commit": "standardized", "after-curated-errors-commit": "curated",
             "after-semantic-errors-commit": "semantic"}[fault]
    crashed = both(home, monkeypatch)[("orders", layer)]
    assert crashed["accounted"] > crashed["records_in"]  # the orphaned errors of a range not consumed yet
    assert run_cli("run", "--once").returncode == 0
    rerun = both(home, monkeypatch)
    assert all(a["ok"] for a in rerun.values()), rerun
    assert rerun[("orders", layer)]["errors"] == {"standardized": 2, "curated": 4, "semantic": 2}[layer]


def test_orphaned_dlq_rows_of_a_killed_ingest(home, tmp_path, monkeypatch):
    from leanops.catalog import commit
    feed(home, tmp_path, 0)
    with monkeypatch.context() as patch:
        def die(self, summary):
            raise KeyboardInterrupt("killed before the RAW commit")
        patch.setattr(commit.StagedAppend, "commit", die)
        with pytest.raises(KeyboardInterrupt):
            ingest(home, "orders", _batch("orders", 1), tmp_path, "orders-1.ndjson")
    ingestion = both(home, monkeypatch)[("orders", "ingestion")]
    assert (ingestion["errors"], ingestion["orphaned"], ingestion["ok"]) == (1, 1, True)


def test_compaction_and_expiry_keep_the_counts(home, tmp_path, monkeypatch, schemas):
    before, ctx = fed_then_due_for_maintenance(home, tmp_path, monkeypatch, schemas)
    try:
        assert not any(r.failed for r in maintain(ctx))
        for ident in SHARED:
            table = ctx.lake.load(ident)
            assert rollups.rolled_up_sum(table, "", AS_OF)  # snapshots expired, their rows rolled up
        assert both(ctx, monkeypatch) == before  # the same figures, partly from the roll-up
        feed(ctx, tmp_path, 3)
        assert not any(r.failed for r in maintain(ctx))  # a second expiry adds to the roll-up
        after = both(ctx, monkeypatch)
        assert after[("orders", "curated")]["errors"] == before[("orders", "curated")]["errors"] + 2
    finally:
        ctx.close()


def test_a_crash_between_the_roll_up_and_the_expiry(home, tmp_path, monkeypatch, schemas):
    """Spark's order: the roll-up commits first, then expire_snapshots. Killed in between, the snapshots the
    roll-up counted are still there: the count stops at the one it was taken at, nothing counts twice; the
    expiry that comes later adds nothing."""
    from datetime import datetime, timezone

    from leanops.engines.spark.maintenance import commit_rollup
    from leanops.maintenance.expire import plan_expiry
    from leanops.maintenance.safety import shared_targets
    before, ctx = fed_then_due_for_maintenance(home, tmp_path, monkeypatch, schemas)
    try:
        rolled = 0
        for target in shared_targets(ctx.lake):
            expired = plan_expiry(target.table, target, ctx.settings.maintenance, datetime.now(timezone.utc))
            if expired and target.kind != "parse_corrections":
                commit_rollup(ctx, target, expired)  # ... and the process dies before expire_snapshots
                as_of = rollups.rolled_up_sum(target.table, "", AS_OF)
                assert as_of in {s.snapshot_id for s in target.table.snapshots()}
                rolled += 1
        assert rolled == 4 and both(ctx, monkeypatch) == before
        assert not any(r.failed for r in maintain(ctx))  # the expiry, later
        assert both(ctx, monkeypatch) == before
    finally:
        ctx.close()


def test_a_roll_up_from_before_the_row_counts_is_scanned_until_the_next_expiry(home, tmp_path, monkeypatch,
                                                                               schemas):
    """A home whose error tables expired before the roll-up counted their rows: the summaries cannot tell,
    the scan answers; the next expiry counts the rows (by a scan) and the summaries tell again."""
    feed(home, tmp_path, 0)
    feed(home, tmp_path, 1)
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    ctx = Context.open(tmp_path / "home", schemas)
    try:
        assert not any(r.failed for r in maintain(ctx))
        expected = both(ctx, monkeypatch)
        for ident in SHARED:  # the roll-up as an older release wrote it: no rows, no `as of`
            table = ctx.lake.load(ident)
            doc = json.loads(table.metadata.properties[rollups.PROPERTY])
            for entry in doc["topics"].values():
                entry.get("sums", {}).pop(ROWS, None)
                entry.get("sums", {}).pop(AS_OF, None)
                entry.get("sets", {}).pop("ingest-rows", None)
            with table.transaction() as txn:
                txn.set_properties({rollups.PROPERTY: json.dumps(doc)})
        assert both(ctx, monkeypatch, from_summaries=False) == expected
        feed(ctx, tmp_path, 2)
        assert not any(r.failed for r in maintain(ctx))
        both(ctx, monkeypatch)
    finally:
        ctx.close()


def test_replays_move_errors_and_the_counts_follow(home, tmp_path, monkeypatch, schemas):
    from leanops.ops.corrections import export_errors, replay_dlq
    from leanops.ops.replay import replay_curated, replay_semantic
    feed(home, tmp_path, 0)
    write_schema(schemas, {**_schema("orders", ["c1", "c2", "zz"]),
                           "curated": {**_schema("orders", [])["curated"],
                                       "columns": {**_schema("orders", [])["curated"]["columns"],
                                                   "customer": {"type": "string"}}}})
    assert replay_curated(home, "orders").fixed == 1  # the row without a customer
    assert replay_semantic(home, "orders").fixed == 1  # the refused customer
    [dlq_row] = list(export_errors(home.lake, "orders", "dlq"))
    fixed = {**dlq_row, "envelope": json.loads(_order("orders-fixed", "orders-kf"))}
    assert replay_dlq(home, "orders", [json.dumps(fixed)]).fixed == 1
    accounts = both(home, monkeypatch, topics=("events",))
    assert accounts[("events", "curated")]["errors"] == 2
    # orders: RAW names the fixed DLQ row until that commit expires, so its DLQ split is scanned till then
    reader = read_only_lakehouse(home.settings)
    fast = [a.as_dict() for a in topic_accounts(reader, "orders")]
    assert fast == [a.as_dict() for a in topic_accounts(home.lake, "orders", deep=True)]
    errors = {a["layer"]: a["errors"] for a in fast}
    assert (errors["ingestion"], errors["curated"], errors["semantic"]) == (0, 1, 0)
    assert all(a["ok"] for a in fast)


def test_a_rebuild_moves_the_topics_errors_aside(home, tmp_path, monkeypatch, schemas):
    from leanops.schema.rebuild import rebuild
    feed(home, tmp_path, 0)
    feed(home, tmp_path, 1)
    doc = _schema("orders", ["c1", "c2"])
    doc["curated"]["columns"]["qty"] = {"type": "string"}
    write_schema(schemas, {**doc, "change": {"kind": "NUCLEAR_RESET", "reason": "qty becomes a string"}})
    report = rebuild(home, "orders")
    assert report.status == "SUCCEEDED", report.error
    accounts = both(home, monkeypatch)
    assert accounts[("orders", "curated")]["errors"] == 2  # the quantities are strings now: only the CDEs fail
    assert accounts[("events", "curated")]["errors"] == 4  # the other topic's rows of the shared table stay
    assert all(a["ok"] for a in accounts.values())


def test_a_delete_that_names_no_topic_is_counted_by_a_scan(home, tmp_path, monkeypatch):
    feed(home, tmp_path, 0)
    home.lake.curated_errors_table().delete(EqualTo("message_id", "orders-0-nocust"))  # by hand, no summary
    accounts = both(home, monkeypatch, from_summaries=False)
    assert accounts[("orders", "curated")]["errors"] == 1 and not accounts[("orders", "curated")]["ok"]


def test_cli_deep_agrees(home, tmp_path):
    feed(home, tmp_path, 0)
    fast, deep = run_cli("accountability", "--json"), run_cli("accountability", "--json", "--deep")
    assert fast.returncode == deep.returncode == 0, fast.stderr + deep.stderr
    assert json.loads(fast.stdout) == json.loads(deep.stdout)
