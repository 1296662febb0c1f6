"""The deployer: apply what the linter classifies, per topic, against the last deployed version.

    leanops deploy [SCHEMA_DIR] [--publish s3://bucket/prefix/] [--rebuilder-arn ARN]

| kind | action |
|---|---|
| NEW_TABLE | register the topic ENABLED; create `standardized.<t>` (and `curated.<t>` with its declared columns) |
| SCHEMA_EVOLVE | evolve the curated table in place: add declared columns, widen types (Iceberg promotions) |
| PURE_REMAP | re-derive Standardized and Curated from RAW (the rebuilder); RAW is never touched |
| NUCLEAR_RESET | archive the tables under dated names, PAUSE, rebuild from RAW, ENABLE |

The last deployed version of each schema (with its sha256, who, when and the actions) is kept in the
state store; deploying the same files again is a no-op. An undeclared breaking change is refused.

On AWS (docs/schema-lifecycle.md, "Schemas on S3 and deploying against AWS"):
- `publish`: after a topic's change is accepted and applied, its file is uploaded to the S3 prefix the
  Lambdas and Glue jobs read (`LEANOPS_SCHEMAS=s3://...` there). For a rebuild (PURE_REMAP, NUCLEAR_RESET
  with history) the topic is PAUSED first, and the file is uploaded while no orchestrator holds the
  topic's lease, so no run sees the new schema against the old tables. An unchanged topic whose published
  copy is missing or different is published again.
- `rebuilder_arn`: the rebuild is not run in-process: the topic is PAUSED and one execution of the
  historical-rebuilder state machine is started with {"topic": "<t>"}; it rebuilds and ENABLES the topic
  (on failure the topic stays PAUSED).
"""
from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pyiceberg.table import Table

from leanops.config import s3_prefix_uri
from leanops.context import Context
from leanops.errors import ConfigError, LeanOpsError, SchemaFileError
from leanops.faults import fault_point
from leanops.orchestrate.cycle import acquire, holder_id
from leanops.schema.changes import BaseInvalid, ChangeKind
from leanops.schema.lint import classify
from leanops.schema.problems import problems
from leanops.schema.rebuild import SUCCEEDED, rebuild
from leanops.schema.rules.column_types import promotion
from leanops.aws.schema_mirror import S3SchemaMirror, aws_error, publish_schema_file, read_published
from leanops.schema_file import TopicSchema, fingerprint, parse_topic_schema, read_schema_dir
from leanops.stages import casting
from leanops.stages.casting import type_name
from leanops.stages import semantic
from leanops.stages.curated import META, create_table, table_properties
from leanops.types import FlowControl

STATE_MACHINE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")
PUBLISH_LEASE_SECONDS = 300.0  # held only while the schema file is uploaded


