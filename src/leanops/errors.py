"""Every error lean-ops raises on purpose. One root, transient vs terminal.

Bad *records* are data, not exceptions: they go to an error table with a reason.
These classes are for conditions that stop a command or a stage.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence


class LeanOpsError(Exception):
    """Root of every lean-ops error. The CLI prints it as one line, exit 2."""

    exit_code = 2


class TransientError(LeanOpsError):
    """Retrying may succeed (I/O, commit conflicts)."""


class TerminalError(LeanOpsError):
    """Retrying the same input gives the same failure."""


class ConfigError(TerminalError):
    """A setting or the deployment's layout is wrong."""


class SchemaProblem(NamedTuple):
    """One thing wrong in a schema file: where (a JSON path such as `curated.columns.amount.default`, or
    `<file>` for the file as a whole) and what, in words that read on their own."""

    field: str
    problem: str


class SchemaFileError(TerminalError):
    """A topic schema file is invalid: every problem found, each with the path and the field at fault.

    One line per problem, `<path>: field '<field>': <problem>`; `field` and `problem` are the first one's.
    """

    def __init__(self, path: str, field: str, problem: str, *more: SchemaProblem) -> None:
        self.path = path
        self.problems = (SchemaProblem(field, problem), *more)
        self.field, self.problem = field, problem
        super().__init__("\n".join(f"{path}: field '{p.field}': {p.problem}" for p in self.problems))

    @classmethod
    def of(cls, path: str, problems: Sequence[SchemaProblem]) -> "SchemaFileError":
        """The error of a file with these problems (one at least)."""
        first, *more = problems
        return cls(path, first.field, first.problem, *more)


class InvalidTopicNameError(TerminalError):
    """A topic name that cannot be a table name."""

    def __init__(self, topic: str, why: str | None = None) -> None:
        self.topic = topic
        super().__init__(
            f"invalid topic name {topic!r}: " + (why or "use 1-100 characters of a-z, 0-9 and '_', "
                                                        "starting with a letter")
        )


class UnknownTopicError(TerminalError):
    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(f"unknown topic {topic!r}: ingest data for it first (`leanops ingest --topic {topic}`)")


class CheckpointLostError(TerminalError):
    """The checkpointed RAW snapshot is no longer in the table's history."""

    def __init__(self, topic: str, snapshot_id: int) -> None:
        self.topic, self.snapshot_id = topic, snapshot_id
        super().__init__(
            f"{topic}: checkpoint RAW snapshot {snapshot_id} is not an ancestor of the current RAW "
            f"snapshot (expired or rewritten); rebuild the topic with `leanops rebuild {topic}`"
        )


class CommitConflictError(TransientError):
    """Another writer committed to the same table first."""

    def __init__(self, table: str, detail: str) -> None:
        self.table = table
        super().__init__(f"{table}: commit conflict ({detail}); retry")


class AccountabilityError(TerminalError):
    """A run's numbers do not add up: in != written + errors + duplicates (+ superseded)."""

    def __init__(self, topic: str, layer: str, detail: str) -> None:
        self.topic, self.layer = topic, layer
        super().__init__(f"{topic}/{layer}: accountability broken: {detail}")
