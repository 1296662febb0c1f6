"""Landed NDJSON files: which files count, when a file is complete, its topic, and reading it.

A landing directory (or bucket prefix) receives files of envelopes, one per line, plain or gzip:
`*.ndjson`, `*.jsonl`, `*.json`, each optionally `.gz`. The completeness rule:

- a file whose name is hidden (`.x`), private (`_x`) or ends in `.tmp`, `.part`, `.partial`,
  `.crdownload` or `.inprogress` is being written: never picked up (write under such a name, then
  rename: a rename is atomic);
- any other file is picked up once it has not changed for `settle_seconds` (its modification time is
  at least that old), so a writer that appends in place is waited for too.

Files are immutable once landed: a file is tracked by its key (absolute path or s3:// URI) and its
bytes' checksum; the same bytes landing again under another name are a duplicate, ingested once.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Iterator

from leanops.errors import LeanOpsError
from leanops.types import validate_topic

DATA_SUFFIXES = (".ndjson", ".jsonl", ".json")
WRITING_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".inprogress")
HASH_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class LandedFile:
    """A complete file found in a landing directory."""

    key: str  # absolute path
    relative: str  # path below the landing directory (the topic's source with --topic-from-path)
    size: int
    mtime: float


def is_data_name(name: str) -> bool:
    """A name the landing takes: an NDJSON suffix (optionally .gz), not hidden, private or in writing."""
    lowered = name.lower()
    if lowered.startswith((".", "_")) or lowered.endswith(WRITING_SUFFIXES):
        return False
    base = lowered[:-3] if lowered.endswith(".gz") else lowered
    return base.endswith(DATA_SUFFIXES)


def discover(directory: Path, now: float, settle_seconds: float) -> tuple[list[LandedFile], list[str]]:
    """(complete files, keys of files still being written), sorted by path for a stable order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LeanOpsError(f"no landing directory {directory}")
    complete, writing = [], []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(names):
            path = Path(root) / name
            try:
                stat = path.stat()
            except FileNotFoundError:  # gone between listing and stat
                continue
            if not path.is_file():
                continue
            if not is_data_name(name):
                if name.lower().endswith(WRITING_SUFFIXES):
                    writing.append(str(path.absolute()))
                continue
            if now - stat.st_mtime < settle_seconds:
                writing.append(str(path.absolute()))
                continue
            complete.append(LandedFile(str(path.absolute()), path.relative_to(directory).as_posix(),
                                       stat.st_size, stat.st_mtime))
    return complete, writing


def topic_of(relative: str, topic: str | None) -> str:
    """The given topic, or the first directory below the landing directory (`events/2026/a.ndjson`)."""
    if topic is not None:
        return validate_topic(topic)
    parts = relative.split("/")
    if len(parts) < 2:
        raise LeanOpsError(f"{relative}: with --topic-from-path a file must sit in a directory named after "
                           "its topic (<dir>/<topic>/.../file.ndjson)")
    return validate_topic(parts[0])


def sha256_of(path: str) -> str:
    """Checksum of the file's bytes as stored (a gzip is hashed compressed: same file, same checksum)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_landed(key: str, s3_client=None) -> BinaryIO:
    """The file's lines as bytes: a local path or s3://bucket/key, gunzipped when it ends in .gz."""
    gzipped = key.lower().endswith(".gz")
    if not key.startswith("s3://"):
        return gzip.open(key, "rb") if gzipped else open(key, "rb")  # type: ignore[return-value]
    if s3_client is None:
        raise LeanOpsError(f"{key}: reading S3 needs a client (the AWS runtime passes one)")
    bucket, _, name = key[len("s3://"):].partition("/")
    body = s3_client.get_object(Bucket=bucket, Key=name)["Body"]
    return gzip.GzipFile(fileobj=body, mode="rb") if gzipped else body  # type: ignore[return-value]


def walk_keys(directory: Path) -> Iterator[str]:
    """Every data file's key below `directory`, complete or not (for the orphan report)."""
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in names:
            if is_data_name(name):
                yield str((Path(root) / name).absolute())
