"""Checkpoints that live in the commits themselves, shared by every stage.

A stage writes the upstream position it consumed into the summary of the commit that writes its
output (`leanops.source-snapshot-id`, with `leanops.source-rows` when the batch ended inside that
snapshot: `leanops.stages.position`); that summary is the truth, the state store only mirrors it.
A stage with an error table commits the errors first, marked with the range they cover: if the run
dies before its data commit, the next run finds the orphaned error commit, redoes exactly that
range (to the row) and does not write the errors twice.
"""
from __future__ import annotations

import dataclasses

from pyiceberg.table import Table

from leanops.catalog.tables import (
    SUMMARY_DUPLICATES, SUMMARY_ERRORS, SUMMARY_RECORDS_IN, SUMMARY_SOURCE_SNAPSHOT, SUMMARY_TOPIC, ancestors,
    latest_summary_value,
)
from leanops.faults import FAULT_ENV, fault_point  # noqa: F401  (the stages' crash-test hook, re-exported)
from leanops.stages.incremental import FileSlice, next_range, range_slices, scan_windows
from leanops.stages.position import END_KEYS, START_KEYS, Position, Span, stored_keys
from leanops.stages.result import StageResult


def position_from_table(table: Table, topic: str) -> Position:
    """The upstream position a table has consumed, read from its own commit summaries."""
    found = latest_summary_value(table, SUMMARY_SOURCE_SNAPSHOT, topic)
    return Position.read(found[0].summary.additional_properties) if found else Position()


def checkpoint_from_table(table: Table, topic: str) -> int | None:
    """The upstream snapshot of a table's checkpoint (consumed entirely, or in part: `position_from_table`)."""
    return position_from_table(table, topic).snapshot_id


@dataclasses.dataclass(frozen=True)
class OrphanErrors:
    """Error rows committed by a run whose data commit never landed."""

    end: Position  # where that run's range ended: the rerun redoes exactly that range
    before: int | None  # error-table snapshot just before the orphan commit


def orphan_errors(errors: Table, topic: str, start: Position) -> OrphanErrors | None:
    """The topic's newest error commit, when its range starts at `start` (the target's checkpoint): its
    run died before the data commit."""
    want = stored_keys(start.keys(START_KEYS), START_KEYS)
    for snapshot in ancestors(errors):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get(SUMMARY_TOPIC) != topic:
            continue
        if stored_keys(props, START_KEYS) == want:
            return OrphanErrors(Position.read(props, END_KEYS), snapshot.parent_snapshot_id)
        return None  # the newest error commit of this topic belongs to an earlier, completed range
    return None


@dataclasses.dataclass(frozen=True)
class Batch(Span):
    """The upstream range a stage run consumes, (start, end], and what it reads of each file, in ingestion
    order (a batch that starts or stops inside a file reads a part of it)."""

    slices: list[FileSlice]
    orphan: OrphanErrors | None  # set when this run redoes the range of an interrupted one
    windows: tuple[tuple[int | None, int], ...] = ()  # the snapshot scans that cover it (`scan_windows`)

    @property
    def files(self) -> list[str]:
        """The paths of the files the batch reads (whole or in part), in ingestion order."""
        return [s.path for s in self.slices]

    @property
    def row_ranges(self) -> dict[str, tuple[int, int]]:
        """The files the batch reads in part: path -> (first row, end row)."""
        return {s.path: (s.first, s.end) for s in self.slices if not s.whole}

    @property
    def from_id(self) -> int | None:
        return self.start.snapshot_id

    @property
    def to_id(self) -> int | None:
        return self.end.snapshot_id

    @property
    def empty(self) -> bool:
        return self.end == self.start


def plan_batch(source: Table, target: Table | None, errors: Table, topic: str, head: int,
               max_rows: int | None, within_snapshots: bool = False) -> Batch:
    """The next batch of a stage, from the target's own checkpoint; every engine plans the same way.
    `within_snapshots`: the batch may stop inside a snapshot (`next_range`)."""
    start = position_from_table(target, topic) if target is not None else Position()
    orphan = orphan_errors(errors, topic, start)
    if orphan:  # redo exactly the orphaned range
        end, slices = orphan.end, range_slices(source, topic, start, orphan.end)
    else:
        end, slices = next_range(source, topic, start, head, max_rows, within_snapshots)
    windows = scan_windows(source, start, end) if end != start else ()
    return Batch(start, end, slices, orphan, windows)


@dataclasses.dataclass
class StageRun:
    """What one stage run works on: its upstream table, its target, its error table and the batch."""

    source: Table
    target: Table | None
    errors: Table
    batch: Batch


def plan_stage(stage: str, topic: str, source: Table | None, target: Table | None, errors: Table,
               head: int | None, max_rows: int | None, within_snapshots: bool = False) -> StageRun | StageResult:
    """The run's batch, or the NO_NEW_DATA result when there is none (every engine starts here)."""
    from leanops.types import RunStatus
    if source is None or head is None:
        return StageResult(topic, stage, RunStatus.NO_NEW_DATA, message="no upstream data")
    batch = plan_batch(source, target, errors, topic, head, max_rows, within_snapshots)
    if batch.empty:
        return StageResult(topic, stage, RunStatus.NO_NEW_DATA, source_snapshot_id=batch.from_id)
    return StageRun(source, target, errors, batch)


def commit_summary(result: StageResult, span: Span, **extra: int) -> dict[str, str]:
    """Snapshot-summary properties of a stage commit: the range it consumed (its end is the new
    checkpoint) and the run's counts."""
    summary = {
        SUMMARY_TOPIC: result.topic,
        **span.summary(),
        SUMMARY_RECORDS_IN: str(result.records_in),
        SUMMARY_DUPLICATES: str(result.records_duplicates),
        SUMMARY_ERRORS: str(result.records_errors),
    }
    summary.update({f"leanops.{k.replace('_', '-')}": str(v) for k, v in extra.items()})
    return summary
