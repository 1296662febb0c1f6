"""Each topic's rows in a shared table (the DLQ, parse errors, curated and semantic errors), counted from
the table's commit summaries instead of its rows.

Every commit that changes the rows of a shared table names the topic whose rows it changed: the stages'
and ingest's appends carry `leanops.topic` (the DLQ's also `leanops.ingest-id`), a replay's removal
`leanops.replay-of`, a rebuild's removal `leanops.topic`; compaction (`replace`) rewrites rows without
changing them. A commit's change is its own summary's `added-records - deleted-records` (a copy-on-write
removal also rewrites other topics' rows of the files it touches: they are deleted and added again, and
cancel out). So a topic's rows are what the roll-up counted when the table's older snapshots expired
(exact: `expiry_rows` counts them from the summaries, or by a scan when those cannot tell) plus the
changes of the topic's later commits.

    counts = shared_rows(lake.curated_errors_table())     # None: the summaries cannot tell, scan instead
    counts.rows.get("events", 0)                           # the topic's rows now
    counts.by_ingest("events")                             # DLQ: ingest id -> rows (None: not known)

Exact or nothing: `shared_rows` is None when
  - a commit changed rows without naming the one topic it changed (the AWS DLQ drainer writes several
    topics in one commit; a hand-made delete);
  - the table has delete files (position or equality deletes: their rows are not in added/deleted-records);
  - history expired without this roll-up (a home older than it, until its next expiry);
  - the topics' rows do not add up to the table's `total-records`.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from leanops.catalog import rollups
from leanops.catalog.tables import SUMMARY_INGEST_ID, SUMMARY_REPLAY_OF, SUMMARY_TOPIC, ancestors

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

ROWS = "leanops.rows"  # roll-up sum, per topic: its rows as of the roll-up's snapshot
AS_OF = "leanops.rows-as-of"  # roll-up sum of the table ("" topic): the snapshot the rows were counted at
INGEST_ROWS = "ingest-rows"  # roll-up set, per topic of the DLQ: [ingest id, rows] as of that snapshot
DELETE_FILE_KEYS = ("added-delete-files", "removed-delete-files", "added-position-deletes",
                    "removed-position-deletes", "added-equality-deletes", "removed-equality-deletes")
TOTAL_DELETE_KEYS = ("total-delete-files", "total-position-deletes", "total-equality-deletes")


@dataclasses.dataclass
class SharedRows:
    """Rows per topic of a shared table at one snapshot, and (for the DLQ) per ingest where known."""

    table: Table | None
    rows: dict[str, int]
    appended: dict[str, dict[str, int]]  # topic -> ingest id -> rows its commits since the roll-up added
    mixed: set[str]  # topics with a removal (or an append without an ingest id) since the roll-up

    def by_ingest(self, topic: str) -> dict[str, int] | None:
        """Ingest id -> the topic's rows of that ingest; None when a removal since the roll-up took rows of
        unknown ingests (a replay), or the figures do not add up."""
        if topic in self.mixed:
            return None
        found: dict[str, int] = {}
        if self.table is not None:
            for ingest_id, rows in rollups.rolled_up_set(self.table, topic, INGEST_ROWS):
                found[ingest_id] = found.get(ingest_id, 0) + int(rows)
        for ingest_id, rows in self.appended.get(topic, {}).items():
            found[ingest_id] = found.get(ingest_id, 0) + rows
        found = {i: n for i, n in found.items() if n}
        return found if sum(found.values()) == self.rows.get(topic, 0) else None


def _summary(snapshot: Snapshot) -> dict[str, str]:
    return snapshot.summary.additional_properties if snapshot.summary else {}


def _change(snapshot: Snapshot) -> tuple[int, int] | None:
    """(records added, records deleted) of one commit; None when it touched delete files."""
    props = _summary(snapshot)
    if any(int(props.get(key, 0)) for key in DELETE_FILE_KEYS):
        return None
    return int(props.get("added-records", 0)), int(props.get("deleted-records", 0))


def shared_rows(table: Table | None, head: Snapshot | None = None) -> SharedRows | None:
    """The topics' rows as of `head` (default: the current snapshot), or None when the summaries cannot
    tell (see the module docstring)."""
    if table is None:
        return SharedRows(None, {}, {}, set())
    head = head if head is not None else table.current_snapshot()
    if head is None:
        return SharedRows(table, {}, {}, set())
    if any(int(_summary(head).get(key, 0)) for key in TOTAL_DELETE_KEYS):
        return None
    through = rollups.rolled_through(table)
    as_of = rollups.rolled_up_sum(table, "", AS_OF) if through else None
    if through and not as_of:
        return None  # history expired before this roll-up existed: its rows were never counted
    rows: dict[str, int] = {}
    appended: dict[str, dict[str, int]] = {}
    mixed: set[str] = set()
    by_id = {s.snapshot_id: s for s in table.snapshots()}
    snapshot: Snapshot | None = head
    while snapshot is not None and snapshot.snapshot_id != as_of:
        if through and snapshot.sequence_number <= through:
            return None  # a rolled-up snapshot that is not the one the rows were counted at
        change = _change(snapshot)
        if change is None:
            return None
        added, deleted = change
        if added != deleted:
            props = _summary(snapshot)
            topic = props.get(SUMMARY_TOPIC) or props.get(SUMMARY_REPLAY_OF)
            if not topic or (snapshot.summary and snapshot.summary.operation.value == "replace"):
                return None  # rows changed, and no topic named (or a compaction that changed rows)
            rows[topic] = rows.get(topic, 0) + added - deleted
            ingest_id = props.get(SUMMARY_INGEST_ID)
            if deleted or not ingest_id:
                mixed.add(topic)
            else:
                appended.setdefault(topic, {})[ingest_id] = appended.get(topic, {}).get(ingest_id, 0) + added
        parent = snapshot.parent_snapshot_id
        snapshot = by_id.get(parent) if parent is not None else None
        if snapshot is None and parent is not None and parent != as_of:
            return None  # expired without a roll-up of its rows
    if through:
        for topic in rollups.rolled_up_topics(table):
            rows[topic] = rows.get(topic, 0) + rollups.rolled_up_sum(table, topic, ROWS)
    rows = {t: n for t, n in rows.items() if n}
    if sum(rows.values()) != int(_summary(head).get("total-records", 0)) or any(n < 0 for n in rows.values()):
        return None
    return SharedRows(table, rows, appended, mixed)


def expiry_rows(table: Table, expired: list[Snapshot], figures: dict[str, rollups.TopicRollup],
                with_ingests: bool) -> dict[str, rollups.TopicRollup]:
    """`figures` (the table's roll-ups once `expired` are gone) with each topic's rows as of the newest
    expired snapshot of the lineage, which becomes the roll-up's `as of`: from the summaries when they
    tell, else counted by a scan of that snapshot. `with_ingests` (the DLQ) keeps rows per ingest too."""
    lineage = {s.snapshot_id for s in ancestors(table)}
    gone = [s for s in expired if s.snapshot_id in lineage]
    if not gone:
        return figures
    newest = max(gone, key=lambda s: s.sequence_number)
    counts = shared_rows(table, newest)
    ingests = {t: counts.by_ingest(t) for t in counts.rows} if counts is not None and with_ingests else {}
    if counts is None or any(v is None for v in ingests.values()):
        rows, ingests = _scan_rows(table, newest, with_ingests)
    else:
        rows = counts.rows
    for topic in set(figures) | set(rows):
        rollup = figures.setdefault(topic, rollups.TopicRollup())
        rollup.sums.pop(ROWS, None)
        rollup.sets.pop(INGEST_ROWS, None)
        if rows.get(topic):
            rollup.sums[ROWS] = rows[topic]
        if ingests.get(topic):
            rollup.sets[INGEST_ROWS] = sorted([i, n] for i, n in ingests[topic].items())
    figures.setdefault("", rollups.TopicRollup()).sums[AS_OF] = newest.snapshot_id
    return figures


def _scan_rows(table: Table, snapshot: Snapshot, with_ingests: bool
               ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Rows per topic (and per topic and ingest) of the snapshot, counted from its rows."""
    keys = ["topic_name", "ingest_id"] if with_ingests else ["topic_name"]
    found = table.scan(snapshot_id=snapshot.snapshot_id, selected_fields=tuple(keys)).to_arrow()
    grouped = found.group_by(keys).aggregate([([], "count_all")]).to_pylist()
    rows: dict[str, int] = {}
    ingests: dict[str, dict[str, int]] = {}
    for group in grouped:
        rows[group["topic_name"]] = rows.get(group["topic_name"], 0) + group["count_all"]
        if with_ingests:
            ingests.setdefault(group["topic_name"], {})[group["ingest_id"]] = group["count_all"]
    return rows, ingests


__all__ = ["AS_OF", "INGEST_ROWS", "ROWS", "SharedRows", "expiry_rows", "shared_rows"]
