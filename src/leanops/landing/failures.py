"""Landed files that never reached RAW: which they are, why, and the two ways out.

    gap = unlanded_files(state, "events")        # the `files` layer's open gap, `failed_files` of orphans
    retry_failed(state, "events")                # leanops files retry: failed manifests and files go again
    dismiss(state, [key], "re-sent as b.ndjson") # leanops files dismiss: given up on, with the reason
    failures.add(pass_report); failures.still_failed(state)   # what a `leanops watch` run leaves failed

A file is unlanded when it is `failed` (it could not be read, its manifest failed, or it has no valid
topic), when its manifest failed without the file being marked (the AWS workflow marks the manifest
only), or when its manifest is stuck in processing. Accountability keeps such files as an open gap
(in files: their lines were never counted) until they land or an operator dismisses them, so a
manifest that failed all its attempts never disappears from the reports.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from leanops.errors import LeanOpsError
from leanops.landing.options import LandingOptions
from leanops.state.base import FileStatus, Manifest, ManifestStatus, StateStore, TrackedFile

if TYPE_CHECKING:  # watch imports the landing's operations, which import this module
    from leanops.landing.watch import PassReport

RETRY, RESET_STUCK, DISMISS = "retry", "reset-stuck", "dismiss"  # what brings an unlanded file back
SETTLED = (FileStatus.COMPLETED, FileStatus.DUPLICATE, FileStatus.DISMISSED)  # nothing left to do for these
EXAMPLES = 3  # files named in a reason; `leanops files orphans` lists them all


@dataclasses.dataclass(frozen=True)
class Unlanded:
    """A landed file that is not in RAW and will not get there without an operator."""

    file: TrackedFile
    why: str  # the recorded error, or the stuck manifest
    recovery: str  # RETRY, RESET_STUCK or DISMISS (a file with no valid topic cannot be retried)

    def as_dict(self) -> dict:
        return {"file": self.file.file_key, "topic": self.file.topic, "manifest_id": self.file.manifest_id,
                "status": self.file.status, "attempts": self.file.attempts, "error": self.why,
                "recovery": self.recovery}


def _stuck(manifest: Manifest, now: datetime, stuck_after: float) -> bool:
    return (now - manifest.updated_at).total_seconds() >= stuck_after


def unlanded_files(state: StateStore, topic: str | None = None, now: datetime | None = None,
                   stuck_after: float = LandingOptions.processing_timeout_seconds) -> list[Unlanded]:
    """The topic's (or every) landed file that failed, or waits in a failed or stuck manifest."""
    now = now or datetime.now(timezone.utc)
    found: dict[str, Unlanded] = {}
    for f in state.list_files(topic=topic, status=FileStatus.FAILED):
        found[f.file_key] = Unlanded(f, f.error or "failed", RETRY if f.manifest_id else DISMISS)
    failed = state.list_manifests(topic=topic, status=ManifestStatus.FAILED)
    stuck = [m for m in state.list_manifests(topic=topic, status=ManifestStatus.PROCESSING)
             if _stuck(m, now, stuck_after)]
    for manifest in failed + stuck:
        why = (manifest.error or "its manifest failed" if manifest.status == ManifestStatus.FAILED else
               f"manifest {manifest.manifest_id} processing since {manifest.updated_at.isoformat()}")
        recovery = RETRY if manifest.status == ManifestStatus.FAILED else RESET_STUCK
        for key in manifest.files:
            f = state.get_file(key)
            if key not in found and f is not None and f.status not in SETTLED:
                found[key] = Unlanded(f, why, recovery)
    return sorted(found.values(), key=lambda u: (u.file.topic, u.file.first_seen, u.file.file_key))


