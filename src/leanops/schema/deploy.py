"""The deployer: apply what the linter classifies, per topic, against the last deployed version.

    leanops deploy [SCHEMA_DIR]

| kind | action |
|---|---|
| NEW_TABLE | register the topic ENABLED; create `standardized.<t>` (and `curated.<t>` with its declared columns) |
| SCHEMA_EVOLVE | evolve the curated table in place: add declared columns, widen types (Iceberg promotions) |
| PURE_REMAP | re-derive Standardized and Curated from RAW (the rebuilder); RAW is never touched |
| NUCLEAR_RESET | archive the tables under dated names, PAUSE, rebuild from RAW, ENABLE |

The last deployed version of each schema (with its sha256, who, when and the actions) is kept in the
state store; deploying the same files again is a no-op. An undeclared breaking change is refused.
"""
from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
from pathlib import Path

from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.schema.changes import ChangeKind
from leanops.schema.lint import classify
from leanops.schema.rules.column_types import promotion
from leanops.schema.rebuild import rebuild
from leanops.schema_file import SCHEMA_SUFFIXES, TopicSchema, parse_topic_schema
from leanops.stages import casting
from leanops.stages.casting import type_name
from leanops.stages.curated import META, create_table
from leanops.types import FlowControl


@dataclasses.dataclass
class TopicDeployment:
    topic: str
    kind: str | None
    actions: list[str]
    ok: bool = True
    problem: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def fingerprint(schema: TopicSchema) -> tuple[str, str]:
    """Canonical JSON of a schema and its sha256: formatting and key order do not count as changes."""
    text = json.dumps(schema.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()


def deploy(ctx: Context, schema_dir: Path | None = None, deployed_by: str | None = None) -> list[TopicDeployment]:
    schema_dir = Path(schema_dir or ctx.settings.schemas_dir)
    if not schema_dir.is_dir():
        raise LeanOpsError(f"no schema directory {schema_dir}")
    who = deployed_by or getpass.getuser()
    files = sorted(p for p in schema_dir.iterdir() if p.suffix in SCHEMA_SUFFIXES and p.is_file())
    schemas = [parse_topic_schema(p) for p in files]  # any invalid file stops the deploy (exit 2)
    return [_deploy_topic(ctx, schema, who) for schema in schemas]


def _deploy_topic(ctx: Context, new: TopicSchema, who: str) -> TopicDeployment:
    topic = new.topic
    text, sha = fingerprint(new)
    last = ctx.state.last_deployment(topic)
    if last is not None and last["schema_sha256"] == sha:
        return TopicDeployment(topic, None, ["unchanged: nothing to do"])
    old = TopicSchema.model_validate_json(last["schema_json"]) if last else None
    verdict = classify(old, new, base="the last deployment")
    if not verdict.ok:
        return TopicDeployment(topic, verdict.kind.value if verdict.kind else None, [], ok=False,
                               problem=verdict.problem)
    kind = verdict.kind or ChangeKind.SCHEMA_EVOLVE
    if verdict.declared is not None and verdict.declared.severity > kind.severity:
        kind = verdict.declared  # e.g. a declared NUCLEAR_RESET to backfill a new column from RAW
    actions = _apply(ctx, old, new, kind)
    ctx.state.record_deployment(topic, kind.value, sha, text, who, json.dumps(actions))
    return TopicDeployment(topic, kind.value, actions)


def _apply(ctx: Context, old: TopicSchema | None, new: TopicSchema, kind: ChangeKind) -> list[str]:
    topic, actions = new.topic, []
    if ctx.state.get_topic(topic) is None:
        ctx.state.register_topic(topic, FlowControl.ENABLED)
        actions.append("registered ENABLED")
    if kind in (ChangeKind.PURE_REMAP, ChangeKind.NUCLEAR_RESET) and _has_history(ctx, topic):
        report = rebuild(ctx, topic, schema=new)
        if report.status != "SUCCEEDED":
            raise LeanOpsError(f"{topic}: rebuild failed: {report.error} (the topic stays PAUSED; "
                               f"`leanops rebuild {topic}` resumes it)")
        return actions + [f"archived old tables as *_{report.archive_suffix}", "paused",
                          f"rebuilt from RAW up to snapshot {report.target_raw_snapshot} "
                          f"({report.standardized_rows} standardized, {report.curated_rows} curated rows)",
                          "enabled"]
    if new.standardized is not None and ctx.lake.standardized_table(topic) is None:
        ctx.lake.standardized_table(topic, create=True)
        actions.append(f"created {ctx.lake.standardized_ident(topic)}")
    if new.curated is not None:
        actions += _curated_table(ctx, new)
    return actions


def _has_history(ctx: Context, topic: str) -> bool:
    return ctx.lake.standardized_table(topic) is not None or ctx.lake.curated_table(topic) is not None


def _curated_table(ctx: Context, new: TopicSchema) -> list[str]:
    """Create the curated table, or evolve it in place: add declared columns, widen types."""
    topic, section = new.topic, new.curated
    declared = {n: c for n, c in section.columns.items() if n not in META}
    table = ctx.lake.curated_table(topic)
    if table is None:
        create_table(ctx.lake, topic, section, declared, [])
        return [f"created {ctx.lake.curated_ident(topic)}"]
    current = {f.name: f for f in table.schema().fields}
    actions = []
    with table.update_schema() as update:
        for name, column in declared.items():
            wanted = casting.iceberg_type(column.type)
            if name not in current:
                update.add_column(name, wanted)
                actions.append(f"added column {name} {column.type}")
            elif current[name].field_type != wanted:
                now = type_name(current[name].field_type)
                if promotion(now, column.type) != "widen":
                    raise LeanOpsError(
                        f"{topic}: curated column {name} is {now} in the table (carried before it was declared) "
                        f"and cannot become {column.type} in place; declare \"change\": {{\"kind\": "
                        f"\"NUCLEAR_RESET\"}} to rebuild the topic")
                update.update_column(name, field_type=wanted)
                actions.append(f"widened {name} to {column.type}")
    return actions or ["curated table already matches"]
