"""What maintenance may touch in each table, from the readers that depend on it (docs/maintenance.md).

    for target in topic_targets(ctx, "events"): target.protected, target.horizon

Two rules, per table:
  - `protected`: snapshots expiry must keep, with every snapshot after them in the lineage:
      * each downstream checkpoint (RAW <- Standardized <- Curated <- Semantic): the incremental read
        walks from it to the head and reads each snapshot's own manifests; a checkpoint inside a
        snapshot also keeps that snapshot's parent (Spark's incremental scan of its rest starts there);
      * the table's own newest checkpoint-carrying commit (where `position_from_table` finds it), whose
        checkpoint keys (`leanops.stages.position`) maintenance commits repeat;
      * an unfinished rebuild's pinned RAW snapshot, and RAW commits of landing manifests that are
        not completed yet (their crash recovery looks the commit up);
      * on a shared error table, each topic's newest commit and its parent (orphaned-error detection
        and the as-of read of a redone range).
  - `horizon`: the greatest data sequence number compaction may rewrite (None: any file). Curated
    feeds Semantic by "rows of the files added since the checkpoint, live at the token", so only
    files Semantic has consumed are rewritten; RAW and Standardized are read per snapshot (their
    rewritten files stay readable where they were added), and nothing reads the rest incrementally.
"""
from __future__ import annotations

import dataclasses

from pyiceberg.table import Table

from leanops.catalog.tables import SUMMARY_MANIFEST_ID, SUMMARY_SOURCE_SNAPSHOT, SUMMARY_TOPIC, Lakehouse, \
    ancestors
from leanops.context import Context
from leanops.stages.checkpoint import position_from_table
from leanops.stages.incremental import consumed_through
from leanops.stages.position import END_KEYS, Position, stored_keys
from leanops.state.base import ManifestStatus

SHARED = "_shared"  # run-log scope of the tables every topic writes (never a topic: those start with a letter)


@dataclasses.dataclass
class Target:
    """One table to maintain, with what its readers need kept."""

    kind: str  # raw | standardized | curated | semantic | dlq | parse_errors | parse_corrections | ...
    ident: str
    table: Table
    topic: str = ""  # "" for a shared table
    protected: set[int] = dataclasses.field(default_factory=set)
    horizon: int | None = None
    order: tuple[str, ...] = ()  # row order of compacted files (empty: ingestion order)
    carry: dict[str, str] = dataclasses.field(default_factory=dict)  # summary keys maintenance commits repeat


def topic_targets(ctx: Context, topic: str) -> list[Target]:
    """The topic's RAW, Standardized, Curated and Semantic tables, those that exist."""
    lake = ctx.lake
    raw, std = lake.raw_table(topic), lake.standardized_table(topic)
    cur, sem = lake.curated_table(topic), lake.semantic_table(topic)
    targets = []
    if raw is not None:
        target = Target("raw", lake.raw_ident(topic), raw, topic, _checkpoint_of(std, topic, raw))
        target.protected |= _raw_pins(ctx, topic, raw)
        targets.append(target)
    for kind, table, ident, downstream in (("standardized", std, lake.standardized_ident(topic), cur),
                                           ("curated", cur, lake.curated_ident(topic), sem),
                                           ("semantic", sem, lake.semantic_ident(topic), None)):
        if table is None:
            continue
        target = Target(kind, ident, table, topic, _checkpoint_of(downstream, topic, table))
        own = _own_checkpoint(table, topic)
        if own is not None:
            target.protected.add(own[0])
            target.carry = {SUMMARY_TOPIC: topic, **own[1]}
        if kind == "curated" and downstream is not None:
            target.horizon = _sequence_of(table, consumed_through(table, position_from_table(downstream, topic)))
        key = table.metadata.properties.get("leanops.merge-key")
        if kind in ("curated", "semantic") and key:
            target.order = (key,)
        targets.append(target)
    return targets


def shared_targets(lake: Lakehouse) -> list[Target]:
    """The tables every topic writes: the DLQ, parse errors and their corrections, the error tables."""
    targets = []
    for kind, ident in (("dlq", lake.DLQ), ("parse_corrections", lake.PARSE_CORRECTIONS),
                        ("parse_errors", lake.PARSE_ERRORS), ("curated_errors", lake.CURATED_ERRORS),
                        ("semantic_errors", lake.SEMANTIC_ERRORS)):
        table = lake.load(ident)  # maintenance never creates a table
        if table is not None:
            pins = _newest_per_topic(table) if kind.endswith("errors") and kind != "dlq" else set()
            targets.append(Target(kind, ident, table, protected=pins))
    return targets


def _checkpoint_of(downstream: Table | None, topic: str, table: Table) -> set[int]:
    """The downstream checkpoint's snapshot of `table`; inside a snapshot (not a first range's base) also
    its parent, where an engine's incremental scan of the rest of that snapshot starts
    (`stages.incremental.scan_windows`)."""
    position = position_from_table(downstream, topic) if downstream is not None else Position()
    if position.snapshot_id is None:
        return set()
    protected = {position.snapshot_id}
    parent = consumed_through(table, position)
    if parent is not None:
        protected.add(parent)
    return protected


def _own_checkpoint(table: Table, topic: str) -> tuple[int, dict[str, str]] | None:
    """(snapshot id, checkpoint properties) of the table's newest commit carrying its checkpoint."""
    for snapshot in ancestors(table):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get(SUMMARY_TOPIC) == topic and SUMMARY_SOURCE_SNAPSHOT in props:
            return snapshot.snapshot_id, {k: v for k, v in stored_keys(props, END_KEYS).items() if v is not None}
    return None


def _sequence_of(table: Table, snapshot_id: int | None) -> int | None:
    """The data sequence number of a snapshot: files up to it were added at or before it. No
    checkpoint yet: the first read is of a whole snapshot, so any file may be rewritten (None)."""
    if snapshot_id is None:
        return None
    snapshot = table.snapshot_by_id(snapshot_id)
    return snapshot.sequence_number if snapshot is not None else 0


def _raw_pins(ctx: Context, topic: str, raw: Table) -> set[int]:
    """An unfinished rebuild's pinned snapshot; commits of landing manifests not completed yet."""
    pins = set()
    rebuild = ctx.state.get_rebuild(topic)
    if rebuild and rebuild.get("status") != "SUCCEEDED" and rebuild.get("target_raw_snapshot") is not None:
        pins.add(int(rebuild["target_raw_snapshot"]))
    open_manifests = {m.manifest_id for m in ctx.state.list_manifests(topic=topic)
                      if m.status != ManifestStatus.COMPLETED}
    if open_manifests:
        for snapshot in ancestors(raw):
            props = snapshot.summary.additional_properties if snapshot.summary else {}
            if props.get(SUMMARY_MANIFEST_ID) in open_manifests:
                pins.add(snapshot.snapshot_id)
    return pins


def _newest_per_topic(table: Table) -> set[int]:
    """Each topic's newest commit of a shared error table, and its parent."""
    seen, pins = set(), set()
    for snapshot in ancestors(table):
        topic = (snapshot.summary.additional_properties if snapshot.summary else {}).get(SUMMARY_TOPIC)
        if topic and topic not in seen:
            seen.add(topic)
            pins.add(snapshot.snapshot_id)
            if snapshot.parent_snapshot_id is not None:
                pins.add(snapshot.parent_snapshot_id)
    return pins


__all__ = ["SHARED", "Target", "shared_targets", "topic_targets"]
