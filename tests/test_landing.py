"""The file landing path: complete-file rule, tracking, duplicates, manifests by thresholds, one RAW commit
per manifest, crash recovery, orphans and reset-stuck, and the files' accountability."""
from __future__ import annotations

import gzip
import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import envelope, run_cli
from leanops.context import Context
from leanops.landing.files import discover, is_data_name
from leanops.landing.manifests import LandingOptions, group
from leanops.landing.operations import files_account, orphans, reset_stuck, stats
from leanops.landing.watch import watch_pass
from leanops.stages.accountability import ingestion_account
from leanops.state.base import FileStatus, ManifestStatus, TrackedFile

OLD = time.time() - 120  # an mtime past any settle time
NOW = datetime.now(timezone.utc)


def drop(directory: Path, name: str, lines: list[str], mtime: float = OLD, gz: bool = False) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    os.utime(path, (mtime, mtime))
    return path


def lines(prefix: str, n: int) -> list[str]:
    return [envelope(f"{prefix}-{i}", {"n": i}) for i in range(n)]


def raw_rows(ctx: Context, topic: str) -> int:
    table = ctx.lake.raw_table(topic)
    return 0 if table is None else len(table.scan().to_arrow())


@pytest.fixture
def landing(tmp_path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


# -- what counts as a file, and when it is complete ----------------------------------------------

@pytest.mark.parametrize("name,taken", [("a.ndjson", True), ("a.jsonl", True), ("a.json.gz", True),
                                        ("A.NDJSON.GZ", True), ("a.ndjson.tmp", False), ("a.part", False),
                                        (".a.ndjson", False), ("_a.ndjson", False), ("a.csv", False)])
def test_data_names(name, taken):
    assert is_data_name(name) is taken


def test_files_being_written_wait(landing):
    drop(landing, "done.ndjson", lines("a", 1))
    drop(landing, "fresh.ndjson", lines("b", 1), mtime=time.time())  # still changing: within the settle time
    drop(landing, "upload.ndjson.tmp", lines("c", 1))
    complete, writing = discover(landing, time.time(), settle_seconds=5)
    assert [f.relative for f in complete] == ["done.ndjson"]
    assert sorted(Path(k).name for k in writing) == ["fresh.ndjson", "upload.ndjson.tmp"]


# -- thresholds ----------------------------------------------------------------------------------

def _tracked(n: int, size: int, first_seen: datetime) -> list[TrackedFile]:
    return [TrackedFile(f"/l/{i}", "events", size, f"c{i}", FileStatus.PENDING, first_seen, first_seen)
            for i in range(n)]


def test_manifests_close_at_max_files_then_max_bytes():
    options = LandingOptions(max_files=3, max_bytes=1000, max_wait_seconds=60)
    assert [len(g) for g in group(_tracked(7, 10, NOW), options, NOW, flush=False)] == [3, 3]  # 1 waits
    assert [len(g) for g in group(_tracked(7, 400, NOW), options, NOW, flush=False)] == [3, 3]  # 1200 B >= max
    assert [len(g) for g in group(_tracked(5, 600, NOW), options, NOW, flush=False)] == [2, 2]
    big = LandingOptions(max_files=3, max_bytes=100)
    assert [len(g) for g in group(_tracked(2, 5000, NOW), big, NOW, flush=False)] == [1, 1]  # a big file alone


def test_a_trickle_flows_after_max_wait(tmp_path):
    options = LandingOptions(max_files=10, max_wait_seconds=60)
    files = _tracked(2, 10, NOW)
    assert group(files, options, NOW + timedelta(seconds=59), flush=False) == []
    assert [len(g) for g in group(files, options, NOW + timedelta(seconds=60), flush=False)] == [2]
    assert [len(g) for g in group(files, options, NOW, flush=True)] == [2]


def test_watch_builds_by_threshold_and_waits_for_the_rest(ctx, landing):
    for i in range(5):
        drop(landing, f"events/f{i}.ndjson", lines(f"f{i}", 2))
    options = LandingOptions(max_files=2, max_wait_seconds=600, settle_seconds=1)

    first = watch_pass(ctx, landing, "events", options, now=NOW)

    assert first.tracked == 5 and first.manifests_built == 2
    assert [r.files for r in first.results] == [2, 2] and raw_rows(ctx, "events") == 8
    assert [f.file_key for f in ctx.state.list_files(status=FileStatus.PENDING)] == [str(landing / "events/f4.ndjson")]
    later = watch_pass(ctx, landing, "events", options, now=NOW + timedelta(seconds=601))
    assert later.manifests_built == 1 and raw_rows(ctx, "events") == 10
    manifests = ctx.state.list_manifests(topic="events")
    assert [m.status for m in manifests] == [ManifestStatus.COMPLETED] * 3
    commits = [s for s in ctx.lake.raw_table("events").snapshots()]
    assert len(commits) == 3  # one RAW commit per manifest


# -- tracking: once per file, duplicates, bad input -------------------------------------------------

def test_a_file_seen_twice_is_ingested_once(ctx, landing):
    drop(landing, "events/a.ndjson", lines("a", 3))
    drop(landing, "events/again/a-copy.ndjson", lines("a", 3))  # the same bytes under another name
    first = watch_pass(ctx, landing, "events", LandingOptions(settle_seconds=1), flush=True)
    second = watch_pass(ctx, landing, "events", LandingOptions(settle_seconds=1), flush=True)

    assert (first.tracked, first.duplicates) == (1, 1) and second.tracked == second.duplicates == 0
    assert raw_rows(ctx, "events") == 3 and second.results == []
    [dup] = ctx.state.list_files(status=FileStatus.DUPLICATE)
    assert dup.duplicate_of is not None and dup.duplicate_of != dup.file_key


def test_topic_from_path_and_files_that_cannot_be_ingested(ctx, landing):
    drop(landing, "events/a.ndjson", lines("a", 2))
    drop(landing, "orders/2026/01/b.ndjson.gz", lines("b", 3), gz=True)
    drop(landing, "Bad Topic/c.ndjson", lines("c", 1))
    drop(landing, "loose.ndjson", lines("d", 1))
    bad_gzip = landing / "events/broken.ndjson.gz"
    bad_gzip.write_bytes(gzip.compress(b'{"message_id": "x", "payload": {}}\n' * 50)[:40])
    os.utime(bad_gzip, (OLD, OLD))

    report = watch_pass(ctx, landing, None, LandingOptions(settle_seconds=1), flush=True)

    assert raw_rows(ctx, "events") == 2 and raw_rows(ctx, "orders") == 3
    assert sorted(Path(r["file"]).name for r in report.rejected) == ["c.ndjson", "loose.ndjson"]
    broken = ctx.state.get_file(str(bad_gzip))
    assert broken.status == FileStatus.FAILED and "broken.ndjson.gz" in broken.error and report.failed
    assert all(f.error for f in ctx.state.list_files(status=FileStatus.FAILED))


# -- crash safety -------------------------------------------------------------------------------------

def test_crash_between_raw_commit_and_tracking_update_never_double_ingests(ctx, landing, monkeypatch):
    drop(landing, "events/a.ndjson", lines("a", 4) + ["not an envelope"])
    options = LandingOptions(settle_seconds=1)
    real = ctx.state.update_files

    def crash_after_commit(keys, **fields):
        if fields.get("status") == FileStatus.COMPLETED:
            raise KeyboardInterrupt("the process died")
        return real(keys, **fields)
    monkeypatch.setattr(ctx.state, "update_files", crash_after_commit)
    with pytest.raises(KeyboardInterrupt):
        watch_pass(ctx, landing, "events", options, flush=True)
    monkeypatch.setattr(ctx.state, "update_files", real)
    assert raw_rows(ctx, "events") == 4
    [stuck] = ctx.state.list_manifests(status=ManifestStatus.PROCESSING)

    rerun = watch_pass(ctx, landing, "events", options, flush=True)  # a processing manifest is left alone
    assert rerun.results == [] and raw_rows(ctx, "events") == 4
    found = orphans(ctx.state, landing, None, stuck_after=0)
    assert [m["manifest_id"] for m in found["stuck_manifests"]] == [stuck.manifest_id]
    repaired = reset_stuck(ctx, None, stuck_after=0)

    assert repaired["completed_from_raw"] == [stuck.manifest_id] and raw_rows(ctx, "events") == 4
    assert ctx.state.get_manifest(stuck.manifest_id).status == ManifestStatus.COMPLETED
    [file] = ctx.state.list_files(topic="events")
    assert (file.status, file.lines) == (FileStatus.COMPLETED, 5)
    assert files_account(ctx.lake, ctx.state, "events").ok and ingestion_account(ctx.lake, "events").ok


def test_crash_before_the_raw_commit_is_reset_and_ingested_once(ctx, landing, monkeypatch):
    drop(landing, "events/a.ndjson", lines("a", 3))
    options = LandingOptions(settle_seconds=1)
    import leanops.landing.manifests as manifests

    def die(*args, **kwargs):
        raise KeyboardInterrupt("the process died before committing")
    monkeypatch.setattr(manifests, "ingest_sources", die)
    with pytest.raises(KeyboardInterrupt):
        watch_pass(ctx, landing, "events", options, flush=True)
    monkeypatch.undo()

    assert reset_stuck(ctx, None, stuck_after=0)["reset_to_pending"]
    again = watch_pass(ctx, landing, "events", options, flush=True)
    assert [r.status for r in again.results] == [ManifestStatus.COMPLETED] and raw_rows(ctx, "events") == 3


@pytest.mark.parametrize("fault,ingested_again", [("after-raw-commit", False), ("before-commit", True)])
def test_a_killed_watcher_is_recovered_by_the_next_pass(ctx, landing, fault, ingested_again):
    """The watcher dies holding its manifest's lease (its process is gone): the next pass recovers that
    manifest at once, without waiting for reset-stuck, and ingests every line once."""
    drop(landing, "events/a.ndjson", lines("a", 4) + ["not an envelope"])
    watch = ("watch", str(landing), "--topic", "events", "--once", "--settle", "0", "--json")
    died = run_cli(*watch, env={"LEANOPS_FAULT": fault})
    assert died.returncode == 75, died.stdout + died.stderr
    [stuck] = ctx.state.list_manifests(status=ManifestStatus.PROCESSING)

    again = run_cli(*watch)

    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["recovered"] == [stuck.manifest_id]
    # committed before the kill: completed from RAW's summary; not committed: back to pending, ingested now
    assert [r["status"] for r in report["results"]] == (["completed"] if ingested_again else [])
    assert raw_rows(ctx, "events") == 4
    assert ctx.state.get_manifest(stuck.manifest_id).status == ManifestStatus.COMPLETED
    assert [(f.status, f.lines) for f in ctx.state.list_files(topic="events")] == [(FileStatus.COMPLETED, 5)]
    assert ctx.state.lease_holder(f"manifest:{stuck.manifest_id}") is None
    assert files_account(ctx.lake, ctx.state, "events").ok and ingestion_account(ctx.lake, "events").ok


def test_orphans_untracked_missing_and_unclaimed(ctx, landing):
    drop(landing, "events/a.ndjson", lines("a", 1))
    gone = drop(landing, "events/b.ndjson", lines("b", 1))
    options = LandingOptions(settle_seconds=1, max_wait_seconds=3600)
    watch_pass(ctx, landing, "events", options, now=NOW)  # tracked, but the manifest waits
    gone.unlink()
    drop(landing, "events/late.ndjson", lines("c", 1))
    ctx.state.update_files([str(landing / "events/a.ndjson")], status=FileStatus.MANIFESTED, manifest_id="never-stored")

    found = orphans(ctx.state, landing, None, stuck_after=3600)

    assert found["untracked_files"] == [str(landing / "events/late.ndjson")]
    assert found["missing_files"] == [str(gone)]
    assert found["unclaimed_files"] == [str(landing / "events/a.ndjson")] and found["found"]
    assert reset_stuck(ctx, None, 3600)["files_released"] == [str(landing / "events/a.ndjson")]
    assert ctx.state.get_file(str(landing / "events/a.ndjson")).status == FileStatus.PENDING


def test_concurrent_watchers_ingest_each_file_once(tmp_path, landing, schemas):
    for i in range(12):
        drop(landing, f"events/f{i:02d}.ndjson", lines(f"f{i}", 5))
    options = LandingOptions(max_files=3, settle_seconds=1)
    contexts = [Context.open(tmp_path / "home", schemas) for _ in range(3)]
    errors = []

    def run(ctx):
        try:
            watch_pass(ctx, landing, "events", options, flush=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctx = contexts[0]
    try:
        assert errors == []
        assert raw_rows(ctx, "events") == 60
        manifests = ctx.state.list_manifests(topic="events")
        keys = [k for m in manifests for k in m.files]
        assert len(keys) == len(set(keys)) == 12 and all(m.status == "completed" for m in manifests)
        assert stats(ctx.state, "events")["files"]["completed"]["lines"] == 60
    finally:
        for c in contexts:
            c.close()


# -- accountability and the CLI -----------------------------------------------------------------------

def test_files_accountability_adds_up_and_catches_a_mismatch(ctx, landing):
    drop(landing, "events/a.ndjson", lines("a", 3) + ["garbage", "{}"])
    drop(landing, "events/b.ndjson.gz", lines("b", 2), gz=True)
    watch_pass(ctx, landing, "events", LandingOptions(settle_seconds=1), flush=True)
    account = files_account(ctx.lake, ctx.state, "events")
    assert (account.records_in, account.written, account.errors, account.ok) == (7, 5, 2, True)
    dlq = ctx.lake.dlq_table().scan().to_arrow().to_pylist()
    assert sorted((Path(r["source"]).name, r["line_number"]) for r in dlq) == [("a.ndjson", 4), ("a.ndjson", 5)]
    raw = ctx.lake.raw_table("events").scan().to_arrow().sort_by("ingestion_ts").to_pylist()
    assert [r["message_id"] for r in raw] == ["a-0", "a-1", "a-2", "b-0", "b-1"]  # timestamps increase file to file
    ctx.state.update_files([str(landing / "events/a.ndjson")], lines=4)  # tracking and RAW disagree
    assert not files_account(ctx.lake, ctx.state, "events").ok


def test_cli_watch_stats_orphans(tmp_path, landing):
    drop(landing, "events/a.ndjson", lines("a", 2))
    home = ["--home", str(tmp_path / "clihome"), "--schemas", str(tmp_path / "schemas")]
    usage = run_cli("watch", str(landing), "--once", *home)
    assert usage.returncode == 2 and "--topic" in usage.stderr + usage.stdout
    done = run_cli("watch", str(landing), "--topic-from-path", "--once", "--settle", "1", "--json", *home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tracked"] == 1 and report["results"][0]["accepted"] == 2 and not report["failed"]
    counts = json.loads(run_cli("files", "stats", "--json", *home).stdout)
    assert counts["files"]["completed"]["count"] == 1 and counts["manifests"]["completed"]["count"] == 1
    clean = run_cli("files", "orphans", str(landing), "--json", *home)
    assert json.loads(clean.stdout)["found"] is False
    drop(landing, "events/b.ndjson", lines("b", 1))
    found = run_cli("files", "orphans", str(landing), "--json", *home)
    assert found.returncode == 1 and json.loads(found.stdout)["untracked_files"]
    accounts = json.loads(run_cli("accountability", "--json", *home).stdout)
    assert [a["layer"] for a in accounts][:2] == ["files", "ingestion"] and all(a["ok"] for a in accounts)