@dataclasses.dataclass
class TopicDeployment:
    topic: str
    kind: str | None
    actions: list[str]
    ok: bool = True
    problem: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class AwsTargets:
    """Where an accepted schema goes on AWS: the S3 prefix to publish to, the rebuilder state machine.

    Validated when made, before anything changes; the boto3 clients are made on first use.
    """

    def __init__(self, ctx: Context, publish: str | None = None, rebuilder_arn: str | None = None) -> None:
        self.settings = ctx.settings
        self.publish = s3_prefix_uri(publish) if publish else None
        if publish and self.publish is None:
            raise ConfigError(f"--publish {publish!r}: give the S3 prefix the pipeline reads, s3://bucket/prefix/")
        self.rebuilder_arn = (rebuilder_arn or "").strip() or None
        self.region: str | None = None
        if self.rebuilder_arn:
            match = STATE_MACHINE_ARN_RE.match(self.rebuilder_arn)
            if not match:
                raise ConfigError(f"--rebuilder-arn {self.rebuilder_arn!r}: expected a state machine ARN, "
                                  "arn:aws:states:<region>:<account>:stateMachine:<name>")
            self.region = match.group(1)
            if not self.publish and not ctx.settings.schemas_uri:
                raise ConfigError("--rebuilder-arn: the rebuilder's Glue job reads the schema from S3, so publish it "
                                  "there first: add --publish s3://bucket/prefix/ (or deploy from that prefix)")
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.settings.aws_client(service, self.region if service == "stepfunctions"
                                                              else None)
        return self._clients[service]

    def publish_file(self, path: Path) -> str:
        return publish_schema_file(self.client("s3"), self.publish, path)

    def start_rebuild(self, topic: str, name: str) -> str:
        """Start (once: the name is derived from the deployment) the rebuilder for `topic`; its execution ARN."""
        from botocore.exceptions import BotoCoreError, ClientError
        sfn = self.client("stepfunctions")
        try:
            return sfn.start_execution(stateMachineArn=self.rebuilder_arn, name=name,
                                       input=json.dumps({"topic": topic}))["executionArn"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise aws_error(exc, f"{topic}: cannot start the rebuilder {self.rebuilder_arn}") from exc
        except BotoCoreError as exc:
            raise aws_error(exc, f"{topic}: cannot start the rebuilder {self.rebuilder_arn}") from exc
        # a retried deploy (the last one stopped after starting it): the same execution, if it is not over badly
        arn = self.rebuilder_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
        try:
            status = sfn.describe_execution(executionArn=arn)["status"]
        except (BotoCoreError, ClientError) as exc:
            raise aws_error(exc, f"{topic}: cannot describe the rebuilder execution {arn}") from exc
        if status in ("RUNNING", "SUCCEEDED"):
            return arn
        raise LeanOpsError(f"{topic}: the rebuilder execution {arn} for this deployment ended {status}; the topic "
                           f"stays PAUSED: run `leanops rebuild {topic}`, or start the state machine again with "
                           f'{{"topic": "{topic}"}}')


def execution_name(topic: str, sha: str, last_deployment_id: int | None) -> str:
    """`<topic>-after-<previous deployment id>-<schema sha256, 12 hex>`: valid for Step Functions (1-80 of
    A-Z a-z 0-9 - _), unique per deployment, and the same when a deploy that stopped is run again."""
    tail = f"-after-{last_deployment_id or 0}-{sha[:12]}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", topic)[:80 - len(tail)] + tail


def deploy(ctx: Context, schema_dir: Path | str | None = None, deployed_by: str | None = None,
           publish: str | None = None, rebuilder_arn: str | None = None) -> list[TopicDeployment]:
    """Deploy every schema file of `schema_dir` (a directory or s3://bucket/prefix/; default the
    deployment's schema location). `publish` / `rebuilder_arn`: see the module doc."""
    aws = AwsTargets(ctx, publish, rebuilder_arn)
    who = deployed_by or getpass.getuser()
    with _schema_files(ctx, schema_dir) as (directory, origin):
        schemas = read_schema_dir(directory, origin)  # any invalid file stops it (exit 2)
        return [_deploy_topic(ctx, path, schema, who, aws) for path, schema in schemas]


@contextlib.contextmanager
def _schema_files(ctx: Context, schema_dir: Path | str | None) -> Iterator[tuple[Path, str | None]]:
    """(a local directory holding the files, their S3 origin for messages or None)."""
    uri = s3_prefix_uri(schema_dir) if schema_dir is not None else None
    if schema_dir is None:
        ctx.refresh_schemas()
        yield ctx.settings.schemas_dir, ctx.settings.schemas_uri
    elif uri is not None:
        mirror = S3SchemaMirror.create(uri, ctx.settings.home / "tmp", ctx.settings.aws_client("s3"))
        try:
            yield mirror.directory, uri
        finally:
            mirror.close()
    else:
        yield Path(schema_dir), None


