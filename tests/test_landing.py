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
    now = time.time()  # one instant for the drop and the look: no clock reading between them to race
    drop(landing, "done.ndjson", lines("a", 1))
    drop(landing, "fresh.ndjson", lines("b", 1), mtime=now - 1)  # still changing: within the settle time
    drop(landing, "upload.ndjson.tmp", lines("c", 1))
    complete, writing = discover(landing, now, settle_seconds=5)
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
    import leanops.ingest.raw as raw  # what a manifest's processing calls to ingest its files

    def die(*args, **kwargs):
        raise KeyboardInterrupt("the process died before committing")
    monkeypatch.setattr(raw, "ingest_sources", die)
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
    (tmp_path / "clihome").mkdir()
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


def test_poison_lines_in_a_landed_file_are_dlq_rows_and_the_rest_lands(ctx, landing):
    """Issue 18: one line with a publish_time out of range failed the whole manifest three times."""
    from poison_lines import EXACT_PAYLOADS, POISON, mixed_lines
    drop(landing, "money/a.ndjson", mixed_lines())
    drop(landing, "money/b.ndjson", lines("b", 2))
    report = watch_pass(ctx, landing, "money", LandingOptions(settle_seconds=1), flush=True)
    assert not report.failed and [r.status for r in report.results] == [ManifestStatus.COMPLETED]
    assert (report.results[0].accepted, report.results[0].rejected) == (len(EXACT_PAYLOADS) + 2, len(POISON))
    stored = ctx.lake.raw_table("money").scan().to_arrow().to_pylist()
    assert {r["message_id"]: r["json_payload"] for r in stored if r["message_id"] in EXACT_PAYLOADS} == EXACT_PAYLOADS
    dlq = {r["raw_text"]: r["reason"] for r in ctx.lake.dlq_table().scan().to_arrow().to_pylist()}
    assert all(dlq[line].startswith(reason) for line, reason in POISON.items())
    assert all(f.status == FileStatus.COMPLETED for f in ctx.state.list_files(topic="money"))
    assert files_account(ctx.lake, ctx.state, "money").ok and ingestion_account(ctx.lake, "money").ok


# -- a manifest that fails: reported, counted as a gap, listed, retried once ------------------------------

def _raw_fails(monkeypatch, error: Exception) -> None:
    """The RAW commit raises (a catalog outage): a failure of the platform, not of the data."""
    from leanops.catalog.commit import StagedAppend

    def commit(self, *args, **kwargs):
        raise error
    monkeypatch.setattr(StagedAppend, "commit", commit)


def _manifest_commits(ctx: Context, topic: str, manifest_id: str) -> int:
    return sum(1 for s in ctx.lake.raw_table(topic).snapshots()
               if s.summary and s.summary.additional_properties.get("leanops.manifest-id") == manifest_id)


def test_a_manifest_that_fails_every_attempt_stays_a_gap_until_retried_then_lands_once(ctx, landing, monkeypatch):
    """Issue 18: a manifest failing all its attempts left its files `failed`, accountability at 100% with
    0 lines in and no orphan: the files disappeared from every report."""
    from leanops.landing.failures import retry_failed
    a = drop(landing, "events/a.ndjson", lines("a", 3) + ["not an envelope"])
    b = drop(landing, "events/b.ndjson", lines("b", 2))
    options = LandingOptions(settle_seconds=1)
    _raw_fails(monkeypatch, OSError("catalog unreachable"))

    passes = [watch_pass(ctx, landing, "events", options, flush=True) for _ in range(options.max_attempts + 1)]

    assert [[r.status for r in p.results] for p in passes] == [["failed"]] * options.max_attempts + [[]]
    [manifest] = ctx.state.list_manifests(topic="events")
    assert (manifest.status, manifest.attempts) == (ManifestStatus.FAILED, options.max_attempts)
    account = files_account(ctx.lake, ctx.state, "events")
    assert not account.ok and account.percent is None and account.failed_files == 2
    assert account.reason.startswith("2 landed files failed to ingest: ")
    assert str(a) in account.reason and "OSError: catalog unreachable" in account.reason
    assert "leanops files retry --topic events" in account.reason
    found = orphans(ctx.state, landing, None, stuck_after=3600)
    assert found["found"] and [(f["file"], f["recovery"], f["attempts"]) for f in found["failed_files"]] == \
        [(str(a), "retry", 3), (str(b), "retry", 3)]
    assert ingestion_account(ctx.lake, "events").orphaned == 3  # the DLQ row of each attempt: never counted
    assert _failed_files_metric(ctx, "events") == 2.0

    monkeypatch.undo()  # the catalog is back
    assert retry_failed(ctx.state, "events") == {"manifests_retried": [manifest.manifest_id], "files_released": [],
                                                  "not_retryable": []}
    again = watch_pass(ctx, landing, "events", options, flush=True)

    assert [(r.manifest_id, r.status) for r in again.results] == [(manifest.manifest_id, ManifestStatus.COMPLETED)]
    assert raw_rows(ctx, "events") == 5 and _manifest_commits(ctx, "events", manifest.manifest_id) == 1
    account = files_account(ctx.lake, ctx.state, "events")
    assert (account.records_in, account.written, account.errors, account.ok) == (6, 5, 1, True)
    ingestion = ingestion_account(ctx.lake, "events")
    assert ingestion.ok and ingestion.errors == 1
    assert not orphans(ctx.state, landing, None, stuck_after=3600)["found"]
    assert _failed_files_metric(ctx, "events") == 0.0


