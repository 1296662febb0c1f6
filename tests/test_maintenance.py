"""Table maintenance is safe by construction: exact rows downstream, checkpoints kept, accountability
whole after expiry, crash-safe, and safe next to runs (docs/maintenance.md)."""
from __future__ import annotations

import io
import itertools
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import run_cli
from leanops.catalog.inventory import inventory
from leanops.context import Context
from leanops.demo import _install_schemas, topic_lines
from leanops.ingest import ingest_stream
from leanops.maintenance.run import layout, maintain, maintain_shared, maintain_topic
from leanops.orchestrate.alerts import Fanout
from leanops.orchestrate.cycle import CycleOptions, acquire, run_cycle
from leanops.stages.accountability import topic_accounts
from leanops.stages.checkpoint import checkpoint_from_table
from leanops.stages.curated import run_curated
from leanops.stages.semantic import run_semantic
from leanops.stages.standardized import run_standardized

pytestmark = pytest.mark.slow

TOPICS = ("events", "orders")
LINES = 150  # per topic and cycle
VOLATILE = ("ingestion_ts", "error_ts", "ingest_id", "source")  # differ between two homes fed alike
EVERYTHING = '{"keep_snapshots_hours": 0, "keep_min_snapshots": 1, "orphan_age_hours": 0}'


class Feed:
    """The demo's events, sliced into cycles: corrections, late versions, duplicates and bad records
    cross cycle boundaries. Two feeds with the same seed give two homes the same input."""

    def __init__(self, seed: int = 7) -> None:
        self.streams = {t: topic_lines(t, seed, 5000) for t in TOPICS}

    def ingest(self, ctx: Context, cycles: int = 1) -> None:
        for _ in range(cycles):
            for topic, stream in self.streams.items():
                data = "".join(line + "\n" for line in itertools.islice(stream, LINES)).encode()
                ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, io.BytesIO(data), f"{topic}.ndjson")


def open_home(root: Path, monkeypatch, policy: str = "off") -> Context:
    monkeypatch.setenv("LEANOPS_MAINTENANCE", policy)
    schemas = root / "demo-schemas"
    if not schemas.exists():
        _install_schemas(schemas)
        (schemas / "payments.json").unlink()
    return Context.open(root / "home", schemas)


def reopen(root: Path) -> Context:
    """The home again, with the environment's policy as it is now."""
    return Context.open(root / "home", root / "demo-schemas")


def cycle(ctx: Context) -> None:
    report = run_cycle(ctx, CycleOptions(concurrency=1), Fanout([]))
    assert not report.failed, [o.as_dict() for o in report.outcomes]


def contents(ctx: Context) -> dict[str, list]:
    """Every table's rows (order-free), without the columns that depend on when a home ingested."""
    found = {}
    for namespace in ("raw", "standardized", "curated", "semantic"):
        for ident in ctx.lake.catalog.list_tables(namespace):
            rows = ctx.lake.catalog.load_table(ident).scan().to_arrow()
            rows = rows.drop_columns([c for c in VOLATILE if c in rows.column_names])
            found[".".join(ident)] = sorted(repr(sorted(r.items())) for r in rows.to_pylist())
    return found


def accounts_ok(ctx: Context) -> list[dict]:
    accounts = [a for t in TOPICS for a in topic_accounts(ctx.lake, t)]
    assert all(a.ok for a in accounts), [a.as_dict() for a in accounts if not a.ok]
    return [a.as_dict() for a in accounts]


