"""Checkpoints that live in the commits themselves, shared by every stage.

A stage writes the upstream snapshot it consumed into the summary of the commit that writes its
output (`leanops.source-snapshot-id`); that summary is the truth, the state store only mirrors it.
A stage with an error table commits the errors first, marked with the range they cover: if the run
dies before its data commit, the next run finds the orphaned error commit, redoes exactly that
range and does not write the errors twice.
"""
from __future__ import annotations

import dataclasses

from pyiceberg.table import Table

from leanops.catalog.tables import (
    SUMMARY_DUPLICATES, SUMMARY_ERRORS, SUMMARY_RECORDS_IN, SUMMARY_SOURCE_FROM, SUMMARY_SOURCE_SNAPSHOT,
    SUMMARY_TOPIC, ancestors, latest_summary_value,
)
from leanops.faults import FAULT_ENV, fault_point  # noqa: F401  (the stages' crash-test hook, re-exported)
from leanops.stages.incremental import next_range, range_files
from leanops.stages.result import StageResult


def checkpoint_from_table(table: Table, topic: str) -> int | None:
    """The upstream snapshot a table has consumed, read from its own commit summaries."""
    found = latest_summary_value(table, SUMMARY_SOURCE_SNAPSHOT, topic)
    return int(found[1]) if found else None


@dataclasses.dataclass(frozen=True)
class OrphanErrors:
    """Error rows committed by a run whose data commit never landed."""

    source_to: int  # the upstream snapshot that run had read up to: the rerun redoes exactly that range
    before: int | None  # error-table snapshot just before the orphan commit


def orphan_errors(errors: Table, topic: str, from_id: int | None) -> OrphanErrors | None:
    want = "" if from_id is None else str(from_id)
    for snapshot in ancestors(errors):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get(SUMMARY_TOPIC) != topic:
            continue
        if props.get(SUMMARY_SOURCE_FROM) == want:
            return OrphanErrors(int(props[SUMMARY_SOURCE_SNAPSHOT]), snapshot.parent_snapshot_id)
        return None  # the newest error commit of this topic belongs to an earlier, completed range
    return None


@dataclasses.dataclass(frozen=True)
class Batch:
    """The upstream range a stage run consumes: snapshots in (from_id, to_id], their files in commit order."""

    from_id: int | None
    to_id: int | None
    files: list[str]
    orphan: OrphanErrors | None  # set when this run redoes the range of an interrupted one

    @property
    def empty(self) -> bool:
        return self.to_id == self.from_id


def plan_batch(source: Table, target: Table | None, errors: Table, topic: str, head: int,
               max_rows: int | None) -> Batch:
    """The next batch of a stage, from the target's own checkpoint; every engine plans the same way."""
    from_id = checkpoint_from_table(target, topic) if target is not None else None
    orphan = orphan_errors(errors, topic, from_id)
    if orphan:  # redo exactly the orphaned range
        files = range_files(source, topic, from_id, orphan.source_to)
        return Batch(from_id, orphan.source_to, files, orphan)
    to_id, files = next_range(source, topic, from_id, head, max_rows)
    return Batch(from_id, to_id, files, None)


@dataclasses.dataclass
class StageRun:
    """What one stage run works on: its upstream table, its target, its error table and the batch."""

    source: Table
    target: Table | None
    errors: Table
    batch: Batch


def plan_stage(stage: str, topic: str, source: Table | None, target: Table | None, errors: Table,
               head: int | None, max_rows: int | None) -> StageRun | StageResult:
    """The run's batch, or the NO_NEW_DATA result when there is none (every engine starts here)."""
    from leanops.types import RunStatus
    if source is None or head is None:
        return StageResult(topic, stage, RunStatus.NO_NEW_DATA, message="no upstream data")
    batch = plan_batch(source, target, errors, topic, head, max_rows)
    if batch.empty:
        return StageResult(topic, stage, RunStatus.NO_NEW_DATA, source_snapshot_id=batch.from_id)
    return StageRun(source, target, errors, batch)


def commit_summary(result: StageResult, from_id: int | None, **extra: int) -> dict[str, str]:
    """Snapshot-summary properties of a stage commit: the checkpoint and the run's counts."""
    summary = {
        SUMMARY_TOPIC: result.topic,
        SUMMARY_SOURCE_SNAPSHOT: str(result.source_snapshot_id),
        SUMMARY_SOURCE_FROM: "" if from_id is None else str(from_id),
        SUMMARY_RECORDS_IN: str(result.records_in),
        SUMMARY_DUPLICATES: str(result.records_duplicates),
        SUMMARY_ERRORS: str(result.records_errors),
    }
    summary.update({f"leanops.{k.replace('_', '-')}": str(v) for k, v in extra.items()})
    return summary