def _failed_files_metric(ctx: Context, topic: str) -> float:
    from leanops.ops.metrics import collect
    [value] = [s.value for s in collect(ctx) if s.name == "leanops_layer_failed_files"
               and s.labels == (("topic", topic), ("layer", "files"))]
    return value


def test_a_manifest_that_failed_after_its_raw_commit_is_completed_from_it_not_ingested_twice(ctx, landing,
                                                                                              monkeypatch):
    drop(landing, "events/a.ndjson", lines("a", 3))
    options = LandingOptions(settle_seconds=1)

    def state_store_down(record):
        raise OSError("state store unreachable")
    monkeypatch.setattr(ctx.state, "record_ingest", state_store_down)  # right after the RAW commit
    first = watch_pass(ctx, landing, "events", options, flush=True)
    monkeypatch.undo()

    assert first.failed and raw_rows(ctx, "events") == 3
    assert files_account(ctx.lake, ctx.state, "events").failed_files == 1
    again = watch_pass(ctx, landing, "events", options, flush=True)  # an attempt is left: the pass retries
    [result] = again.results
    assert (result.status, result.recovered) == (ManifestStatus.COMPLETED, True) and raw_rows(ctx, "events") == 3
    assert files_account(ctx.lake, ctx.state, "events").ok and ingestion_account(ctx.lake, "events").ok


def test_an_unreadable_file_is_a_gap_until_retried_or_dismissed(ctx, landing):
    from leanops.landing.failures import dismiss, retry_failed
    drop(landing, "events/good.ndjson", lines("g", 2))
    broken = landing / "events/broken.ndjson.gz"
    broken.write_bytes(gzip.compress(b"\n".join(line.encode() for line in lines("x", 50)))[:40])
    os.utime(broken, (OLD, OLD))
    drop(landing, "loose.ndjson", lines("l", 1))  # no topic directory
    options = LandingOptions(settle_seconds=1)

    watch_pass(ctx, landing, None, options, flush=True)
    account = files_account(ctx.lake, ctx.state, "events")
    assert (account.records_in, account.written, account.failed_files, account.ok) == (2, 2, 1, False)
    assert f"{broken} (cannot read {broken}" in account.reason
    retried = retry_failed(ctx.state)
    assert retried["files_released"] == [str(broken)] and retried["not_retryable"] == [str(landing / "loose.ndjson")]
    watch_pass(ctx, landing, None, options, flush=True)  # still corrupt: failed again, in a manifest of its own
    assert ctx.state.get_file(str(broken)).status == FileStatus.FAILED and raw_rows(ctx, "events") == 2

    refused = dismiss(ctx.state, [str(landing / "events/good.ndjson"), "/nowhere.ndjson"], "no")
    assert refused["dismissed"] == [] and [r["error"] for r in refused["refused"]] == \
        ["it is completed: only a failed file can be dismissed", "not tracked"]
    with pytest.raises(Exception, match="reason"):
        dismiss(ctx.state, [str(broken)], "  ")
    done = dismiss(ctx.state, [str(broken), str(landing / "loose.ndjson")], "truncated upload, re-sent as good2")

    assert done == {"dismissed": [str(broken), str(landing / "loose.ndjson")], "refused": []}
    gone = ctx.state.get_file(str(broken))
    assert gone.status == FileStatus.DISMISSED and gone.error.startswith("dismissed: truncated upload, re-sent")
    assert files_account(ctx.lake, ctx.state, "events").ok
    assert not orphans(ctx.state, landing, None, stuck_after=3600)["found"]


