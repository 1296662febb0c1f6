"""Parsed metadata by location (issue 19): an idle cycle neither re-reads nor re-parses a table's metadata,
and a table another process commits to is never served stale."""
from __future__ import annotations

import pytest
from pyiceberg.serializers import FromInputFile

from conftest import envelope, ingest
from leanops.catalog import metadata_cache
from leanops.context import Context
from leanops.orchestrate.alerts import Fanout
from leanops.orchestrate.cycle import CycleOptions, run_cycle
from leanops.types import RunStatus

pytestmark = pytest.mark.slow


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The metadata.json files PyIceberg parses from now on."""
    metadata_cache.METADATA.clear()
    metadata_cache.MANIFEST_COUNTS.clear()
    seen: list[str] = []
    real = FromInputFile.table_metadata

    def counting(input_file, *args, **kwargs):
        seen.append(input_file.location)
        return real(input_file, *args, **kwargs)
    monkeypatch.setattr(FromInputFile, "table_metadata", staticmethod(counting))
    return seen


def test_a_table_whose_pointer_has_not_moved_is_loaded_without_parsing(ctx, tmp_path, reads):
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    first = ctx.lake.raw_table("events")
    parsed = len(reads)
    again = ctx.lake.raw_table("events")
    assert len(reads) == parsed  # neither the load after the commit nor this one read the file
    assert again.metadata_location == first.metadata_location
    assert again.current_snapshot().snapshot_id == first.current_snapshot().snapshot_id


def test_another_process_commit_is_seen_at_once(ctx, tmp_path, schemas, reads):
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    before = ctx.lake.raw_table("events").current_snapshot().snapshot_id
    other = Context.open(tmp_path / "home", schemas)
    try:
        metadata_cache.METADATA.clear()  # as in a separate process: nothing of ours cached there
        ingest(other, "events", [envelope("m2", {"a": 2})], tmp_path, name="other.ndjson")
    finally:
        other.close()
    metadata_cache.METADATA.clear()
    after = ctx.lake.raw_table("events")
    assert after.current_snapshot().snapshot_id != before
    assert {r["message_id"] for r in after.scan().to_arrow().to_pylist()} == {"m1", "m2"}


def test_an_idle_cycle_reads_no_metadata_and_no_manifest_list(ctx, tmp_path, schemas, reads, monkeypatch):
    (schemas / "events.json").write_text('{"topic": "events", "standardized": {}}')
    ingest(ctx, "events", [envelope(f"m{i}", {"a": i}) for i in range(5)], tmp_path)
    run_cycle(ctx, CycleOptions(concurrency=1), Fanout([]))
    run_cycle(ctx, CycleOptions(concurrency=1), Fanout([]))  # the first idle cycle reads the manifest lists
    lists: list[str] = []
    real = metadata_cache.Snapshot.manifests
    monkeypatch.setattr(metadata_cache.Snapshot, "manifests",
                        lambda self, io: lists.append(self.manifest_list) or real(self, io))
    parsed = len(reads)
    report = run_cycle(ctx, CycleOptions(concurrency=1), Fanout([]))
    assert [o.status for o in report.outcomes] == [RunStatus.NO_NEW_DATA]
    assert len(reads) == parsed and lists == []


def test_the_cache_is_bounded():
    cache = metadata_cache.LruCache(size=3)
    for i in range(5):
        cache.put(f"loc-{i}", i)
    assert [cache.get(f"loc-{i}") for i in range(5)] == [None, None, 2, 3, 4]
