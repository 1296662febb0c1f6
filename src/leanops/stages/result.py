"""What a stage run hands back to its caller: counts that must add up, and the snapshot ids."""
from __future__ import annotations

import dataclasses

from leanops.errors import AccountabilityError
from leanops.types import RunStatus


@dataclasses.dataclass
class StageResult:
    topic: str
    stage: str
    status: RunStatus
    records_in: int = 0
    records_written: int = 0
    records_errors: int = 0
    records_duplicates: int = 0
    records_superseded: int = 0
    source_snapshot_id: int | None = None  # the upstream position consumed (the new checkpoint)
    target_snapshot_id: int | None = None  # the snapshot this run committed
    columns_added: tuple[str, ...] = ()
    message: str = ""

    def check_accountability(self) -> None:
        """in = written + errors + duplicates + superseded, or the run fails loudly before committing."""
        out = self.records_written + self.records_errors + self.records_duplicates + self.records_superseded
        if out != self.records_in:
            raise AccountabilityError(
                self.topic, self.stage,
                f"in={self.records_in} but written={self.records_written} + errors={self.records_errors} + "
                f"duplicates={self.records_duplicates} + superseded={self.records_superseded} = {out}")

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["columns_added"] = list(self.columns_added)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "StageResult":
        """Back from `as_dict()` (e.g. a Glue job's output); unknown keys are ignored."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["status"] = RunStatus(values["status"])
        values["columns_added"] = tuple(values.get("columns_added") or ())
        for name in ("source_snapshot_id", "target_snapshot_id"):
            if values.get(name) is not None:
                values[name] = int(values[name])
        return cls(**values)
