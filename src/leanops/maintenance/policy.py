"""The maintenance policy: how big files should be, how much history to keep, when to act.

    policy = MaintenancePolicy()                                   # the defaults
    policy = settings.maintenance.merged(schema.maintenance)       # fields a schema file sets win

Defaults fit the documented 15-minute schedule: a day of snapshots (at least 10) is kept for time
travel and for the runs' incremental reads, files are compacted towards 128 MiB once a partition
holds more than 4 small ones, and old files are swept after a day. `enabled: false` switches the
automatic runs off (`leanops maintain` still works by hand).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MaintenancePolicy(BaseModel):
    """Table maintenance settings; each field can be set per topic in the schema file's `maintenance`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="run maintenance automatically after the stages")
    target_file_mb: float = Field(default=128.0, gt=0, description="compaction bin-packs files towards this size")
    small_file_ratio: float = Field(default=0.75, gt=0, le=1,
                                    description="a data file below this share of the target is small")
    max_files_per_partition: int = Field(default=4, ge=2,
                                         description="due once this many new files per partition arrived since "
                                                     "the last maintenance; also the merge width of the size tiers")
    max_delete_files_per_partition: float = Field(default=2.0, ge=0,
                                                  description="compact (applying deletes) once a table holds more "
                                                              "delete files than this times its partitions")
    keep_snapshots_hours: float = Field(default=24.0, ge=0, description="snapshot retention window")
    keep_min_snapshots: int = Field(default=10, ge=1, description="snapshots kept whatever their age")
    max_snapshots: int = Field(default=50, ge=2,
                               description="a hard cap: beyond it the oldest are expired down to half of it, "
                                           "whatever their age")
    max_manifests: int = Field(default=16, ge=1, description="merge manifests once a snapshot has more")
    metadata_versions: int = Field(default=10, ge=1,
                                   description="previous metadata.json files kept (Iceberg's "
                                               "write.metadata.previous-versions-max)")
    orphan_age_hours: float = Field(default=24.0, ge=0,
                                    description="unreferenced files older than this are removed")
    every_hours: float = Field(default=24.0, gt=0,
                               description="run at least this often even when no threshold is crossed")
    run_log_days: float = Field(default=30.0, gt=0, description="run-log and ingest-log retention")

    @property
    def target_bytes(self) -> int:
        return int(self.target_file_mb * 1024 * 1024)

    @property
    def small_bytes(self) -> int:
        return int(self.target_bytes * self.small_file_ratio)

    def merged(self, override: "MaintenancePolicy | None") -> "MaintenancePolicy":
        """This policy with the fields a schema file's `maintenance` section sets (and only those)."""
        if override is None:
            return self
        return self.model_copy(update={name: getattr(override, name) for name in override.model_fields_set})


__all__ = ["MaintenancePolicy"]