def test_compaction_between_incremental_runs_leaves_downstream_exact(tmp_path, monkeypatch):
    """Two homes fed alike; one is compacted (and expired) between incremental runs of every layer,
    including while Semantic lags behind Curated. Every table ends identical."""
    plain, kept = open_home(tmp_path / "a", monkeypatch), open_home(tmp_path / "b", monkeypatch)
    feeds = (Feed(), Feed())
    for ctx, feed in zip((plain, kept), feeds):
        for _ in range(2):
            feed.ingest(ctx, 2)
            cycle(ctx)
        # Standardized and Curated run twice, Semantic not yet: it lags by two Curated commits
        for _ in range(2):
            run_standardized(ctx.lake, ctx.settings, "events", ctx.schema("events").standardized)
            run_curated(ctx.lake, ctx.settings, "events", ctx.schema("events"))
            feed.ingest(ctx, 1)
    curated = kept.lake.curated_table("events")
    before = layout(curated)
    seen = curated.snapshot_by_id(checkpoint_from_table(kept.lake.semantic_table("events"), "events")).sequence_number
    unread = {f.path for f in inventory(curated).data if f.sequence_number > seen}
    assert unread  # Semantic lags: Curated files it has not read yet
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    kept = reopen(tmp_path / "b")
    reports = maintain(kept)
    assert not any(r.failed for r in reports), [r.as_dict() for r in reports]
    curated = kept.lake.curated_table("events")
    after = layout(curated)
    assert after.data_files < before.data_files and after.delete_files < before.delete_files
    assert unread <= {f.path for f in inventory(curated).data}  # files Semantic has not read are left alone
    for ctx, feed in zip((plain, kept), feeds):
        cycle(ctx)  # Semantic catches up, over a compacted Curated
        feed.ingest(ctx, 2)
        cycle(ctx)
    assert contents(plain) == contents(kept)
    accounts_ok(kept)


def test_expiry_keeps_a_lagging_checkpoint(tmp_path, monkeypatch):
    """RAW keeps growing while Standardized does not run; expiring everything expirable keeps the snapshot
    Standardized's checkpoint names and every one after it, and the next run reads exactly the rest."""
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    feed.ingest(ctx)
    cycle(ctx)
    consumed = checkpoint_from_table(ctx.lake.standardized_table("events"), "events")
    feed.ingest(ctx, 4)  # four RAW commits the checkpoint has not reached
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    ctx = reopen(tmp_path)
    [report] = [r for r in maintain(ctx, "events") if r.scope == "events"]
    raw = ctx.lake.raw_table("events")
    ids = [s.snapshot_id for s in raw.snapshots()]
    assert consumed in ids and len(ids) == 6  # the checkpoint, four appends, the compaction
    assert report.tables[0].actions["expire"]["snapshots_expired"] == 0
    cycle(ctx)
    std = ctx.lake.standardized_table("events").scan().to_arrow()
    assert std.num_rows == len(set(std["message_id"].to_pylist()))
    accounts_ok(ctx)


def test_accountability_stays_whole_after_expiry(tmp_path, monkeypatch):
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(4):
        feed.ingest(ctx)
        cycle(ctx)
    before = accounts_ok(ctx)
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    ctx = reopen(tmp_path)
    maintain(ctx)
    for topic in TOPICS:
        assert len(ctx.lake.raw_table(topic).snapshots()) <= 2
    assert accounts_ok(ctx) == before  # the same figures, rolled up
    feed.ingest(ctx)
    cycle(ctx)
    maintain(ctx)  # a second expiry adds to the roll-up
    after = accounts_ok(ctx)
    assert after[0]["records_in"] > before[0]["records_in"]


@pytest.mark.parametrize("fault", ["before-compaction-commit", "after-compaction-commit", "after-manifest-rewrite",
                                   "before-expiry-commit", "after-expiry-commit"])