def test_dismissing_every_file_of_a_failed_manifest_dismisses_it(ctx, landing, monkeypatch):
    from leanops.landing.failures import dismiss
    a = drop(landing, "events/a.ndjson", lines("a", 1))
    b = drop(landing, "events/b.ndjson", lines("b", 1))
    options = LandingOptions(settle_seconds=1)
    _raw_fails(monkeypatch, OSError("catalog unreachable"))
    watch_pass(ctx, landing, "events", options, flush=True)  # attempt 1 of 3
    monkeypatch.undo()

    dismiss(ctx.state, [str(a)], "sent twice upstream")
    [manifest] = ctx.state.list_manifests(topic="events")
    assert (manifest.status, manifest.files) == (ManifestStatus.FAILED, [str(b)])
    again = watch_pass(ctx, landing, "events", options, flush=True)  # the retry takes the rest only
    assert [r.status for r in again.results] == [ManifestStatus.COMPLETED] and raw_rows(ctx, "events") == 1
    assert ctx.state.get_file(str(a)).status == FileStatus.DISMISSED

    c = drop(landing, "events/c.ndjson", lines("c", 1))
    _raw_fails(monkeypatch, OSError("catalog unreachable"))
    watch_pass(ctx, landing, "events", options, flush=True)
    monkeypatch.undo()
    dismiss(ctx.state, [str(c)], "test data")
    assert ctx.state.get_manifest(ctx.state.get_file(str(c)).manifest_id).status == ManifestStatus.DISMISSED
    assert watch_pass(ctx, landing, "events", options, flush=True).results == []
    assert files_account(ctx.lake, ctx.state, "events").ok


def _pass_lines(process, passes: int) -> list[str]:
    """stdout of a running `leanops watch` until it has printed `passes` passes (each starts with "files:")."""
    seen = []
    while sum(line.startswith("files:") for line in seen) < passes:
        line = process.stdout.readline()
        assert line, "watch ended before its passes: " + "".join(seen)
        seen.append(line)
    return seen


@pytest.mark.slow
def test_cli_a_manifest_that_ends_failed_fails_the_watch_and_the_accounts_until_retried(tmp_path, landing, schemas):
    """The files vanished (an unmounted share) after they were tracked: every attempt fails for real."""
    import signal
    import subprocess
    from conftest import LEANOPS
    home_dir = tmp_path / "clihome"
    home = ["--home", str(home_dir), "--schemas", str(schemas)]
    a = drop(landing, "events/a.ndjson", lines("a", 2))
    content = a.read_bytes()
    ctx = Context.open(home_dir, schemas)
    try:  # tracked; the manifest waits for more files
        watch_pass(ctx, landing, "events", LandingOptions(settle_seconds=1, max_wait_seconds=3600), now=NOW)
    finally:
        ctx.close()
    a.unlink()

    watcher = subprocess.Popen([LEANOPS, "watch", str(landing), "--topic", "events", "--every", "0.05s",
                                "--max-wait", "0", "--settle", "1", *home], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    timer = threading.Timer(240, watcher.kill)  # a safety net only: the test waits for the passes' output
    timer.start()
    try:
        _pass_lines(watcher, 5)  # 3 failed attempts, then passes with nothing due
        watcher.send_signal(signal.SIGTERM)
        _, stderr = watcher.communicate()
    finally:
        timer.cancel()
    assert watcher.returncode == 1, stderr
    assert "all 3 attempts used): no file of the manifest could be read" in stderr
    assert f"file {a} (events) was not ingested: cannot read {a}: FileNotFoundError" in stderr
    assert "leanops files retry" in stderr

    later = run_cli("watch", str(landing), "--topic", "events", "--once", "--settle", "1", *home)
    assert later.returncode == 0 and "1 landed file of earlier runs not in RAW" in later.stderr
    accounts = run_cli("accountability", "--json", *home)
    [files] = [x for x in json.loads(accounts.stdout) if x["layer"] == "files"]
    assert accounts.returncode == 1 and (files["ok"], files["failed_files"], files["percent"]) == (False, 1, None)
    assert files["reason"].startswith(f"1 landed file failed to ingest: {a} (cannot read {a}: FileNotFoundError")
    text = run_cli("accountability", *home)
    assert "open: 1 file not in RAW" in text.stdout and "leanops files retry --topic events" in text.stdout
    found = run_cli("files", "orphans", "--json", *home)
    assert found.returncode == 1 and [f["file"] for f in json.loads(found.stdout)["failed_files"]] == [str(a)]

    a.write_bytes(content)  # the share is back
    os.utime(a, (OLD, OLD))
    retried = run_cli("files", "retry", "--json", *home)
    assert retried.returncode == 0 and len(json.loads(retried.stdout)["manifests_retried"]) == 1
    done = run_cli("watch", str(landing), "--topic", "events", "--once", "--settle", "1", "--json", *home)
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in json.loads(done.stdout)["results"]] == ["completed"]
    accounts = run_cli("accountability", "--json", *home)
    assert accounts.returncode == 0 and all(x["ok"] for x in json.loads(accounts.stdout))
    assert run_cli("files", "orphans", *home).returncode == 0
    ctx = Context.open(home_dir, schemas)
    try:
        assert raw_rows(ctx, "events") == 2
    finally:
        ctx.close()
