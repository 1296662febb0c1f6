"""Schema files on S3: a private local copy the schema-file loaders read, and the deployer's upload.

    mirror = S3SchemaMirror.create("s3://bucket/schemas/", home / "tmp", client)   # Context.open
    load_topic_schema(mirror.directory, "events")                                # the plain loaders
    publish_schema_file(client, "s3://bucket/schemas/", Path("schemas/events.json"))  # leanops deploy --publish

`LEANOPS_SCHEMAS=s3://bucket/prefix/` puts the Lambdas and Glue jobs on this path (docs/schema-lifecycle.md,
"Schemas on S3"). botocore is imported only by the functions that call S3.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from leanops.config import split_s3_uri
from leanops.errors import ConfigError, LeanOpsError, TransientError
from leanops.schema_file import SCHEMA_SUFFIXES

_CONFIG_CODES = {"NoSuchBucket", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                 "InvalidBucketName", "PermanentRedirect", "AuthorizationHeaderMalformed", "403", "404"}
_CONTENT_TYPES = {".json": "application/json", ".yaml": "application/yaml", ".yml": "application/yaml"}


def aws_error(exc: Exception, doing: str) -> LeanOpsError:
    """A boto3 failure as a lean-ops error: wrong bucket, credentials or permissions are configuration
    (exit 2, retrying will not help); anything else (throttling, 5xx, network) is transient."""
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) if hasattr(exc, "response") else ""
    if code in _CONFIG_CODES or type(exc).__name__ in ("NoCredentialsError", "NoRegionError", "PartialCredentialsError"):
        return ConfigError(f"{doing}: {exc}")
    return TransientError(f"{doing}: {exc}")


def _is_schema_name(name: str) -> bool:
    """A file name directly under the prefix that the pipeline would read locally (and can be one locally)."""
    return (bool(name) and "/" not in name and "\\" not in name and "\0" not in name and name not in (".", "..")
            and len(name.encode()) <= 255 and Path(name).suffix in SCHEMA_SUFFIXES)


def _list_schema_objects(client: Any, bucket: str, prefix: str, topic: str | None = None) -> dict[str, str]:
    """{file name: ETag} of the schema files directly under `prefix` (only `topic`'s when given)."""
    from botocore.exceptions import BotoCoreError, ClientError
    found: dict[str, str] = {}
    names = {f"{topic}{suffix}" for suffix in SCHEMA_SUFFIXES} if topic else None
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + (f"{topic}." if topic else ""), Delimiter="/")
        for page in pages:
            for item in page.get("Contents", ()):
                name = item["Key"][len(prefix):]
                if _is_schema_name(name) and (names is None or name in names):
                    found[name] = item.get("ETag", "")
    except (BotoCoreError, ClientError) as exc:
        raise aws_error(exc, f"cannot list the schema files under s3://{bucket}/{prefix}") from exc
    return found


def _get_object(client: Any, bucket: str, key: str) -> tuple[bytes, str] | None:
    """(body, ETag), or None when the object is gone (deleted since it was listed)."""
    from botocore.exceptions import BotoCoreError, ClientError
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        return response["Body"].read(), response.get("ETag", "")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise aws_error(exc, f"cannot read s3://{bucket}/{key}") from exc
    except BotoCoreError as exc:
        raise aws_error(exc, f"cannot read s3://{bucket}/{key}") from exc


class S3SchemaMirror:
    """A private local copy of the schema files directly under an S3 prefix.

    The copy is a plain directory, so every loader (`schema_path`, `load_topic_schema`, the deployer's
    listing) works on it unchanged. `sync()` makes it match the prefix: new and changed files (by ETag) are
    fetched, files gone from S3 are removed; `sync(topic)` does the same for one topic's files only (one
    LIST request, a GET only when the file changed). Files are replaced whole (temp file + rename), so a
    reader never sees half a file. `close()` removes the directory.
    """

    def __init__(self, uri: str, directory: Path, client: Any) -> None:
        self.uri = uri
        self.bucket, self.prefix = split_s3_uri(uri)
        self.directory = directory
        self._client = client
        self._etags: dict[str, str] = {}
        self._lock = threading.Lock()
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(directory), True)

    @classmethod
    def create(cls, uri: str, parent: Path, client: Any) -> S3SchemaMirror:
        """A new private directory under `parent`, filled from `uri`."""
        mirror = cls(uri, Path(tempfile.mkdtemp(prefix="schemas-", dir=parent)), client)
        try:
            mirror.sync()
        except BaseException:
            mirror.close()
            raise
        return mirror

    def sync(self, topic: str | None = None) -> None:
        with self._lock:  # listing included: a stale listing must never undo a newer one
            listed = _list_schema_objects(self._client, self.bucket, self.prefix, topic)
            mine = {name for name in self._etags if topic is None or Path(name).stem == topic}
            for name in mine - listed.keys():
                self._drop(name)
            changed = [name for name, etag in listed.items() if self._etags.get(name) != etag]
            if len(changed) > 1:
                with ThreadPoolExecutor(max_workers=min(8, len(changed))) as pool:
                    bodies = list(pool.map(lambda n: _get_object(self._client, self.bucket, self.prefix + n), changed))
            else:
                bodies = [_get_object(self._client, self.bucket, self.prefix + n) for n in changed]
            for name, got in zip(changed, bodies):
                if got is None:
                    self._drop(name)
                else:
                    self._write(name, *got)

    def _write(self, name: str, body: bytes, etag: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".part-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(tmp, self.directory / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._etags[name] = etag

    def _drop(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)
        self._etags.pop(name, None)

    def close(self) -> None:
        self._cleanup()


def publish_schema_file(client: Any, uri: str, path: Path) -> str:
    """Upload the schema file `path` as `<uri><file name>` and return that object's URI.

    The topic's other spellings there (an `events.yaml` next to a new `events.json`) are deleted after the
    upload, so the published file is the one the pipeline loads, and at no moment is there none.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    bucket, prefix = split_s3_uri(uri)
    key = prefix + path.name
    try:
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(),
                          ContentType=_CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        for name in _list_schema_objects(client, bucket, prefix, path.stem):
            if name != path.name:
                client.delete_object(Bucket=bucket, Key=prefix + name)
    except (BotoCoreError, ClientError) as exc:
        raise aws_error(exc, f"cannot publish {path.name} to {uri}") from exc
    return f"s3://{bucket}/{key}"


def read_published(client: Any, uri: str, topic: str) -> tuple[Path, bytes] | None:
    """The topic's published schema file under `uri` (the one the pipeline would load) and its bytes."""
    bucket, prefix = split_s3_uri(uri)
    listed = _list_schema_objects(client, bucket, prefix, topic)
    for suffix in SCHEMA_SUFFIXES:
        name = f"{topic}{suffix}"
        if name in listed:
            got = _get_object(client, bucket, prefix + name)
            if got is not None:
                return Path(name), got[0]
    return None
