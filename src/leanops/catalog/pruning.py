"""Which stored files can hold a batch's merge keys: the MERGE reads those, not the whole table.

    found = files_for_keys(table, "idempotency_key", keys)
    found.data, found.deletes                      # LiveFiles to read, delete files that may apply

A file is skipped when its partition cannot hold any of the keys (a `bucket(N, key)` or identity
partition on the key: the batch's buckets are computed once, vectorised) or when no key falls within
its key column's lower/upper bounds from the manifest. Both come from the manifests alone, so the cost
follows the batch and the live files, not the table's history; reading the key column of what is
left is DuckDB's.
"""
from __future__ import annotations

import bisect
import dataclasses

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.transforms import BucketTransform, IdentityTransform
from pyiceberg.types import StringType

from leanops.catalog.inventory import LiveFile, inventory


@dataclasses.dataclass(frozen=True)
class KeyFiles:
    data: tuple[LiveFile, ...]
    deletes: tuple[LiveFile, ...]
    live_data_files: int  # before pruning, for the report


def files_for_keys(table: Table, key: str, keys: pa.Array | pa.ChunkedArray) -> KeyFiles:
    """The live data files that may hold a row whose `key` is one of `keys`, and the delete files of
    their partitions."""
    inv = inventory(table)
    field = table.schema().find_field(key)
    if not isinstance(field.field_type, StringType):  # bounds and buckets below are those of strings
        return KeyFiles(inv.data, inv.deletes, len(inv.data))
    keys = pa.chunked_array([keys]) if isinstance(keys, pa.Array) else keys
    keys = keys.combine_chunks().cast(pa.string()).drop_null().unique()
    if len(keys) == 0:
        return KeyFiles((), (), len(inv.data))
    partitions = _partition_filter(table, field.field_id, keys)
    bounds = sorted(k.encode("utf-8") for k in keys.to_pylist())
    kept = tuple(f for f in inv.data if (partitions is None or partitions(f)) and _in_bounds(f, field.field_id, bounds))
    wanted = {f.partition_key for f in kept}
    deletes = tuple(d for d in inv.deletes if d.partition_key in wanted)
    return KeyFiles(kept, deletes, len(inv.data))


def _partition_filter(table: Table, source_id: int, keys: pa.Array):
    """A test on a file's partition for the keys' partitions (None: the spec does not partition by key)."""
    tests = []
    for spec in table.metadata.specs().values():
        for position, field in enumerate(spec.fields):
            if field.source_id != source_id:
                continue
            if isinstance(field.transform, BucketTransform):
                values = set(_buckets(keys, field.transform.num_buckets))
            elif isinstance(field.transform, IdentityTransform):
                values = set(keys.to_pylist())
            else:
                continue
            tests.append((spec.spec_id, position, values))
    if not tests:
        return None

    def may_hold(f: LiveFile) -> bool:
        for spec_id, position, values in tests:
            if f.data_file.spec_id == spec_id and f.data_file.partition[position] not in values:
                return False
        return True
    return may_hold


def _buckets(keys: pa.Array, n: int) -> list[int]:
    try:
        from pyiceberg_core import transform
        return transform.bucket(keys, n).to_pylist()
    except ImportError:  # pragma: no cover - pyiceberg-core is a dependency; stay correct without it
        bucket = BucketTransform(n).transform(StringType())
        return [bucket(k) for k in keys.to_pylist()]


def _in_bounds(f: LiveFile, field_id: int, sorted_keys: list[bytes]) -> bool:
    """Some key within the file's [lower, upper] key bounds (no bounds: it may hold any)."""
    lower = (f.data_file.lower_bounds or {}).get(field_id)
    upper = (f.data_file.upper_bounds or {}).get(field_id)
    i = bisect.bisect_left(sorted_keys, lower) if lower is not None else 0
    return i < len(sorted_keys) and (upper is None or sorted_keys[i] <= upper)


__all__ = ["KeyFiles", "files_for_keys"]