def test_kill_during_maintenance_then_rerun(tmp_path, monkeypatch, fault):
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(3):
        feed.ingest(ctx)
        cycle(ctx)
    expected = contents(ctx)
    figures = accounts_ok(ctx)
    env = {"LEANOPS_HOME": str(tmp_path / "home"), "LEANOPS_SCHEMAS": str(tmp_path / "demo-schemas"),
           "LEANOPS_MAINTENANCE": '{"keep_snapshots_hours": 0, "keep_min_snapshots": 1, "orphan_age_hours": 0, '
                                  '"max_manifests": 1}', "LEANOPS_FAULT": fault}
    died = run_cli("maintain", "--topic", "events", env=env)
    assert died.returncode == 75, died.stdout + died.stderr
    ctx = reopen(tmp_path)
    assert contents(ctx) == expected and accounts_ok(ctx) == figures
    env.pop("LEANOPS_FAULT")
    again = run_cli("maintain", "--topic", "events", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    ctx = reopen(tmp_path)
    assert contents(ctx) == expected and accounts_ok(ctx) == figures
    # nothing a killed maintenance wrote is left behind: the sweep found it
    for table in (ctx.lake.raw_table("events"), ctx.lake.curated_table("events")):
        from leanops.maintenance.orphans import referenced
        on_disk = {str(p) for p in Path(table.location()[len("file://"):]).rglob("*") if p.is_file()}
        known = {r[len("file://"):] if r.startswith("file://") else r for r in referenced(table)}
        assert on_disk <= known, sorted(on_disk - known)[:5]
    feed.ingest(ctx)
    cycle(ctx)
    accounts_ok(ctx)


def test_maintenance_waits_for_the_topic_lease(tmp_path, monkeypatch):
    """A run (or rebuild, or replay) holding the topic's lease: maintenance skips the topic, never races it."""
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    feed.ingest(ctx, 2)
    cycle(ctx)
    assert acquire(ctx, "events", "host:1:run", 60)
    report = maintain_topic(ctx, "events")
    assert report.status == "SKIPPED" and not report.tables
    ctx.state.release_lease("events", "host:1:run")
    assert maintain_topic(ctx, "events").status == "SUCCEEDED"


def test_shared_table_compaction_keeps_a_concurrent_append(tmp_path, monkeypatch):
    """Other topics append to the error tables while they are compacted: the commit is rebuilt on the
    new head and the appended rows stay."""
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(3):
        feed.ingest(ctx)
        cycle(ctx)
    errors = ctx.lake.curated_errors_table()
    before = errors.scan().to_arrow().num_rows
    extra = errors.scan().to_arrow().slice(0, 1)
    import leanops.maintenance.compact as compact_module
    real = compact_module.commit_rewrite

    def racing(table, removed, added, summary, regroup=False):
        if table.name()[-1] == "errors" and table.name()[-2] == "curated":
            other = reopen(tmp_path).lake.curated_errors_table()
            other.append(extra)  # another topic's run lands first
        return real(table, removed, added, summary, regroup)

    monkeypatch.setattr(compact_module, "commit_rewrite", racing)
    report = maintain_shared(ctx)
    assert report.status == "SUCCEEDED", report.as_dict()
    errors.refresh()
    assert errors.scan().to_arrow().num_rows == before + 1


def test_the_scheduler_maintains_on_its_own_and_stays_bounded(tmp_path, monkeypatch):
    """The default policy with small thresholds: cycles compact as they go, files stay near one per partition."""
    ctx = open_home(tmp_path, monkeypatch, policy='{"max_files_per_partition": 2, "max_snapshots": 6, '
                                                  '"keep_snapshots_hours": 0, "keep_min_snapshots": 3}')
    feed = Feed()
    ran = 0
    for _ in range(8):
        feed.ingest(ctx)
        report = run_cycle(ctx, CycleOptions(concurrency=1), Fanout([]))
        assert not report.failed
        ran += sum("RunMaintenance" in o.trace for o in report.outcomes)
    assert ran >= 2
    for topic in TOPICS:
        cur = layout(ctx.lake.curated_table(topic))
        assert cur.data_files <= 3 * max(1, cur.partitions) and cur.snapshots <= 7
    accounts_ok(ctx)


@pytest.mark.duckdb_iceberg
def test_independent_readers_read_maintained_tables_alike(tmp_path, monkeypatch):
    """After compaction (deletes applied), manifest merging and expiry, a fresh PyIceberg and DuckDB's own
    Iceberg reader read every table with the same rows and checksum as the live table."""
    from readers import assert_same_rows, read_duckdb_iceberg, read_pyiceberg_fresh, table_checksum
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(3):
        feed.ingest(ctx)
        cycle(ctx)
    monkeypatch.setenv("LEANOPS_MAINTENANCE", '{"keep_snapshots_hours": 0, "keep_min_snapshots": 1, '
                                              '"max_manifests": 1}')
    ctx = reopen(tmp_path)
    assert not any(r.failed for r in maintain(ctx))
    home = tmp_path / "home"
    for ident in ("raw.events_staging", "standardized.events", "curated.events", "semantic.events",
                  "curated.errors", "standardized.parse_errors"):
        live = ctx.lake.catalog.load_table(ident).scan().to_arrow()
        assert live.num_rows
        assert_same_rows(live, read_pyiceberg_fresh(home, ident), ("live", "fresh pyiceberg"))
        assert table_checksum(live) == table_checksum(read_duckdb_iceberg(home, ident)), ident


def test_the_sweep_keeps_an_archive_that_shares_the_location(tmp_path, monkeypatch):
    """A rebuild renames curated.<t> to an archive that keeps its location, which the new table reuses:
    the orphan sweep of one must not delete the other's files."""
    from leanops.schema.rebuild import rebuild
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(2):
        feed.ingest(ctx)
        cycle(ctx)
    report = rebuild(ctx, "orders")
    assert report.status == "SUCCEEDED", report.error
    archive = f"curated.orders_{report.archive_suffix}"
    archived = ctx.lake.catalog.load_table(archive).scan().to_arrow().num_rows
    assert ctx.lake.catalog.load_table(archive).location() == ctx.lake.curated_table("orders").location()
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    ctx = reopen(tmp_path)
    assert not any(r.failed for r in maintain(ctx, "orders"))
    assert ctx.lake.catalog.load_table(archive).scan().to_arrow().num_rows == archived
    assert ctx.lake.curated_table("orders").scan().to_arrow().num_rows == archived


def test_a_rebuild_after_expiry_replays_the_whole_history(tmp_path, monkeypatch):
    """With RAW's early snapshots expired (and RAW compacted), a rebuild reads the oldest retained
    snapshot's whole content: it rebuilds exactly what the incremental runs built."""
    from leanops.schema.rebuild import rebuild
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(3):
        feed.ingest(ctx)
        cycle(ctx)
    built = contents(ctx)["curated.orders"]
    monkeypatch.setenv("LEANOPS_MAINTENANCE", EVERYTHING)
    ctx = reopen(tmp_path)
    maintain(ctx, "orders")
    assert len(ctx.lake.raw_table("orders").snapshots()) < 3
    report = rebuild(ctx, "orders")
    assert report.status == "SUCCEEDED", report.error
    assert contents(ctx)["curated.orders"] == built
    accounts_ok(ctx)


def test_status_and_dashboard_show_each_tables_layout(tmp_path, monkeypatch):
    from leanops.ops.dashboard import collect_status, render_dashboard
    from leanops.orchestrate.health import topic_status
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    feed.ingest(ctx, 2)
    cycle(ctx)
    maintain_topic(ctx, "orders")
    status = topic_status(ctx, "orders")
    tables = {t["table"]: t for t in status["tables"]}
    assert set(tables) == {"raw.orders_staging", "standardized.orders", "curated.orders"}
    assert tables["curated.orders"]["data_files"] == layout(ctx.lake.curated_table("orders")).data_files
    assert status["last_maintenance"] is not None
    page = render_dashboard(collect_status(ctx))
    assert 'id="tables"' in page and 'data-table="curated.orders"' in page


def test_a_merge_writes_one_delete_file_per_partition(tmp_path, monkeypatch):
    """Corrections replacing rows of several data files of one partition: one delete file for it."""
    ctx, feed = open_home(tmp_path, monkeypatch), Feed()
    for _ in range(4):
        feed.ingest(ctx)
        cycle(ctx)
    table = ctx.lake.curated_table("orders")
    per_partition: dict = {}
    for snapshot in table.snapshots():
        if snapshot.summary and snapshot.summary.additional_properties.get("added-delete-files"):
            added = [e for m in snapshot.manifests(table.io) if m.added_snapshot_id == snapshot.snapshot_id
                     for e in m.fetch_manifest_entry(table.io) if e.data_file.content != 0]
            keys = [tuple(e.data_file.partition) for e in added]
            assert len(keys) == len(set(keys)), snapshot.summary
            per_partition[snapshot.snapshot_id] = len(keys)
    assert per_partition  # the feed's corrections did replace stored rows