def _deploy_topic(ctx: Context, path: Path, new: TopicSchema, who: str, aws: AwsTargets) -> TopicDeployment:
    topic = new.topic
    text, sha = fingerprint(new)
    last = ctx.state.last_deployment(topic)
    if last is not None and last["schema_sha256"] == sha:
        problem = _published_copy_problem(aws, topic, sha)
        upgraded = _table_properties(ctx, new)  # tables made before a property existed get it here too
        if problem is None:
            return TopicDeployment(topic, None, ["unchanged", *upgraded] if upgraded else ["unchanged: nothing to do"])
        return TopicDeployment(topic, None, ["unchanged", *upgraded,
                                             f"published {aws.publish_file(path)} ({problem})"])
    old, changes = _last_deployed(last)
    verdict = classify(old, new, base="the last deployment", changes=changes)
    if not verdict.ok:
        return TopicDeployment(topic, verdict.kind.value if verdict.kind else None, [], ok=False,
                               problem=verdict.problem)
    kind = verdict.kind or ChangeKind.SCHEMA_EVOLVE
    if verdict.declared is not None and verdict.declared.severity > kind.severity:
        kind = verdict.declared  # e.g. a declared NUCLEAR_RESET to backfill a new column from RAW
    name = execution_name(topic, sha, last["deployment_id"] if last else None)
    actions = _apply(ctx, old, new, kind, path, aws, name, _rebuilt_for(ctx, topic, sha, last))
    fault_point("deploy-after-apply")  # a deploy killed here applies the topic again: each action is idempotent
    ctx.state.record_deployment(topic, kind.value, sha, text, who, json.dumps(actions))
    fault_point("deploy-after-record")
    return TopicDeployment(topic, kind.value, actions)


def _last_deployed(last: dict | None) -> tuple[TopicSchema | None, list | None]:
    """The schema of the last deployment, or (None, [BaseInvalid]) when it no longer validates (a check was
    added since it was deployed): as for an invalid base in the linter, only a declared reset replaces it."""
    if last is None:
        return None, None
    try:
        return TopicSchema.model_validate_json(last["schema_json"]), None
    except ValidationError as exc:
        found = "; ".join(f"field '{p.field}': {p.problem}" for p in problems(exc, TopicSchema))
        return None, [BaseInvalid("<file>", found, None, rule="base")]


def _rebuilt_for(ctx: Context, topic: str, sha: str, last: dict | None) -> dict | None:
    """The rebuild record of a rebuild under exactly this schema that succeeded since the last deployment:
    a deploy killed after its rebuild, before recording the deployment (or an operator's `leanops rebuild`)."""
    record = ctx.state.get_rebuild(topic)
    if record is None or record["status"] != SUCCEEDED or record.get("schema_sha256") != sha:
        return None
    if last is not None and datetime.fromisoformat(record["updated_at"]) <= datetime.fromisoformat(last["deployed_at"]):
        return None
    return record


def _published_copy_problem(aws: AwsTargets, topic: str, sha: str) -> str | None:
    """Why the published copy of an unchanged topic must be uploaded again (None: it is right, or no --publish)."""
    if not aws.publish:
        return None
    published = read_published(aws.client("s3"), aws.publish, topic)
    if published is None:
        return "the published copy was missing"
    name, body = published
    try:
        same = fingerprint(parse_topic_schema(name, body.decode("utf-8")))[1] == sha
    except (SchemaFileError, UnicodeDecodeError):
        same = False
    return None if same else "the published copy was different"


