"""The Spark engine's maintenance decisions that need no Spark (leanops.engines.spark.maintenance): when
Curated may be compacted, the roll-up committed before the expiry, when Iceberg's orphan action may run.
What the procedures do to the tables is tested on Spark in tests/test_conformance.py
(`test_tables_maintained_by_either_engine_read_the_same_and_runs_stay_exact`)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType

from leanops.catalog import rollups
from leanops.engines.spark.maintenance import commit_rollup, compaction_blocked, orphan_method
from leanops.maintenance.expire import plan_expiry
from leanops.maintenance.run import maintain, topic_policy
from leanops.maintenance.safety import topic_targets
from leanops.stages.curated import run_curated
from leanops.stages.standardized import run_standardized
from test_maintenance import EVERYTHING, Feed, accounts_ok, cycle, open_home, reopen

pytestmark = pytest.mark.slow


def test_curated_is_compacted_only_once_semantic_has_read_its_head(tmp_path, monkeypatch):
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    feed.ingest(ctx)
    cycle(ctx)
    assert {t.kind: compaction_blocked(ctx, t) for t in topic_targets(ctx, "events")} == {
        "raw": None, "standardized": None, "curated": None, "semantic": None}
    feed.ingest(ctx)
    run_standardized(ctx.lake, ctx.settings, "events", ctx.schema("events").standardized)
    run_curated(ctx.lake, ctx.settings, "events", ctx.schema("events"))  # Semantic lags one Curated commit
    blocked = {t.kind: compaction_blocked(ctx, t) for t in topic_targets(ctx, "events")}
    assert blocked["curated"] and "Semantic has read Curated up to" in blocked["curated"]
    assert blocked["raw"] is blocked["standardized"] is blocked["semantic"] is None
    cycle(ctx)  # Semantic catches up
    assert all(compaction_blocked(ctx, t) is None for t in topic_targets(ctx, "events"))


def test_a_crash_between_the_rollup_and_the_expiry_counts_nothing_twice(tmp_path, monkeypatch):
    """Spark commits the roll-up, then calls expire_snapshots: killed in between, the snapshots the roll-up
    counts are still there and are skipped; the expiry that comes later (either engine) adds nothing."""
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(3):
        feed.ingest(ctx)
        cycle(ctx)
    figures = accounts_ok(ctx)
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    ctx = reopen(tmp_path)
    now = datetime.now(timezone.utc)
    rolled = 0
    for target in topic_targets(ctx, "events"):
        expired = plan_expiry(target.table, target, topic_policy(ctx, "events"), now)
        if expired:
            before = len(target.table.snapshots())
            commit_rollup(ctx, target, expired)  # ... and the process dies before expire_snapshots
            assert len(target.table.snapshots()) == before and rollups.rolled_through(target.table) > 0
            rolled += 1
    assert rolled and accounts_ok(ctx) == figures
    reports = maintain(ctx, "events")  # the expiry, later
    assert not any(r.failed for r in reports)
    assert accounts_ok(ctx) == figures


def test_iceberg_removes_orphans_only_where_no_other_table_shares_the_location(tmp_path, monkeypatch):
    """A rebuild's archive keeps the location the new table reuses: there, lean-ops' own sweep runs."""
    ctx = open_home(tmp_path, monkeypatch)
    schema = Schema(NestedField(1, "k", StringType(), required=False))
    location = (tmp_path / "warehouse-x").as_uri()
    alone = ctx.lake.catalog.create_table("curated.alone", schema, location=(tmp_path / "warehouse-y").as_uri())
    current = ctx.lake.catalog.create_table("curated.x", schema, location=location)
    assert orphan_method(ctx.lake.catalog, alone) == orphan_method(ctx.lake.catalog, current) == "iceberg"
    archive = ctx.lake.catalog.create_table("curated.x_archive_1", schema, location=location)
    assert orphan_method(ctx.lake.catalog, current) == orphan_method(ctx.lake.catalog, archive) == "leanops"
    assert orphan_method(ctx.lake.catalog, alone) == "iceberg"