def gap_reason(topic: str, gap: list[Unlanded]) -> str:
    """What the gap is and which command closes it: one sentence per kind of recovery."""
    def named(items: list[Unlanded]) -> str:
        shown = ", ".join(f"{u.file.file_key} ({u.why})" for u in items[:EXAMPLES])
        return shown + (f" and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else "")

    def files(n: int) -> str:
        return f"{n} landed file{'s' if n != 1 else ''}"
    by = {kind: [u for u in gap if u.recovery == kind] for kind in (RETRY, RESET_STUCK, DISMISS)}
    scope = f" --topic {topic}" if topic else ""
    sentences = []
    if by[RETRY]:
        sentences.append(f"{files(len(by[RETRY]))} failed to ingest: {named(by[RETRY])}; fix the cause, then "
                         f"`leanops files retry{scope}` and `leanops watch` again (or give a file up with "
                         f"`leanops files dismiss FILE --reason TEXT`)")
    if by[RESET_STUCK]:
        sentences.append(f"{files(len(by[RESET_STUCK]))} stuck in a manifest still processing: "
                         f"{named(by[RESET_STUCK])}; `leanops files reset-stuck{scope}`")
    if by[DISMISS]:
        sentences.append(f"{files(len(by[DISMISS]))} with no valid topic: {named(by[DISMISS])}; move each under "
                         "<dir>/<topic>/ to land it, then `leanops files dismiss FILE --reason TEXT`")
    return ". ".join(sentences)


@dataclasses.dataclass
class WatchFailures:
    """What failed in the passes of one `leanops watch` run. `still_failed` reads what those manifests and
    files are at its end: a manifest that a later pass retried and completed is no longer a failure, one
    that ended failed makes the run exit 1 (seen nowhere else, it would look like a quiet run)."""

    manifest_ids: set[str] = dataclasses.field(default_factory=set)
    file_keys: set[str] = dataclasses.field(default_factory=set)

    def add(self, report: PassReport) -> None:
        self.file_keys.update(rejected["file"] for rejected in report.rejected)
        for result in report.results:
            self.file_keys.update(result.failed_files)
            if result.status == ManifestStatus.FAILED:
                self.manifest_ids.add(result.manifest_id)

    def still_failed(self, state: StateStore) -> tuple[list[Manifest], list[TrackedFile]]:
        """(manifests still failed, files still failed: theirs and those that failed on their own)."""
        manifests = [m for m in map(state.get_manifest, sorted(self.manifest_ids))
                     if m is not None and m.status == ManifestStatus.FAILED]
        keys = self.file_keys.union(*(m.files for m in manifests))
        files = [f for f in map(state.get_file, sorted(keys)) if f is not None and f.status == FileStatus.FAILED]
        return manifests, files


def retry_failed(state: StateStore, topic: str | None = None) -> dict:
    """Failed manifests back to pending (their files to manifested), whatever attempts they used; files
    that failed on their own in a completed manifest back to pending, for a new manifest. The next
    `leanops watch` pass ingests them; RAW is asked first, so a manifest committed before it failed is
    completed from that commit, never ingested twice."""
    manifests, released, not_retryable = [], [], []
    for manifest in state.list_manifests(topic=topic, status=ManifestStatus.FAILED):
        # the files first: a watcher taking the manifest the moment it is pending moves them on from there
        # (the other order could turn files it had just completed back into manifested ones)
        still_failed = [k for k in manifest.files
                        if (f := state.get_file(k)) is not None and f.status == FileStatus.FAILED]
        state.update_files(still_failed, status=FileStatus.MANIFESTED, error=None)
        if state.update_manifest(manifest.manifest_id, ManifestStatus.FAILED, status=ManifestStatus.PENDING,
                                 error=None):
            manifests.append(manifest.manifest_id)
    for f in state.list_files(topic=topic, status=FileStatus.FAILED):
        if f.manifest_id is None:  # rejected when tracked (no valid topic): no ingest can take it
            not_retryable.append(f.file_key)
            continue
        owner = state.get_manifest(f.manifest_id)
        if owner is None or owner.status == ManifestStatus.COMPLETED:  # left out of its manifest's commit
            released.append(f.file_key)
    state.update_files(released, status=FileStatus.PENDING, manifest_id=None, error=None)
    return {"manifests_retried": manifests, "files_released": released, "not_retryable": not_retryable}


def dismiss(state: StateStore, keys: list[str], reason: str) -> dict:
    """Give failed files up for good: `dismissed`, with the reason (and the failure it replaces), and taken
    out of their failed manifest so no retry ingests them (a manifest left empty is `dismissed` too).

    A copy of the same bytes landing later is tracked as the dismissed file's duplicate: it is not
    ingested either (the content was given up on, not only the name)."""
    if not reason.strip():
        raise LeanOpsError("dismissing a file needs a reason (--reason)")
    dismissed, refused = [], []
    for key in keys:
        f = state.get_file(key)
        owner = state.get_manifest(f.manifest_id) if f is not None and f.manifest_id else None
        in_failed = owner is not None and owner.status == ManifestStatus.FAILED and key in owner.files
        if f is None or f.status in SETTLED or not (f.status == FileStatus.FAILED or in_failed):
            refused.append({"file": key, "error": "not tracked" if f is None else
                            f"it is {f.status}: only a failed file can be dismissed"})
            continue
        if in_failed:
            left = [k for k in owner.files if k != key]
            fields = {"files": left, "bytes": max(owner.bytes - f.size, 0)}
            if not left:
                fields["status"] = ManifestStatus.DISMISSED
            if not state.update_manifest(owner.manifest_id, ManifestStatus.FAILED, **fields):
                refused.append({"file": key, "error": f"manifest {owner.manifest_id} changed meanwhile "
                                                      "(retried by another process?): look, then run again"})
                continue
        state.update_files([key], status=FileStatus.DISMISSED,
                           error=f"dismissed: {reason.strip()} (it had failed: {f.error or (owner.error if owner else None)})")
        dismissed.append(key)
    return {"dismissed": dismissed, "refused": refused}


__all__ = ["Unlanded", "unlanded_files", "gap_reason", "WatchFailures", "retry_failed", "dismiss", "RETRY",
           "RESET_STUCK", "DISMISS"]