def _apply(ctx: Context, old: TopicSchema | None, new: TopicSchema, kind: ChangeKind, path: Path,
           aws: AwsTargets, execution: str, rebuilt: dict | None = None) -> list[str]:
    topic, actions = new.topic, []
    if ctx.state.get_topic(topic) is None:
        ctx.state.register_topic(topic, FlowControl.ENABLED)
        actions.append("registered ENABLED")
        fault_point("deploy-after-register")
    if kind in (ChangeKind.PURE_REMAP, ChangeKind.NUCLEAR_RESET) and rebuilt is not None:
        actions.append(f"rebuilt from RAW already under this schema (archive *_{rebuilt['archive_suffix']})")
        return actions + ([f"published {aws.publish_file(path)}"] if aws.publish else [])
    if kind in (ChangeKind.PURE_REMAP, ChangeKind.NUCLEAR_RESET) and (_has_history(ctx, topic)
                                                                     or _rebuild_pending(ctx, topic)):
        if aws.publish or aws.rebuilder_arn:
            actions += _pause_and_publish(ctx, topic, path, aws)
        if aws.rebuilder_arn:
            return actions + [f"rebuild started: {aws.start_rebuild(topic, execution)}"]
        report = rebuild(ctx, topic, schema=new)
        if report.status != "SUCCEEDED":
            raise LeanOpsError(f"{topic}: rebuild failed: {report.error} (the topic stays PAUSED; "
                               f"`leanops rebuild {topic}` resumes it)")
        return actions + [f"archived old tables as *_{report.archive_suffix}",
                          *([] if "paused" in actions else ["paused"]),
                          f"rebuilt from RAW up to snapshot {report.target_raw_snapshot} "
                          f"({report.standardized_rows} standardized, {report.curated_rows} curated rows)",
                          "enabled"]
    if new.standardized is not None and ctx.lake.standardized_table(topic) is None:
        ctx.lake.standardized_table(topic, create=True)
        actions.append(f"created {ctx.lake.standardized_ident(topic)}")
        fault_point("deploy-after-create")
    if new.curated is not None:
        actions += _curated_table(ctx, new)
        fault_point("deploy-after-curated")
    actions += _table_properties(ctx, new)
    if aws.publish:  # the tables are ready before the orchestrator can see the schema
        actions.append(f"published {aws.publish_file(path)}")
    return actions


def _pause_and_publish(ctx: Context, topic: str, path: Path, aws: AwsTargets) -> list[str]:
    """PAUSE the topic, then publish its new schema while no orchestrator is inside the topic (its lease).

    A run that started before the pause holds the lease and read the old schema; waiting for it (here:
    refusing while it runs) means no run reads the new schema against the old tables.
    """
    ctx.state.set_flow_control(topic, FlowControl.PAUSED)
    actions = ["paused"]
    if not aws.publish:
        return actions
    holder = holder_id()
    if not acquire(ctx, topic, holder, PUBLISH_LEASE_SECONDS):
        raise LeanOpsError(f"{topic}: an orchestrator is processing the topic right now; the topic is PAUSED and "
                           "its new schema not published yet: deploy again in a moment")
    try:
        actions.append(f"published {aws.publish_file(path)}")
    finally:
        ctx.state.release_lease(topic, holder)
    return actions


def _has_history(ctx: Context, topic: str) -> bool:
    return ctx.lake.standardized_table(topic) is not None or ctx.lake.curated_table(topic) is not None


def _rebuild_pending(ctx: Context, topic: str) -> bool:
    """A rebuild killed or failed before it finished (its archive may have renamed every table away)."""
    record = ctx.state.get_rebuild(topic)
    return record is not None and record["status"] != SUCCEEDED


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


def _table_properties(ctx: Context, new: TopicSchema) -> list[str]:
    """The table properties the stages set at create (seed 004: Curated auto-evolves, Semantic is
    strict), on the topic's existing Curated and Semantic tables."""
    actions = []
    if new.curated is not None and (table := ctx.lake.curated_table(new.topic)) is not None:
        actions += _set_properties(table, table_properties(new.curated))
    if new.semantic is not None and (table := ctx.lake.semantic_table(new.topic)) is not None:
        actions += _set_properties(table, semantic.table_properties(new.semantic))
    return actions


def _set_properties(table: Table, wanted: dict[str, str]) -> list[str]:
    """Give a table made before a property existed (say seed 004's schema.auto-evolve) what the stage
    sets at create; one metadata commit, none when nothing differs."""
    changed = {k: v for k, v in wanted.items() if table.metadata.properties.get(k) != v}
    if not changed:
        return []
    with table.transaction() as txn:
        txn.set_properties(changed)
    return [f"set {'.'.join(table.name()[-2:])} properties {', '.join(f'{k}={v}' for k, v in sorted(changed.items()))}"]
